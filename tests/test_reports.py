"""Reports a person reads: no machine paths in committed reports (scrubbed by the pipeline),
reports/index.html links every committed study with its headline numbers and date."""
import json
import re

import nbformat
import pytest

from conftest import ROOT
from neuron.reports import find_absolute_paths, headline, scrub_reports, scrub_text, write_index

REPORTS = ROOT / "reports"


def test_committed_reports_hold_no_machine_paths():
    files = [p for p in REPORTS.rglob("*") if p.suffix in (".html", ".json", ".csv", ".md")]
    assert len(files) > 20
    found = {str(p.relative_to(ROOT)): hits for p in files
             if (hits := find_absolute_paths(p.read_text(encoding="utf-8")))}
    assert found == {}


@pytest.mark.parametrize("text", ["/srv/proj/.venv/x.py", "see /home/ana/data", "/root/.cache/hf",
                                  '"/tmp/pytest-1/run"', "/usr/lib/python3/dist-packages/tqdm",
                                  "C:\\Users\\ana\\neuron", "/opt/conda/lib/python3.11/site-packages/x"])
def test_path_check_finds_absolute_paths(text):
    assert find_absolute_paths(text)


@pytest.mark.parametrize("text", ["https://ipywidgets.readthedocs.io/en/stable/home/x.html", "</div></pre>",
                                  "[site-packages]/tqdm/auto.py:21", "./runs/smoke", "1/2 of 3/4",
                                  "utd_mhad_22_5#0 / seed0"])
def test_path_check_passes_clean_text(text):
    assert not find_absolute_paths(text)


def test_scrub_text_replaces_paths_and_keeps_numbers(tmp_path):
    root, data = "/srv/x/neuron", "/data/skel"
    text = (f"{root}/runs/a/metrics.json 59.49367088607595 {data}/utd_mhad/a1.mat "
            f"/opt/py/lib/python3.11/site-packages/tqdm/auto.py:21: TqdmWarning {root}")
    out = scrub_text(text, root=root, data_root=data)
    assert out == ("./runs/a/metrics.json 59.49367088607595 [data root]/utd_mhad/a1.mat "
                   "[site-packages]/tqdm/auto.py:21: TqdmWarning .")
    assert scrub_text(f"{root}2/x", root=root, data_root=data) == f"{root}2/x"  # a prefix is not the root
    assert not find_absolute_paths(out)


def test_scrub_reports_rewrites_files_keeping_carriage_returns(tmp_path):
    page = tmp_path / "study" / "02.html"
    page.parent.mkdir()
    page.write_bytes(f"<pre>{ROOT}/runs/x\rLoading 50%\r\n</pre>".encode())
    (tmp_path / "study" / "fig.png").write_bytes(b"\x89PNG" + str(ROOT).encode())
    assert scrub_reports(tmp_path) == [page]
    assert page.read_bytes() == b"<pre>./runs/x\rLoading 50%\r\n</pre>"
    assert scrub_reports(tmp_path) == []


def test_render_html_scrubs_machine_paths(tmp_path):
    from neuron.pipeline import render_html

    book = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"wrote {ROOT}/runs/a/metrics.json\n"),
                    nbformat.v4.new_output("stream", name="stderr",
                                           text="/srv/env/lib/python3.11/site-packages/tqdm/auto.py:21: W\n")]
    book.cells = [cell]
    path = tmp_path / "nb.ipynb"
    nbformat.write(book, str(path))
    html = render_html(path).read_text()
    assert "wrote ./runs/a/metrics.json" in html and "[site-packages]/tqdm/auto.py" in html
    assert not find_absolute_paths(html)


def _study(root, name, summary, written=None, pages=("summary.html",)):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"study": name, "summary": summary, "runs": []}))
    study = {"study": name, "runs": 3, "finished_runs": ["a", "b", "c"], "config": {"description": f"about {name}"}}
    if written:
        study["written"] = written
    (folder / "study.json").write_text(json.dumps(study))
    for p in pages:
        (folder / p).write_text("<html></html>")
    return folder


def test_index_links_studies_with_headline_numbers_and_date(tmp_path):
    row = {"point": "default", "method": "neuron", "n": 3, "honest/zsl_top1_mean": 59.49,
           "honest/zsl_top1_std": 2.04, "honest/gzsl_h_mean": 36.9, "honest/gzsl_h_std": None}
    _study(tmp_path, "quick", [row, {**row, "method": "baseline", "honest/zsl_top1_mean": 70.88,
                                     "honest/gzsl_h_mean": float("nan")}],
           written="2026-11-23T10:00", pages=("summary.html", "01_data.html"))
    sweep = [{"point": f"k={k}", "method": "neuron", "n": 1, "honest/zsl_top1_mean": v, "honest/gzsl_h_mean": v / 2}
             for k, v in zip(range(5), (50.0, 61.25, 55.0, 58.0, 52.0))]
    _study(tmp_path, "sweep", sweep, written="2026-11-22")
    (tmp_path / "not_a_study").mkdir()
    html = write_index(tmp_path).read_text()
    assert html.count("<tr><td>") == 2
    for needle in ('href="quick/summary.html"', 'href="quick/01_data.html"', 'href="sweep/summary.html"',
                   "2026-11-23", "2026-11-22", "ZSL top-1: 59.5 ± 2.0 (n=3)", "GZSL H: 36.9 (n=3)",
                   "ZSL top-1: 70.9 ± 2.0 (n=3)", "GZSL H: –</td>", "ZSL top-1: 50.0 – 61.2 over 5 points",
                   "3 of 3", "about quick"):
        assert needle in html, needle
    assert html.index("quick") < html.index("sweep")


def test_index_names_a_broken_results_file(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad/results.json"):
        write_index(tmp_path)


def test_headline_labels_groups():
    rows = [{"point": "default", "family": f, "method": "neuron", "n": 9, "honest/zsl_top1_mean": v,
             "honest/zsl_top1_std": 1.0} for f, v in (("utd_22_5", 50.0), ("utd_17_10", 27.8))]
    cells = headline({"summary": rows})["neuron"]
    assert cells["ZSL top-1"] == "utd_22_5: 50.0 ± 1.0 (n=9), utd_17_10: 27.8 ± 1.0 (n=9)"
    assert cells["GZSL H"] == "–"


def test_committed_index_links_every_committed_study():
    html = (REPORTS / "index.html").read_text()
    studies = sorted(p.parent.name for p in REPORTS.glob("*/results.json"))
    assert studies and re.findall(r'href="([^"/]+)/summary.html"', html) == studies
