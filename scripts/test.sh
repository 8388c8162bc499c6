#!/usr/bin/env bash
# The test command: sets up .venv if needed, then runs pytest (unit tests + nbval on notebooks).
# Real data: NEURON_DATA_ROOT (default ../shared/data when it exists). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. scripts/activate.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg PYTHONHASHSEED=0
export NEURON_CACHE="${NEURON_CACHE:-$PWD/runs/.cache-test}"
python -m pytest -q -p no:cacheprovider tests "$@"
python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
  --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks
