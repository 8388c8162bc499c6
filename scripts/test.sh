#!/usr/bin/env bash
# The test command: sets up .venv if needed, then runs pytest (unit tests + nbval on notebooks).
# Real data: NEURON_DATA_ROOT (default ../shared/data when it exists). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# shellcheck disable=SC1091
. "${NEURON_VENV:-.venv}/bin/activate"
if [ -z "${NEURON_DATA_ROOT:-}" ] && [ -d ../shared/data ]; then
  NEURON_DATA_ROOT="$(cd ../shared/data && pwd)"
  export NEURON_DATA_ROOT
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg PYTHONHASHSEED=0
export NEURON_CACHE="${NEURON_CACHE:-$PWD/runs/.cache-test}"
python -m pytest -q -p no:cacheprovider tests "$@"
python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
  --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks
