"""Clean the committed notebooks and (optionally) refresh their golden outputs.

The notebooks in ``notebooks/`` are the source researchers edit in JupyterLab. Git holds them
without outputs, execution counts or widget state, except the outputs of golden cells (first line
``# NBVAL_CHECK_OUTPUT``), which nbval compares in ``scripts/test.sh``
(``tests/test_notebooks.py`` checks this).

    python scripts/refresh_golden.py --strip-only            # after editing: drop outputs/noise
    python scripts/refresh_golden.py [notebooks/NN_x.ipynb]  # also execute (smoke defaults) and
                                                             # store the golden cells' outputs

Executing needs the real data (``NEURON_DATA_ROOT``) and a few minutes; notebooks run in the
order given (``05_summary`` reads the runs ``04_neuron`` wrote).
"""
import argparse
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = "# NBVAL_CHECK_OUTPUT"


def is_golden(cell) -> bool:
    return cell.cell_type == "code" and cell.source.startswith(GOLDEN)


def strip(book, golden_outputs: dict | None = None):
    """Drop outputs (except golden cells'), execution counts (golden cells keep 1, which nbval
    needs to compare them), widget state and editor metadata."""
    for k in list(book.metadata):
        if k not in ("kernelspec", "language_info"):
            del book.metadata[k]
    if "language_info" in book.metadata:
        book.metadata["language_info"] = {"name": book.metadata["language_info"].get("name", "python")}
    for i, cell in enumerate(book.cells):
        tags = cell.metadata.get("tags")
        cell.metadata = {"tags": tags} if tags else {}
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        if golden_outputs is not None and i in golden_outputs:
            cell.outputs = golden_outputs[i]
        if not is_golden(cell):
            cell.outputs = []
        else:  # nbval skips a reference cell without an execution count ("Unrun reference cell")
            cell.execution_count = 1
        for out in cell.outputs:
            if "execution_count" in out:
                out["execution_count"] = None
    return book


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
    ap.add_argument("--strip-only", action="store_true", help="clean without executing")
    args = ap.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        book = nbformat.read(str(path), as_version=4)
        golden = None if args.strip_only else execute_golden(path)
        nbformat.validate(strip(book, golden))
        nbformat.write(book, str(path))
        print(f"{path.name}: {'cleaned' if args.strip_only else 'golden outputs stored'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
