# Sourced from the project root with the environment active: export NEURON_DATA_ROOT as resolved by
# neuron.config.data_root (the one rule: $NEURON_DATA_ROOT, else ../shared/data when it exists,
# else ./data), so the scripts, `python -m neuron`, papermill and JupyterLab all use the same folder.
NEURON_DATA_ROOT="$(PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" python -c \
  'from neuron.config import data_root; print(data_root())')"
export NEURON_DATA_ROOT
