#!/usr/bin/env bash
# The main job: sets up .venv if needed, then runs a study end to end (default: utd_mhad_quick,
# real UTD-MHAD, split 22/5 #0, one seed) and writes HTML reports to reports/<study>/.
# Usage: bash scripts/main.sh [params/studies/NAME.yaml] [--force]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. scripts/activate.sh
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" MPLBACKEND=Agg
study="${1:-params/studies/utd_mhad_quick.yaml}"
shift || true
python -m neuron run "$study" "$@"
