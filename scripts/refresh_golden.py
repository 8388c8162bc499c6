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

    python scripts/refresh_golden.py --metrics   # rerun the smoke study at one thread and pin
                                                 # its metrics in tests/golden/smoke_metrics.json

The pinned metrics are compared exactly when the numerics (torch, oneDNN, CPU instruction set,
one thread, float32: ``neuron.manifest.numerics``) are those recorded in the file, else within
``tolerance_points`` (tests/test_golden.py). Refresh them only with a change that is meant to
change the numbers, and say so in the commit.
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


GOLDEN_METRICS = ROOT / "tests" / "golden" / "smoke_metrics.json"
#: Percentage points each pinned metric may move on other numerics (another CPU instruction set,
#: torch or oneDNN build, thread count): a few of the smoke run's 32 unseen / 128 test samples
#: flipping, not a silent change of the method.
TOLERANCE_POINTS = 15.0


def smoke_rows(runs_root: Path, point: str | None = None) -> dict:
    """method -> {metric: value} of the smoke run in the study folder ``runs_root``
    (``<point>/<split>/seed<seed>/metrics.json``; only ``point`` when given; numbers only)."""
    sys.path.insert(0, str(ROOT))
    from neuron.study import collect_results

    return {r["method"]: {k: v for k, v in r.items() if k not in ("point", "split", "seed", "method")}
            for r in collect_results(runs_root) if point is None or r["point"] == point}


def refresh_metrics() -> Path:
    """Run the smoke study at one thread in a temporary folder and write :data:`GOLDEN_METRICS`."""
    import json
    import os

    sys.path.insert(0, str(ROOT))
    from neuron.manifest import numerics
    from neuron.pipeline import run_study

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["NEURON_CACHE"] = str(Path(tmp) / "cache")
        run_study(ROOT / "params/studies/smoke.yaml", runs_root=Path(tmp) / "runs",
                  reports_root=Path(tmp) / "reports", progress=False, overrides={"num_threads": 1})
        rows = smoke_rows(Path(tmp) / "runs" / "smoke")
    GOLDEN_METRICS.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN_METRICS.write_text(json.dumps({"numerics": numerics(1, "fp32"),
                                          "tolerance_points": TOLERANCE_POINTS, "rows": rows},
                                         indent=1, sort_keys=True) + "\n")
    return GOLDEN_METRICS


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    ap.add_argument("--metrics", action="store_true",
                    help="rerun the smoke study (one thread) and pin its metrics (tests/golden)")
    args = ap.parse_args(argv)
    if args.metrics:
        print(f"pinned metrics written to {refresh_metrics()}")
        return 0
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
