# Two set-up commands on a fresh machine: `make demo` and `make test`.
# Both create the virtual environment, install the system packages Scaper needs
# (sox, libsox-dev) and the package itself.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= sssle_demo
APT_PACKAGES := sox libsox-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test install system-deps lint format clean

demo: install
	$(BIN)/sssle-bench demo --out $(DEMO_OUT)

test: install
	$(BIN)/python -m pytest -q

install: system-deps $(VENV)/.installed

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; \
	fi

# torch is installed first, pinned to the CPU build (2.13.0): an unsatisfied torch
# requirement of the [model] extra would otherwise pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,model]'
	touch $@

lint: install
	$(BIN)/ruff check sssle_bench tests benchmarks
	$(BIN)/ruff format --check sssle_bench tests benchmarks

format: install
	$(BIN)/ruff format sssle_bench tests benchmarks
	$(BIN)/ruff check --fix sssle_bench tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
