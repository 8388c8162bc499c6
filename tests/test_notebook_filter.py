"""The notebooks' git filter (scripts/strip_notebook.py, nbstripout): outputs, counts and editor
metadata stay out of git, the nbval-checked (golden) cells keep their outputs and count."""
from __future__ import annotations

import copy
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT
from test_notebooks import GOLDEN, NOTEBOOKS, notebook_noise

sys.path.insert(0, str(ROOT / "scripts"))
import strip_notebook  # noqa: E402


def dirty(book):
    """``book`` as after a run in JupyterLab: outputs and counts everywhere, widget state,
    full language_info, editor metadata on cells."""
    book = copy.deepcopy(book)
    book.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    book.metadata["language_info"].update(version="3.11.9", mimetype="text/x-python",
                                          codemirror_mode={"name": "ipython", "version": 3})
    book.metadata["papermill"] = {"duration": 1.0}
    for n, cell in enumerate(book.cells, 1):
        cell.metadata["scrolled"] = True
        cell.metadata["jupyter"] = {"outputs_hidden": False}
        if cell.cell_type == "code":
            cell.execution_count = n
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"cell {n}\n"),
                            nbformat.v4.new_output("execute_result", data={"text/plain": "1"},
                                                   execution_count=n)]
    return book


def golden_cells(book):
    return [c for c in book.cells if c.cell_type == "code" and c.source.startswith(GOLDEN)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebooks_are_what_the_filter_stores(path):
    """Installing the filter leaves a fresh clone clean: each committed file is its own
    filtered form, byte for byte."""
    text = path.read_text(encoding="utf-8")
    book = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    assert strip_notebook.text(strip_notebook.strip(book)) == text


def test_strip_keeps_golden_outputs_only():
    book = nbformat.read(str(NOTEBOOKS[0]), as_version=4)
    assert golden_cells(book)  # the notebook has a checked cell
    messy = dirty(book)
    assert notebook_noise(messy)
    clean = strip_notebook.strip(messy)
    assert notebook_noise(clean) == []
    assert clean.metadata["language_info"] == {"name": "python"}
    assert [c.id for c in clean.cells] == [c.id for c in book.cells]
    for cell in golden_cells(clean):
        assert cell.execution_count == 1 and len(cell.outputs) == 2
        assert cell.outputs[1]["execution_count"] is None
        assert "keep_output" not in cell.metadata
    assert [c.source for c in clean.cells] == [c.source for c in book.cells]


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_add_stores_the_stripped_notebook(tmp_path):
    """In a clone with the filter installed, ``git add`` of a notebook with outputs stores it
    stripped (golden cells excepted); the working file keeps its outputs; output-only changes
    are no change to git."""
    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              cwd=tmp_path, check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "strip_notebook.py", tmp_path / "scripts")
    shutil.copy(ROOT / ".gitattributes", tmp_path)
    strip_notebook.install(tmp_path)
    strip_notebook.install(tmp_path)  # idempotent
    assert git("config", "--local", "--get-all", "filter.nbstripout.clean").count("\n") == 1
    book = nbformat.read(str(NOTEBOOKS[0]), as_version=4)
    nb = tmp_path / "nb.ipynb"
    nbformat.write(dirty(book), str(nb))
    git("add", "nb.ipynb", ".gitattributes")
    stored = nbformat.reads(git("show", ":nb.ipynb"), as_version=4)
    assert notebook_noise(stored) == []
    assert [len(c.outputs) for c in golden_cells(stored)] == [2] * len(golden_cells(book))
    assert sum(len(c.get("outputs", [])) for c in stored.cells) == 2 * len(golden_cells(book))
    assert sum(len(c.get("outputs", [])) for c in nbformat.read(str(nb), as_version=4).cells) > 2
    git("commit", "-q", "-m", "notebook")
    rerun = dirty(book)
    rerun.cells[-1].metadata["ExecuteTime"] = {"end_time": "2026-12-07T10:00:00"}
    nbformat.write(rerun, str(nb))
    # (git status may list the file until it is added: git trusts a changed size without
    # filtering; the content it would store is the same)
    assert git("diff", "nb.ipynb") == ""
    git("add", "nb.ipynb")
    assert git("status", "--porcelain", "nb.ipynb") == "" and git("diff", "--cached") == ""
    rerun.cells[0].source += " "  # a real change still is one
    nbformat.write(rerun, str(nb))
    assert "nb.ipynb" in git("diff", "--stat")
