#!/usr/bin/env bash
# The main job: sets up .venv if needed, then runs a study end to end (default: utd_mhad_quick,
# real UTD-MHAD, split 22/5 #0, one seed) and writes HTML reports to reports/<study>/.
# Usage: bash scripts/main.sh [params/studies/NAME.yaml] [--force] [--set KEY=VALUE ...] [...]
# (every option of `python -m neuron run`; options without a study apply to the default study).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. scripts/activate.sh
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" MPLBACKEND=Agg
exec python -m neuron run "$@"
