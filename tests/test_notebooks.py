"""The notebooks are the source: committed clean (outputs only in golden cells), thin, with smoke
defaults equal to params/runs/smoke.yaml; papermill takes a run file as its users type it."""
import ast
import json
import os
import subprocess
import sys

import nbformat
import pytest
import yaml

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
GOLDEN = "# NBVAL_CHECK_OUTPUT"


def notebook_noise(book) -> list[str]:
    """What a committed notebook must not hold: outputs outside golden cells, execution counts,
    widget state or other editor metadata."""
    problems = [f"notebook metadata {k!r}" for k in book.metadata if k not in ("kernelspec", "language_info")]
    for i, cell in enumerate(book.cells):
        extra = set(cell.metadata) - {"tags"}
        if extra:
            problems.append(f"cell {i}: metadata {sorted(extra)}")
        if cell.cell_type != "code":
            continue
        golden = cell.source.startswith(GOLDEN)
        if cell.execution_count != (1 if golden else None):  # nbval compares golden cells only when run
            problems.append(f"cell {i}: execution_count {cell.execution_count}")
        if cell.outputs and not golden:
            problems.append(f"cell {i}: {len(cell.outputs)} output(s) outside a golden cell")
        if golden and not cell.outputs:
            problems.append(f"cell {i}: golden cell without stored outputs")
        for out in cell.outputs:
            if out.get("execution_count") is not None:
                problems.append(f"cell {i}: output execution_count")
            if "application/vnd.jupyter.widget-view+json" in out.get("data", {}):
                problems.append(f"cell {i}: widget output")
    return problems


def _params(book) -> dict:
    cells = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'parameters'"
    return {t.id: ast.literal_eval(node.value) for node in ast.parse(cells[0].source).body
            for t in node.targets}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_is_clean_and_thin(path):
    book = nbformat.read(str(path), as_version=4)
    nbformat.validate(book)
    assert notebook_noise(book) == [], path.name
    assert book.metadata["kernelspec"]["name"] == "python3"  # what papermill, nbval and JupyterLab use
    for cell in book.cells:
        if cell.cell_type == "code":
            tree = ast.parse("\n".join(line for line in cell.source.splitlines() if not line.startswith("%")))
            assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))], path.name
    params = _params(book)  # literal values only (ast.literal_eval raises otherwise)
    from papermill.translators import PythonTranslator  # what `papermill --help-notebook` shows

    cell = next(c for c in book.cells if "parameters" in c.metadata.get("tags", []))
    assert [p.name for p in PythonTranslator.inspect(cell)] == list(params), "papermill cannot parse a line"
    if "config" in params:
        assert params["run_file"] == "" and params["run_dir"] == ""
        assert params["config"] == yaml.safe_load((ROOT / "params/runs/smoke.yaml").read_text())


def test_noise_check_finds_outputs_counts_and_widgets():
    book = nbformat.read(str(NOTEBOOKS[0]), as_version=4)
    book.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    plain = next(c for c in book.cells if c.cell_type == "code" and not c.source.startswith(GOLDEN))
    plain.execution_count = 3
    plain.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x\n")]
    plain.metadata["scrolled"] = True
    found = " | ".join(notebook_noise(book))
    for needle in ("'widgets'", "execution_count 3", "outside a golden cell", "['scrolled']"):
        assert needle in found


@pytest.mark.slow  # another process
def test_refresh_golden_strip_only_cleans(tmp_path):
    book = nbformat.read(str(NOTEBOOKS[0]), as_version=4)
    for c in book.cells:
        if c.cell_type == "code":
            c.execution_count = 7
            if not c.source.startswith(GOLDEN):
                c.outputs = [nbformat.v4.new_output("stream", name="stderr", text="noise\n")]
    book.metadata["widgets"] = {}
    path = tmp_path / NOTEBOOKS[0].name
    nbformat.write(book, str(path))
    assert notebook_noise(book)
    subprocess.run([sys.executable, str(ROOT / "scripts/refresh_golden.py"), "--strip-only", str(path)],
                   check=True, capture_output=True)
    clean = nbformat.read(str(path), as_version=4)
    assert notebook_noise(clean) == []
    assert [c.source for c in clean.cells] == [c.source for c in book.cells]


@pytest.mark.slow
def test_papermill_cli_takes_a_run_file(tmp_path, data_root):
    """``papermill notebooks/01_data.ipynb out.ipynb -p run_file FILE``: the run uses FILE's values."""
    run = yaml.safe_load((ROOT / "params/runs/smoke.yaml").read_text())
    run.update(name="pm_run_file", seed=3)
    run_file = tmp_path / "my_run.yaml"
    run_file.write_text(yaml.safe_dump(run))
    run_dir = tmp_path / "run"
    env = {**os.environ, "NEURON_DATA_ROOT": str(data_root), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path / "out.ipynb"
    proc = subprocess.run([sys.executable, "-m", "papermill", "notebooks/01_data.ipynb", str(out),
                           "-p", "run_file", str(run_file), "-p", "run_dir", str(run_dir),
                           "-p", "progress", "False", "--cwd", str(ROOT)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["params"]["name"] == "pm_run_file" and manifest["params"]["seed"] == 3
    done = nbformat.read(str(out), as_version=4)
    text = "".join(o.get("text", "") for c in done.cells if c.cell_type == "code" for o in c.outputs)
    assert "run pm_run_file: utd_mhad split utd_mhad_smoke#0, seed 3" in text and "from my_run.yaml" in text
