#!/usr/bin/env bash
# Step cost, peak memory and host syncs of the margin loss variants on one GPU (see
# benchmarks/gpu_check.py and docs/benchmarks.md). Writes OUT_DIR/gpu_check.md and .json.
#
#   benchmarks/gpu_check.sh OUT_DIR [--device cuda|cpu] [--rounds 10] [--tiny] [--verbose]
#
# PYTHON selects the interpreter (default: .venv/bin/python if present, else python3). The run
# stops itself after its --budget-s (270 s) and is killed at 300 s; the report keeps every
# section finished by then.
set -euo pipefail
if [[ $# -lt 1 || "$1" == -* ]]; then
    echo "usage: $0 OUT_DIR [gpu_check.py options]" >&2
    exit 2
fi
out="$1"
shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x "$root/.venv/bin/python" ]]; then python="$root/.venv/bin/python"; else python=python3; fi
fi
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 300 "$python" "$root/benchmarks/gpu_check.py" --out "$out" "$@"
