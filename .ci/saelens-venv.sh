#!/usr/bin/env bash
# A side venv with real SAELens (which pins transformer-lens < 4, so it cannot share the project's venv),
# for the interop test (tests/sae/test_io.py) and the SAELens baseline of experiments/bench_sae.py.
# Usage: bash .ci/saelens-venv.sh [DIR]   (default /work/saelens-venv); prints DIR/bin/python.
set -euo pipefail
dir=${1:-/work/saelens-venv}
if [ ! -x "$dir/bin/python" ] || ! "$dir/bin/python" -c "import sae_lens" 2>/dev/null; then
    python3.11 -m venv "$dir"
    "$dir/bin/pip" install -q --upgrade pip
    "$dir/bin/pip" install -q torch==2.13.0     # the CPU wheel first, as for the project
    "$dir/bin/pip" install -q "sae-lens>=6,<7"
fi
echo "$dir/bin/python"
