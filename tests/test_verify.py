"""``python -m neuron verify``: the comparison on committed outcomes made to differ (fast), and a
real rerun of the smoke study that reproduces while an edited copy of its report does not
(slow)."""
import copy
import json
import shutil

import pytest

from conftest import ROOT
from neuron import verify as v
from neuron.__main__ import main
from neuron.errors import ConfigError

QUICK = ROOT / "reports" / "utd_mhad_quick"


def _committed():
    study, records, manifests = v.load_report(QUICK)
    return study, records, manifests


def _flip_one(records, method="neuron"):
    """A copy of the records with one honest GZSL prediction of ``method`` made right or wrong."""
    out = copy.deepcopy(records)
    rec = out[0]
    g = rec["methods"][method]["honest"]["gzsl"]
    i = next(i for i, (p, y) in enumerate(zip(g, rec["labels"])) if p != y)
    g[i] = rec["labels"][i]
    return out


def test_load_report_reads_the_main_jobs_committed_run_and_manifest():
    study, records, manifests = _committed()
    assert study.name == "utd_mhad_quick" and len(records) == 1
    rd = v.rel_dir(records[0])
    assert rd == "default/utd_mhad_22_5_0/seed0"
    man = manifests[rd]  # from manifests.json, or the manifest the stage report prints
    assert man["git_commit"] and man["params"]["data"]["split"] == "utd_mhad_22_5"
    assert man["data"]["test"] == len(records[0]["labels"])
    assert v.select(records, ["utd_mhad_22_5#0"]) == records
    with pytest.raises(ConfigError, match="matches no committed run"):
        v.select(records, ["default/utd_mhad_22_5_1/seed0"])


def test_identical_outcomes_reproduce():
    _, records, manifests = _committed()
    res = v.compare(records, manifests, copy.deepcopy(records), copy.deepcopy(manifests), n_boot=200)
    assert res.reproduced and res.runs == {"default/utd_mhad_22_5_0/seed0": "reproduced"}
    assert res.exit_status() == 0 and res.exit_status(strict=True) == 0
    assert res.differences == [] and not res.env_differs
    assert "reproduced" in v.format_result(res, "utd_mhad_quick")


def test_a_changed_prediction_with_the_same_environment_is_a_numerics_change():
    _, records, manifests = _committed()
    new_man = copy.deepcopy(manifests)
    for m in new_man.values():
        m["git_commit"] = "0" * 40  # another commit: the code changed, nothing else
    res = v.compare(records, manifests, _flip_one(records), new_man, n_boot=200)
    assert res.runs == {"default/utd_mhad_22_5_0/seed0": "differs"}
    assert not res.env_differs and res.exit_status() == 1
    diffs = {(d["method"], d["protocol"], d["metric"]): d for d in res.differences}
    assert set(m for m, _, _ in diffs) == {"neuron"}  # only the edited method
    d = diffs[("neuron", "honest", "gzsl_seen")] if ("neuron", "honest", "gzsl_seen") in diffs \
        else diffs[("neuron", "honest", "gzsl_unseen")]
    assert d["diff"] > 0 and d["ci"][0] <= d["diff"] <= d["ci"][1]
    assert ("neuron", "honest", "zsl_top1") not in diffs  # the ZSL predictions are unchanged
    text = v.format_result(res, "utd_mhad_quick")
    assert "a change of the numerics" in text and "git_commit" in text


def test_a_changed_prediction_with_another_environment_lists_the_causes():
    _, records, manifests = _committed()
    new_man = copy.deepcopy(manifests)
    for m in new_man.values():
        m["numerics"] = {**v._numerics(m), "threads": 16, "cpu_capability": "AVX2"}
    res = v.compare(records, manifests, _flip_one(records), new_man, n_boot=200)
    causes = {f: (a, b) for f, a, b in res.causes["default/utd_mhad_22_5_0/seed0"]}
    assert causes["numerics.threads"] == (1, 16)
    assert res.env_differs and res.exit_status() == 0 and res.exit_status(strict=True) == 1
    text = v.format_result(res, "utd_mhad_quick")
    assert "numerics.threads: committed 1, rerun 16" in text
    assert ("some interval excludes 0" in text) == res.interval_excludes_zero


