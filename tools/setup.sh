#!/bin/sh
# tools/setup.sh - installs what building and testing unroll needs on a
# Debian machine, when it is missing: a C compiler, make, pkg-config,
# libyaml, SQLite, OpenBLAS, fortunes (the demo text) and the word lists
# of seven languages (configs/word_language.yaml), Open MPI for
# data-parallel training (mpirun -np K bin/unroll train), valgrind
# (make test runs the end-to-end paths under memcheck), and python3 with
# numpy (tests/t_python.sh tests the Python package with them). Installs
# nothing when everything is present, so it is cheap to run every time.
set -e
need=""
for p in gcc make pkg-config libyaml-dev libsqlite3-dev libopenblas-dev fortunes \
    wamerican wngerman wfrench witalian wspanish wportuguese wdutch libopenmpi-dev openmpi-bin \
    valgrind python3 python3-numpy; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need="$need $p"
done
[ -z "$need" ] && exit 0
echo "setup: installing$need" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
