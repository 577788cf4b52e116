# Sourced by the device scripts on a lent GPU machine (Python 3.12 with its own PyTorch,
# no network): installs the carried wheels (.whl, from wheels.sh) into /tmp/site and
# unpacks the carried sox .debs (.sox) into /tmp/soxroot, and puts both on the paths.
# SETUP=0 skips it (a local try in this project's virtual environment).
if [ "${SETUP:-1}" = 1 ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    mkdir -p /tmp/soxroot
    for f in .sox/*.deb; do dpkg -x "$f" /tmp/soxroot; done
    export PATH=/tmp/soxroot/usr/bin:$PATH
    export LD_LIBRARY_PATH=/tmp/soxroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export MAGIC=/tmp/soxroot/usr/lib/file/magic.mgc
fi
export PYTHONUNBUFFERED=1
sox --version
