#!/usr/bin/env bash
# Explore interactively: JupyterLab on notebooks/ with the project's environment (.venv, set up on
# the first call) and data root (neuron.config.data_root: $NEURON_DATA_ROOT, else ../shared/data
# when present, else ./data),
# listening on 127.0.0.1 only, protected by a token generated at each start; prints the URL.
# Usage: bash scripts/lab.sh [extra jupyter lab arguments]; NEURON_LAB_PORT picks the port (8888).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. scripts/activate.sh
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
unset MPLBACKEND  # the notebooks use %matplotlib inline
port="${NEURON_LAB_PORT:-8888}"
JUPYTER_TOKEN="$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
export JUPYTER_TOKEN  # read by jupyter_server; not on the command line (ps would show it)
echo "[lab] data root: $NEURON_DATA_ROOT"
echo "[lab] open http://127.0.0.1:$port/lab?token=$JUPYTER_TOKEN"
echo "[lab] every notebook opens with its smoke defaults: Run > Run All Cells; stop with Ctrl-C"
root=()
[ "$(id -u)" = 0 ] && root=(--allow-root)  # containers and CI run as root
exec jupyter lab "${root[@]}" --ServerApp.ip=127.0.0.1 --ServerApp.port="$port" --ServerApp.port_retries=0 \
  --ServerApp.root_dir="$PWD/notebooks" --no-browser "$@"