def test_without_a_committed_manifest_a_difference_fails():
    _, records, manifests = _committed()
    res = v.compare(records, {}, _flip_one(records), manifests, n_boot=200)
    assert not res.env_recorded and res.exit_status() == 1
    res = v.compare(records, {}, copy.deepcopy(records), manifests, n_boot=200)
    assert res.exit_status() == 0


def test_other_test_samples_are_a_cause_and_unpaired():
    _, records, manifests = _committed()
    new = copy.deepcopy(records)
    new[0]["test_sha"] = "0123456789abcdef"
    new[0]["labels"] = new[0]["labels"][:-1]
    for m in new[0]["methods"].values():
        m["honest"]["gzsl"] = m["honest"]["gzsl"][:-1]
        for head in m.get("paper", {}).get("gzsl", {}):
            m["paper"]["gzsl"][head] = m["paper"]["gzsl"][head][:-1]
    res = v.compare(records, manifests, new, manifests, n_boot=50)
    assert ("data.test_sha", records[0]["test_sha"], "0123456789abcdef") in res.causes[v.rel_dir(records[0])]
    assert res.env_differs and all(d["ci"] is None for d in res.differences)


@pytest.mark.slow
def test_verify_reruns_the_smoke_study(smoke_study, tmp_path, monkeypatch, capsys):
    """One real rerun: the edited copy of the report differs (a numerics change: exit 1), and the
    same rerun compared with the untouched report reproduces."""
    _, report = smoke_study
    edited = tmp_path / "smoke"
    shutil.copytree(report, edited)
    records = json.loads((edited / "outcomes.json").read_text())
    records["runs"] = _flip_one(records["runs"])
    (edited / "outcomes.json").write_text(json.dumps(records))
    rc = main(["verify", str(edited), "--workdir", str(tmp_path / "work"),
               "--json", str(tmp_path / "v.json")])
    out = capsys.readouterr().out
    assert rc == 1, out
    assert "default/utd_mhad_smoke_0/seed0: differs" in out and "a change of the numerics" in out
    res = json.loads((tmp_path / "v.json").read_text())
    assert not res["reproduced"] and res["differences"] and not res["env_differs"]
    # provenance: the command without this machine's folders, the commit taken before the rerun
    assert res["command"].startswith("python -m neuron verify ") and "--workdir <work folder>" in res["command"]
    assert str(tmp_path / "work") not in res["command"] and res["exit_status"] == 1
    assert res["commit"] == v.report_entry(json.loads(next((tmp_path / "work" / "runs").rglob(
        "manifest.json")).read_text()))["git_commit"] and res["seconds"] > 0
    # the rerun against the untouched report: identical
    _, committed, manifests = v.load_report(report)
    from neuron.study import collect_outcomes

    rerun = collect_outcomes(tmp_path / "work" / "runs")
    new_man = {v.rel_dir(r): v.report_entry(json.loads(
        (tmp_path / "work" / "runs" / v.rel_dir(r) / "manifest.json").read_text())) for r in rerun}
    assert v.compare(committed, manifests, rerun, new_man).reproduced


def test_contrasts_give_each_methods_difference_to_the_baseline_on_both_sides():
    _, records, manifests = _committed()
    res = v.compare(records, manifests, copy.deepcopy(records), copy.deepcopy(manifests), n_boot=200)
    rows = {(c["method"], c["metric"]): c for c in res.contrasts}
    methods = set(records[0]["methods"]) - {"baseline"}
    assert "neuron" in methods
    assert set(rows) == {(m, k) for m in methods for k in ("zsl_top1", "gzsl_h")}
    for c in rows.values():  # identical outcomes: the same difference, interval and verdict
        assert c["committed"] == c["rerun"] and c["committed_ci"] == c["rerun_ci"]
        assert c["committed_ci"][0] <= c["committed"] <= c["committed_ci"][1]
    assert res.verdicts_changed == []
    # the committed main job: Neuron trails the baseline on ZSL (results.json says so)
    assert rows[("neuron", "zsl_top1")]["committed_verdict"] == "worse"


