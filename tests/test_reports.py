"""Reports a person reads: no machine paths in committed reports (scrubbed by the pipeline);
reports/index.html, reports/README.md and the README tables are generated from the committed
results (one line per study, the main job first, correct run counts; README and study-README
tables equal what results.json gives, regeneration keeps the prose)."""
import json
import re

import nbformat
import pytest

from conftest import ROOT
from neuron.reports import (MAIN_STUDY, README_HEADLINES, find_absolute_paths, portable_command,
                            refresh_study_readme, render_readme_block, render_study_block, replace_blocks,
                            run_counts, scrub_reports, scrub_text, study_facts, write_index, write_reports_readme)

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


def _study(root, name, table, written=None, pages=("summary.html",), finished=("a/s_0/seed0",) * 3):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"study": name, "table": table, "summary": [], "runs": []}))
    study = {"study": name, "runs": len(finished), "finished_runs": list(finished),
             "config": {"description": f"about {name}"}}
    if written:
        study["written"] = written
    (folder / "study.json").write_text(json.dumps(study))
    for p in pages:
        (folder / p).write_text("<html></html>")
    return folder


def _rec(method, zsl, diff=None, ci=None, verdict=None, point="default", family=None):
    return {"point": point, "family": family, "method": method, "protocol": "honest", "n_runs": 3,
            "zsl_top1_mean": zsl, "zsl_top1_std": 1.0, "gzsl_h_mean": zsl / 2, "gzsl_h_std": None,
            "reference": f"{point}/baseline" if diff is not None else None,
            "zsl_top1_diff": diff, "zsl_top1_diff_ci": ci, "zsl_top1_verdict": verdict,
            "gzsl_h_diff": diff, "gzsl_h_diff_ci": ci, "gzsl_h_verdict": verdict}


def test_index_has_one_line_per_study_with_its_main_comparison_main_job_first(tmp_path):
    _study(tmp_path, "a_sweep", [_rec("baseline", 60.0), _rec("neuron", 63.5, 3.5, [0.1, 6.5], "better")],
           written="2026-11-22")
    _study(tmp_path, MAIN_STUDY, [_rec("baseline", 70.0), _rec("neuron", 50.0, -20.0, [-30.0, -10.0], "worse")],
           written="2026-11-23T10:00", pages=("summary.html", "01_data.html"))
    (tmp_path / "not_a_study").mkdir()
    html = write_index(tmp_path).read_text()
    assert html.count("<tr><td>") == 2
    assert html.index(MAIN_STUDY) < html.index("a_sweep")  # the main job first
    for needle in (f'href="{MAIN_STUDY}/summary.html"', f'href="{MAIN_STUDY}/01_data.html"', "2026-11-23",
                   "Neuron vs baseline: ZSL +3.5 [+0.1, +6.5] better, H +3.5 [+0.1, +6.5] better",
                   "ZSL -20.0 [-30.0, -10.0] worse", "3 of 3", "about a_sweep"):
        assert needle in html, needle
    readme = write_reports_readme(tmp_path).read_text()
    assert readme.index(MAIN_STUDY) < readme.index("a_sweep") and "ZSL +3.5 [+0.1, +6.5] better" in readme


