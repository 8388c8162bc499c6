"""Stage notebooks as documents and their reports: prose before every output, one parameters
cell, numbers (not metric names) in the checked cells, "n/a" for undefined metrics, and no
empty run folder after a failed run."""
import ast
import json
import os

import nbformat
import pytest

from conftest import ROOT
from neuron import notebook

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
GOLDEN = "# NBVAL_CHECK_OUTPUT"
TABLE_CALLS = {"DataFrame", "Series", "to_frame", "tail", "round", "HTML", "compactness_table",
               "results_table", "side_info_examples"}


def _shows_something(cell) -> bool:
    """A code cell that shows a table or figure: it calls display(), or its last statement is a
    bare value (a name, or a call that builds a table) that Jupyter renders."""
    if "display(" in cell.source:
        return True
    tree = ast.parse("\n".join(ln for ln in cell.source.splitlines() if not ln.startswith("%")))
    last = tree.body[-1] if tree.body else None
    if not isinstance(last, ast.Expr):
        return False
    value = last.value
    if isinstance(value, ast.Call):
        func = value.func
        return (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) in TABLE_CALLS
    return True


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_reads_as_a_document(path):
    book = nbformat.read(str(path), as_version=4)
    cells = book.cells
    assert cells[0].cell_type == "markdown" and len(cells[0].source.split()) >= 15, \
        f"{path.name}: opens with what the stage does and what to look at"
    assert sum("parameters" in c.metadata.get("tags", []) for c in cells) == 1
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or cell.source.startswith(GOLDEN) or "parameters" in cell.metadata.get("tags", []):
            continue
        if _shows_something(cell) and "parameters" not in cells[i - 1].metadata.get("tags", []):  # not set-up
            assert cells[i - 1].cell_type == "markdown", f"{path.name} cell {i}: no sentence before what it shows"
    for cell in cells:
        if cell.cell_type == "markdown":
            text = cell.source.lower()
            assert "**honest**" not in text and "**paper**" not in text, path.name
        if cell.source.startswith(GOLDEN):
            assert "sorted(k for k in" not in cell.source and "print({k:" not in cell.source, \
                f"{path.name}: the checked cell prints values, not key names"


METRICS = {
    "neuron": {"honest/zsl_top1": 46.835, "honest/zsl_top5": 100.0, "honest/gzsl_seen": 54.42,
               "honest/gzsl_unseen": 41.77, "honest/gzsl_h": 47.26,
               "paper/zsl_top1": 49.37, "paper/gzsl_seen": 76.35, "paper/gzsl_unseen": 0.0,
               "paper/gzsl_h": 0.0},
    "baseline": {"honest/zsl_top1": 68.35, "honest/zsl_top5": 100.0, "honest/gzsl_seen": 0.0,
                 "honest/gzsl_unseen": 0.0, "honest/gzsl_h": 0.0, "paper/zsl_top1": 68.35},
}


def test_results_table_shows_n_a_not_nan():
    table = notebook.results_table(METRICS)
    assert list(table.columns) == list(notebook.METRIC_COLUMNS)
    paper = table.loc[("neuron", "official-code (test-tuned)")]
    assert paper["ZSL top-5"] == "n/a" and paper["ZSL top-1"] == "49.37"
    assert paper["GZSL unseen"] == "0.00" and paper["GZSL H"] == "0.00"  # measured, kept
    assert table.loc[("neuron", "validation-calibrated"), "ZSL top-1"] == "46.84"
    base = table.loc[("baseline", "validation-calibrated")]
    assert base["GZSL H"] == "n/a" and base["GZSL seen"] == "0.00"  # 0/0 is undefined
    base_paper = table.loc[("baseline", "official-code (test-tuned)")]
    assert base_paper["GZSL seen"] == "n/a" and base_paper["GZSL H"] == "n/a"
    text = table.to_html()
    assert "NaN" not in text and "nan" not in text
    assert notebook.headline_lines(METRICS)[0] == "neuron, validation-calibrated: ZSL top-1 46.8, GZSL H 47.3"


def test_unused_run_folder_is_removed_used_one_kept(tmp_path):
    run = tmp_path / "runs" / "notebook_x" / "default" / "s_0" / "seed0"
    created = notebook.first_missing(run)
    assert created == tmp_path / "runs"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text("{}")
    (run / "figures").mkdir()
    assert notebook.remove_unused_run(run, created) and not created.exists()
    run.mkdir(parents=True)
    (run / "manifest.json").write_text("{}")
    (run / "metrics.json").write_text("{}")
    assert not notebook.remove_unused_run(run, created) and (run / "metrics.json").exists()
    assert notebook.first_missing(run) is None and not notebook.remove_unused_run(run, None)