def test_a_rerun_that_loses_the_difference_changes_the_verdict():
    _, records, manifests = _committed()
    rerun = copy.deepcopy(records)
    rec = rerun[0]
    # the rerun's Neuron predicts exactly what the baseline predicts: difference 0, no difference
    rec["methods"]["neuron"] = copy.deepcopy(rec["methods"]["baseline"])
    res = v.compare(records, manifests, rerun, copy.deepcopy(manifests), n_boot=200)
    zsl = next(c for c in res.contrasts if c["method"] == "neuron" and c["metric"] == "zsl_top1")
    assert zsl["rerun"] == 0.0 and zsl["rerun_verdict"] == "no difference"
    assert zsl in res.verdicts_changed
    text = v.format_result(res, "utd_mhad_quick")
    assert "verdicts changed: " in text and "worse -> +0.0" in text


def test_a_verify_json_becomes_a_section_of_the_study_readme(tmp_path):
    from neuron.io import write_json
    from neuron.reports import refresh_study_readme

    folder = tmp_path / "utd_mhad_quick"
    shutil.copytree(QUICK, folder)
    _, records, manifests = _committed()
    rerun = copy.deepcopy(records)
    rerun[0]["methods"]["neuron"] = copy.deepcopy(rerun[0]["methods"]["baseline"])
    new_man = copy.deepcopy(manifests)
    for m in new_man.values():
        m["git_commit"] = "f" * 40
    res = v.compare(records, manifests, rerun, new_man, n_boot=200)
    write_json(folder / "verify.json", {**res.to_dict(), "command": "python -m neuron verify x",
                                        "commit": "f" * 40, "date": "2026-12-07 08:00 UTC",
                                        "machine": "2 CPUs", "seconds": 600.0, "exit_status": 1})
    text = refresh_study_readme(folder).read_text()
    assert "## Does it reproduce on today's code?" in text
    block = text.split("<!-- results:verify -->")[1].split("<!-- /results:verify -->")[0]
    assert "**Differs**" in block and "commit (" in block and "ffffff" in block
    assert "| `default` | Neuron (paper configuration) | ZSL top-1 |" in block
    assert "changed: Neuron (paper configuration) zsl_top1 at `default` (worse → no difference)" in block
    # regenerating again keeps one section
    assert refresh_study_readme(folder).read_text().count("## Does it reproduce") == 1
    from neuron.reports import verified_md

    table = verified_md(tmp_path, prefix="")
    row = next(line for line in table.splitlines() if "utd_mhad_quick" in line)
    assert "differs: " in row and "`default/utd_mhad_22_5_0/seed0`" in row
    n = len(res.contrasts)
    assert f"{n - len(res.verdicts_changed)} of {n}" in row and "fffffff, 2026-12-07" in row
    # several verified runs: each run's status in the section, the count in the table
    data = json.loads((folder / "verify.json").read_text())
    data["runs"] = {"default/utd_mhad_22_5_0/seed0": "reproduced", "default/utd_mhad_17_10_0/seed0": "differs"}
    write_json(folder / "verify.json", data)
    block = refresh_study_readme(folder).read_text().split("<!-- results:verify -->")[1]
    assert ("Per run: `default/utd_mhad_22_5_0/seed0` reproduced; `default/utd_mhad_17_10_0/seed0` differs."
            in block) and "**Differs** from the committed runs:" in block
    row = next(line for line in verified_md(tmp_path, prefix="").splitlines() if "utd_mhad_quick" in line)
    assert "(1 of 2 runs reproduced)" in row


def test_runs_of_seeds_the_last_summary_did_not_name_are_still_rerun(tmp_path):
    # a report last summarised with --seeds 1 2 (its study.json names those seeds only) whose
    # seed-0 runs are committed too, as `summarise` keeps them: made from sweep_windows' report
    folder = tmp_path / "sweep_windows"
    folder.mkdir()
    for name in ("study.json", "outcomes.json", "manifests.json"):  # what load_report reads
        shutil.copy(ROOT / "reports" / "sweep_windows" / name, folder / name)
    meta = json.loads((folder / "study.json").read_text())
    meta["config"]["seeds"] = [1, 2]
    (folder / "study.json").write_text(json.dumps(meta))
    study, records, manifests = v.load_report(folder)
    assert 0 not in study.seeds and any(r["seed"] == 0 for r in records)
    picked = v.select(records, ["windows=paper/utd_mhad_22_5_0/seed0"])
    specs = v.run_specs(study, picked, manifests, [])
    assert [str(s.rel_dir) for s in specs] == ["windows=paper/utd_mhad_22_5_0/seed0"]
    assert specs[0].seed == 0 and specs[0].config["seed"] == 0