def test_index_names_a_broken_results_file(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad/results.json"):
        write_index(tmp_path)


def test_committed_index_links_every_committed_study():
    html = (REPORTS / "index.html").read_text()
    studies = sorted(p.parent.name for p in REPORTS.glob("*/results.json"))
    assert studies and sorted(re.findall(r'href="([^"/]+)/summary.html"', html)) == studies


def test_committed_index_lists_the_main_job_first_with_correct_run_counts():
    html = (REPORTS / "index.html").read_text()
    rows = re.findall(r"<tr><td><b>([^<]+)</b>", html)
    assert rows[0] == MAIN_STUDY and sorted(rows) == sorted(p.parent.name for p in REPORTS.glob("*/results.json"))
    for name in rows:
        finished, planned = run_counts(REPORTS / name)
        assert 0 < finished <= planned, name
        assert f"<td>{finished} of {planned}</td>" in html, name
    # runs beyond the study file (seed 1 of why_neuron_trails) count in both; a partial study says so
    assert run_counts(REPORTS / "why_neuron_trails") == (95, 95)
    assert run_counts(REPORTS / "sweep_windows") == (9, 9)
    assert run_counts(REPORTS / "sweep_logit_scale_val") == (20, 90)
    assert "NaN" not in html and "9 of 6" not in html


def test_committed_reports_readme_is_generated():
    text = (REPORTS / "README.md").read_text()
    index, verified = text.split("## Does each study reproduce on today's code?")
    lines = [line for line in index.splitlines() if line.startswith("| [`")]
    assert lines[0].startswith(f"| [`{MAIN_STUDY}`]")
    for line in lines:
        name = re.match(r"\| \[`([^`]+)`\]", line).group(1)
        f = study_facts(REPORTS / name)
        assert f["main"] in line and f"{f['finished']} of {f['planned']}" in line, name
    # one row per study in the reproduction table, from its verify.json where there is one
    rows = {re.match(r"\| \[`([^`]+)`\]", line).group(1): line
            for line in verified.splitlines() if line.startswith("| [`")}
    assert set(rows) == {re.match(r"\| \[`([^`]+)`\]", line).group(1) for line in lines}
    for name, line in rows.items():
        v = REPORTS / name / "verify.json"
        assert ("not verified" in line) != v.exists(), name
        if v.exists():
            rec = json.loads(v.read_text())
            assert ("| reproduced (identical predictions) |" in line) == bool(rec["reproduced"]), name
            assert ("| differs: " in line) != bool(rec["reproduced"]), name


def _block(text, name):
    return re.search(rf"<!-- results:{name}[^>]*-->\n(.*?)\n<!-- /results:{name} -->", text, re.S).group(1)


@pytest.mark.slow
def test_readme_tables_equal_what_results_json_gives():
    readme = (ROOT / "README.md").read_text()
    render = render_readme_block(REPORTS)
    assert replace_blocks(readme, render) == readme  # `python -m neuron index` changes nothing
    assert set(README_HEADLINES) <= set(re.findall(r"<!-- results:(\w+) -->", readme))
    # one row checked against results.json directly: UTD-MHAD 22/5, Neuron as published
    rec = next(r for r in json.loads((REPORTS / "utd_mhad_paper" / "results.json").read_text())["table"]
               if (r["point"], r["family"], r["method"], r["protocol"]) ==
               ("default", "utd_mhad_22_5", "neuron", "honest"))
    row = next(line for line in _block(readme, "utd_mhad").splitlines() if "22/5 | Neuron as published" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == str(rec["n_runs"])
    assert cells[3] == f"{rec['zsl_top1_mean']:.1f} ± {rec['zsl_top1_std']:.1f}"
    lo, hi = rec["zsl_top1_diff_ci"]
    assert cells[5] == f"{rec['zsl_top1_diff']:+.1f} [{lo:+.1f}, {hi:+.1f}] {rec['zsl_top1_verdict']}"
    assert len(readme.splitlines()) <= 250


def test_committed_study_readmes_are_current():
    for folder in sorted(p.parent for p in REPORTS.glob("*/results.json")):
        text = (folder / "README.md").read_text()
        assert "**Question.**" in text and "## Findings" in text, folder.name
        render = render_study_block(folder)
        for name in ("table", "runs", "main"):
            assert _block(text, name) == render(name, []), (folder.name, name)


def test_study_readme_regeneration_keeps_prose(tmp_path):
    folder = tmp_path / "nw_ucla"
    folder.mkdir()
    for name in ("results.json", "study.json"):
        (folder / name).write_text((REPORTS / "nw_ucla" / name).read_text())
    (folder / "README.md").write_text("# nw_ucla\n\n**Question.** Which wins?\n\n<!-- results:table -->\n"
                                      "| stale | 99.9 |\n<!-- /results:table -->\n\nThe prose stays, 80.5 too.\n")
    text = refresh_study_readme(folder).read_text()
    assert "99.9" not in text and "The prose stays, 80.5 too." in text and "**Question.** Which wins?" in text
    rec = next(r for r in json.loads((folder / "results.json").read_text())["table"]
               if (r["method"], r["protocol"]) == ("neuron", "honest"))
    assert f"{rec['zsl_top1_mean']:.1f} ± {rec['zsl_top1_std']:.1f}" in _block(text, "table")
    assert refresh_study_readme(folder).read_text() == text  # idempotent
    (folder / "README.md").unlink()  # a new study gets a README with the tables
    assert "<!-- /results:table -->" in refresh_study_readme(folder).read_text()


def test_unbalanced_markers_are_an_error():
    with pytest.raises(ValueError, match="unbalanced"):
        replace_blocks("<!-- results:table -->\nno end", lambda name, args: "")


def test_portable_command_replaces_machine_folders_once():
    """The verify command's folders become placeholders, and a command already made portable
    (as ``verify --json`` writes it) stays as it is when made portable again."""
    raw = ("python -m neuron verify reports/s --runs a/b/seed0 --workdir /scratch/w --cache /scratch/c "
           "--json /tmp/s.json")
    once = portable_command(raw, "s")
    assert once == ("python -m neuron verify reports/s --runs a/b/seed0 --workdir <work folder> "
                    "--cache <shared cache> --json reports/s/verify.json")
    assert portable_command(once, "s") == once
