"""Refresh the golden outputs of the notebooks.

The notebooks in ``notebooks/`` are the source researchers edit in JupyterLab. Git holds them
without outputs, execution counts or widget state, except the outputs of golden cells (first line
``# NBVAL_CHECK_OUTPUT``), which nbval compares in ``scripts/test.sh``
(``tests/test_notebooks.py`` checks this). The git filter of ``scripts/strip_notebook.py``
(nbstripout) strips them on ``git add``; this script executes them and stores new golden outputs.

    python scripts/refresh_golden.py [notebooks/NN_x.ipynb]  # execute (smoke defaults), store the
                                                             # golden cells' outputs, strip the rest

Executing needs the real data (``NEURON_DATA_ROOT``) and a few minutes; notebooks run in the
order given (``05_summary`` reads the runs ``04_neuron`` wrote).
"""
import argparse
import sys
import tempfile
from pathlib import Path

import nbformat

from strip_notebook import is_golden, strip

ROOT = Path(__file__).resolve().parent.parent


def execute_golden(path: Path) -> dict:
    """Run ``path`` with its smoke defaults (papermill); golden cell index -> its outputs."""
    import papermill as pm

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / path.name
        pm.execute_notebook(str(path), str(out), cwd=str(ROOT), progress_bar=False,
                            kernel_name="python3", parameters={"progress": False})
        done = nbformat.read(str(out), as_version=4)
    ran = [c for c in done.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    return {i: c.outputs for i, c in enumerate(ran) if is_golden(c)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    args = ap.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        book = nbformat.read(str(path), as_version=4)
        for i, outputs in execute_golden(path).items():
            book.cells[i].outputs = outputs
        nbformat.validate(strip(book))
        nbformat.write(book, str(path))
        print(f"{path.name}: golden outputs stored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
