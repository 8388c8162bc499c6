# Sourced by scripts/main.sh, scripts/test.sh and scripts/lab.sh (from the project root): set up
# .venv if needed, activate it, and export the data root (scripts/data_root.sh).
bash scripts/setup_env.sh
# shellcheck disable=SC1091
. "${NEURON_VENV:-.venv}/bin/activate"
# shellcheck disable=SC1091
. scripts/data_root.sh
export MPLBACKEND=Agg
