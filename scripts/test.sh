#!/usr/bin/env bash
# The test command: sets up .venv if needed, then runs pytest.
#   bash scripts/test.sh          quick tier: unit tests without those marked `slow` (pytest -m
#                                 "not slow"; at most about 5 minutes on a 2-core machine)
#   bash scripts/test.sh --full   everything: slow tests (studies through papermill, other
#                                 processes, simulations) and nbval on the notebooks (CI runs this)
# Real data: NEURON_DATA_ROOT (default ../shared/data when it exists). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
full=0
if [[ "${1:-}" == "--full" ]]; then
  full=1
  shift
fi
# shellcheck disable=SC1091
. scripts/activate.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg PYTHONHASHSEED=0
export NEURON_CACHE="${NEURON_CACHE:-$PWD/runs/.cache-test}"
if [[ $full == 0 ]]; then
  python -m pytest -q -p no:cacheprovider -m "not slow" tests "$@"
  exit
fi
python -m pytest -q -p no:cacheprovider tests "$@"
python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
  --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks
