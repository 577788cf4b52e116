#!/usr/bin/env bash
# What a lent GPU machine lacks, fetched here into the repository root (both folders are
# ignored by git and named in the device call's `carry`):
#   .whl  wheels for its Python 3.12 of every package this project needs beyond its image
#         (PyTorch, numpy, scipy, pandas, matplotlib, click and tqdm are there), and of this
#         package itself;
#   .sox  the sox binary and libsox with their libraries, Debian bookworm .debs (Scaper
#         resamples every event through sox), unpacked there by setup.sh.
# Run from the repository root: bash experiments/device/wheels.sh  (about 15 MiB in all)
set -euo pipefail
rm -rf .whl .sox
mkdir -p .whl .sox
# compiled: binary wheels for CPython 3.12
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .whl soundfile==0.14.0 cffi rpds-py
# pure Python: built here (py3-none-any). Not soxbindings (compiled against libsox, no
# 3.12 wheel): Scaper then falls back to pysox and the sox binary, so compare hashes.txt
python3 -m pip wheel -q --no-deps -w .whl scaper==1.6.5 jams==0.3.5 pyloudnorm==0.2.0 \
    mir_eval==0.8.2 sox==1.4.0 pycparser decorator jsonschema jsonschema-specifications \
    referencing
python3 -m pip wheel -q --no-deps --no-build-isolation -w .whl .
rm -rf build
# WAV is built into libsox3; no format plug-in is needed
(cd .sox && apt-get download -q sox libsox3 libgsm1 libltdl7 libmagic1 libmagic-mgc \
    libpng16-16 libgomp1)
du -sh .whl .sox
