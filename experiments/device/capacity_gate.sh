#!/usr/bin/env bash
# The capacity gate's larger networks on a lent GPU machine (issue 23), in one command:
#
#   bash experiments/device/capacity_gate.sh SPECS...   (e.g. original:64:4:1e-3 compact:32:3)
#
# run through the device tool from the repository root, carrying `.whl` (wheels of the
# Python packages the machine lacks and of this package, `pip wheel --no-deps -w .whl .`)
# and `.sox` (the sox binary and libsox with their libraries, Debian bookworm .debs from
# `apt-get download sox libsox3 libgsm1 libltdl7 libmagic1 libmagic-mgc libpng16-16
# libgomp1`: Scaper resamples every event through sox). It makes the medium synthetic
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
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
WORK=${WORK:-/tmp}
if [ "${SETUP:-1}" = 1 ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
    mkdir -p /tmp/soxroot
    for f in .sox/*.deb; do dpkg -x "$f" /tmp/soxroot; done
    export PATH=/tmp/soxroot/usr/bin:$PATH
    export LD_LIBRARY_PATH=/tmp/soxroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export MAGIC=/tmp/soxroot/usr/lib/file/magic.mgc
fi
sox --version
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
