# Sourced by scripts/main.sh and scripts/test.sh (from the project root): set up .venv if needed,
# activate it, and point NEURON_DATA_ROOT at ../shared/data when unset and present.
bash scripts/setup_env.sh
# shellcheck disable=SC1091
. "${NEURON_VENV:-.venv}/bin/activate"
if [ -z "${NEURON_DATA_ROOT:-}" ] && [ -d ../shared/data ]; then
  NEURON_DATA_ROOT="$(cd ../shared/data && pwd)"
  export NEURON_DATA_ROOT
fi
export MPLBACKEND=Agg
