#!/usr/bin/env bash
# The capacity gate's larger networks on a lent GPU machine (issue 23), in one command:
#
#   bash experiments/device/capacity_gate.sh SPECS...   (e.g. original:64:4:1e-3 compact:32:3)
#
# run through the device tool from the repository root, carrying `.whl` and `.sox`
# (made here by experiments/device/wheels.sh; installed there by setup.sh). It makes the
# medium synthetic
# world (seed 0) and generates recipes/synth-medium.toml with 16 processes, records the
# hashes of its ground truth (compare them with a world generated here: the same hashes,
# the same data), trains and predicts the class-prior, then runs
# experiments/tools/capacity_gate.py on the GPU for each SPEC (arch:width:levels[:learning rate,
# default LR]). What
# comes back, under $OUT: hashes.txt, gate-*.json, each model's history.json and
# predictions.csv, and the log. Environment: EPOCHS (30), LR (3e-3), DEVICE (cuda),
# LIMIT (mixtures per split; default all) and TRAIN (training mixtures, 1000); SETUP=0
# skips the installs (a local try: `SETUP=0 DEVICE=cpu LIMIT=40 TRAIN=30 EPOCHS=1`).
set -euo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
WORK=${WORK:-/tmp}
source experiments/device/setup.sh
limit=()
[ -n "${LIMIT:-}" ] && limit=(--limit "$LIMIT")
cli() { python3 -m sssle_bench.cli "$@"; }
start=$(date +%s)
cli make-synthetic-sources --out $WORK/med --size medium --seed 0 --jobs 16 > /dev/null
cli generate recipes/synth-medium.toml --out $WORK/smed --data-home $WORK/med --jobs 16 \
    --save-sources "${limit[@]}" 2> "$OUT/generate.err"
echo "world: $(( $(date +%s) - start )) s"
(cd $WORK/smed && sha256sum ground_truth/*.csv manifest.json) | tee "$OUT/hashes.txt"
cli train class-prior $WORK/smed --out $WORK/cp > /dev/null
cli predict class-prior $WORK/smed --model $WORK/cp --out $WORK/cpsub 2> "$OUT/predict.err"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    | tee "$OUT/gpu.txt" || true
for spec in "$@"; do
    IFS=: read -r arch width levels lr <<< "$spec"
    python3 experiments/tools/capacity_gate.py $WORK/smed --class-prior $WORK/cpsub/predictions.csv \
        --out $WORK/gate --arch "$arch" --widths "$width" --levels "$levels" \
        --epochs "${EPOCHS:-30}" --patience 3 --device "${DEVICE:-cuda}" --threads 16 \
        --train "${TRAIN:-1000}" \
        --lr "${lr:-${LR:-3e-3}}"
    cp $WORK/gate/gate.json "$OUT/gate-$arch-$width-$levels.json"
    name=$([ "$arch" = compact ] && echo "w$width" || echo "$arch-w$width")
    mkdir -p "$OUT/$name"
    cp $WORK/gate/"$name"/history.json $WORK/gate/"$name"/predictions.csv "$OUT/$name/"
    echo "elapsed: $(( $(date +%s) - start )) s"
done