@pytest.mark.slow
def test_failed_papermill_run_leaves_no_run_folder(tmp_path):
    """open_run in a kernel, then a failing cell: papermill fails, the run folder is gone."""
    import papermill as pm

    run_dir = tmp_path / "runs" / "notebook_smoke" / "default" / "seed0"
    book = nbformat.v4.new_notebook()
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.cells = [
        nbformat.v4.new_code_cell(f"run_dir = {str(run_dir)!r}", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import yaml\nfrom neuron import notebook\n"
                                  f"config = yaml.safe_load(open({str(ROOT / 'params/runs/smoke.yaml')!r}))\n"
                                  "run = notebook.open_run('', config, run_dir, True)"),
        nbformat.v4.new_code_cell("raise RuntimeError('the data stage failed')"),
    ]
    src = tmp_path / "fail.ipynb"
    nbformat.write(book, str(src))
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    with pytest.raises(pm.PapermillExecutionError):
        pm.execute_notebook(str(src), str(tmp_path / "out.ipynb"), cwd=str(ROOT), progress_bar=False)
    assert not (tmp_path / "runs").exists(), sorted(p.name for p in tmp_path.rglob("*"))


def test_compactness_table_numbers_rounds_as_the_plot():
    table = notebook.compactness_table({"spatial": [0.91234, 0.8, 0.7], "temporal": [0.5, 0.4, 0.3]})
    assert list(table.index) == [1, 2, 3] and table.index.name == "round"
    assert table.loc[1, "spatial"] == 0.9123
    assert notebook.one_per_class([2, 0, 2, 1, 0]) == [1, 3, 0]


def test_class_counts_legend_beside_the_bars_and_titles_whole():
    import numpy as np

    import neuron.analysis as na

    fig = na.plot_class_counts({"train": np.array([0, 0, 1]), "test": np.array([1, 2])},
                               ["wave", "clap", "a very long class name that goes on"], [2])
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1 - 1  # right of the axes, over no bar
    seq = np.zeros((3, 4, 2, 1), np.float32)
    title = "right arm swipe to the left, then back"
    fig = na.plot_skeleton_grid([seq], [4], [title], [(0, 1)], cols=2)
    fig.canvas.draw()
    shown = fig.axes[0].get_title()
    assert shown.replace("\n", " ") == title
    assert fig.axes[0].title.get_window_extent().x1 <= fig.bbox.x1


def test_text_embedding_and_file_reading_report_progress(tmp_path, monkeypatch):
    import numpy as np

    from neuron import progress
    from neuron.data.utd_mhad import read_utd_mhad
    from neuron.text import TextEncoder

    path = tmp_path / "p.jsonl"
    monkeypatch.setenv(progress.ENV, str(path))
    monkeypatch.setattr(progress, "MIN_INTERVAL", 0.0)
    monkeypatch.setattr(progress, "_last", {})  # leave no throttling state to other tests

    class Toy(TextEncoder):
        model_id, dim, batch_size = "toy", 2, 2

        def _encode_batch(self, texts):
            return np.zeros((len(texts), 2), np.float32)

    assert Toy().encode(["a", "b", "c"]).shape == (3, 2)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[-1] == {"task": "embedding texts", "n": 2, "total": 2, "unit": "batch"}
    path.write_text("")
    with pytest.raises(Exception):  # a corrupt file; the loop reported before reading it
        (tmp_path / "utd").mkdir()
        (tmp_path / "utd" / "a1_s1_t1_skeleton.mat").write_bytes(b"not a mat file")
        read_utd_mhad(tmp_path / "utd", ["wave"])
    first = json.loads(path.read_text().splitlines()[0])
    assert first == {"task": "reading utd_mhad", "n": 0, "total": 1, "unit": "file"}


def test_summarise_writes_to_the_studys_reports_root(monkeypatch, tmp_path):
    import neuron.pipeline as pl
    from neuron.__main__ import main

    seen = {}
    monkeypatch.setattr(pl, "summarise", lambda study, runs, reports, *a, **k: seen.update(runs=runs, reports=reports) or reports)
    assert main(["summarise", str(ROOT / "params/studies/smoke.yaml")]) in (0, None)
    assert seen["reports"] == ROOT / "runs" / "reports" / "smoke" and seen["runs"] == ROOT / "runs" / "smoke"


def test_scrub_text_defaults_to_the_config_data_root(monkeypatch, tmp_path):
    from neuron import config, reports

    monkeypatch.delenv("NEURON_DATA_ROOT", raising=False)
    data = config.data_root()
    assert reports.scrub_text(f"read {data}/utd_mhad/x.mat", root=tmp_path) == "read [data root]/utd_mhad/x.mat"
