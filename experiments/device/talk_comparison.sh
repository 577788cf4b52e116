#!/usr/bin/env bash
# The talk's main comparison on a lent GPU machine in one command (issue 24 item 4):
#
#   bash experiments/device/talk_comparison.sh [toy|medium] [talk_comparison.py options]
#
# through the device tool from the repository root, carrying `.whl` and `.sox` (made here
# by `bash experiments/device/wheels.sh`), with timeout_s 600: the run is sized to
# MINUTES (8.5) of wall time after the installs. Its 8 files land in $OUT (see
# talk_comparison.py). A local try at toy size on the CPU, in this project's environment:
#   SETUP=0 DEVICE=cpu MINUTES=6 OUT=/tmp/talk-out bash experiments/device/talk_comparison.sh toy
set -euo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
source experiments/device/setup.sh
python3 experiments/device/talk_comparison.py --size "${1:-medium}" --device "${DEVICE:-cuda}" \
    --minutes "${MINUTES:-8.5}" --out "$OUT" "${@:2}"
