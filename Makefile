# Two set-up commands on a fresh machine: `make demo` and `make test`.
# Both create the virtual environment, install the system packages (sox and
# libsox-dev for Scaper, chromium for the leaderboard page test), the CPU build
# of torch and the package itself.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= sssle_demo
APT_PACKAGES := sox libsox-dev chromium
# The CPU build of torch, named explicitly by its local version "+cpu": it can never
# resolve to a CUDA build. pip takes it from the configured indexes or find-links
# when they carry it, else from PyTorch's CPU index (about 190 MB to download,
# 750 MB installed; a plain `pip install torch` on Linux pulls CUDA, several GB).
TORCH_SPEC ?= torch==2.13.0+cpu
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test install system-deps lint format clean ship-checkpoints

# RETRAIN=1: train weak-sep again (about 85 min on 2 cores) instead of its shipped checkpoints.
demo: install
	$(BIN)/sssle-bench demo --out $(DEMO_OUT) $(if $(RETRAIN),--retrain)

test: install
	$(BIN)/python -m pytest -q

install: system-deps $(VENV)/.installed

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# torch is installed first, as the CPU build: the [model] extra's requirement is then
# satisfied and pulls nothing more.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q '$(TORCH_SPEC)' 2>/dev/null \
		|| $(BIN)/python -m pip install -q '$(TORCH_SPEC)' --extra-index-url $(TORCH_CPU_INDEX)
	$(BIN)/python -m pip install -q -e '.[dev,model]'
	$(BIN)/python -c "import torch; assert torch.version.cuda is None, 'a CUDA torch was installed'; print('torch', torch.__version__, '(CPU build)')"
	touch $@

lint: install
	$(BIN)/ruff check sssle_bench tests benchmarks experiments
	$(BIN)/ruff format --check sssle_bench tests benchmarks experiments

format: install
	$(BIN)/ruff format sssle_bench tests benchmarks experiments
	$(BIN)/ruff check --fix sssle_bench tests benchmarks experiments

# Ship a trained weak-sep model as the demo's checkpoints (CONTRIBUTING.md), e.g.
# make ship-checkpoints ARGS="MODEL_DIR DATASET --config C --command '...' --wall-s S --commit SHA"
ship-checkpoints: install
	$(BIN)/python experiments/tools/ship_checkpoints.py $(ARGS)

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
