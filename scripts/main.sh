#!/usr/bin/env bash
# The main job: sets up .venv if needed, then runs a study end to end (default: utd_mhad_quick,
# real UTD-MHAD, split 22/5 #0, one seed) and writes HTML reports to reports/<study>/.
# Usage: bash scripts/main.sh [params/studies/NAME.yaml] [--force]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# shellcheck disable=SC1091
. "${NEURON_VENV:-.venv}/bin/activate"
if [ -z "${NEURON_DATA_ROOT:-}" ] && [ -d ../shared/data ]; then
  NEURON_DATA_ROOT="$(cd ../shared/data && pwd)"
  export NEURON_DATA_ROOT
fi
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" MPLBACKEND=Agg
study="${1:-params/studies/utd_mhad_quick.yaml}"
shift || true
python -m neuron run "$study" "$@"
