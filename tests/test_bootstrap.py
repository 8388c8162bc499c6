"""The paired intervals (t over splits, bootstrap within one split), per-sample outcomes and the study summary's compact table
and strict results.json, on constructed cases whose answers are known."""
import json
import re

import numpy as np
import pytest

from conftest import ROOT
from neuron import evaluate as ev
from neuron import stats as st

SEEN, UNSEEN = [0, 1, 2], [3, 4]


def _strict(text):
    def bad(c):
        raise ValueError(f"non-strict JSON constant {c}")
    return json.loads(text, parse_constant=bad)


def _outcome(labels, right):
    """Honest outcomes whose ZSL and GZSL predictions are right exactly where ``right`` is."""
    y = np.asarray(labels)
    um = np.isin(y, UNSEEN)
    wrong_u = np.where(y == 3, 4, 3)
    wrong_all = np.where(y == 0, 1, 0)
    zsl = np.where(right, y, wrong_u)[um]
    gzsl = np.where(right, y, wrong_all)
    return {"honest": {"zsl": zsl.tolist(), "gzsl": gzsl.tolist()}}


def _runs(right_fn, n_splits=3, seeds=(0, 1), n=40, rng=None):
    rng = rng or np.random.default_rng(0)
    runs = []
    for s in range(n_splits):
        y = np.random.default_rng(100 + s).integers(0, 5, n)
        for seed in seeds:
            runs.append({"split": f"toy#{s}", "seed": seed, "labels": y.tolist(), "unseen": UNSEEN,
                         "outcome": _outcome(y, right_fn(y, rng))})
    return runs


def test_identical_methods_give_no_difference():
    a = _runs(lambda y, r: r.random(y.size) < 0.6)
    res = st.bootstrap_compare(a, a, n_boot=500, names=("A", "B"))
    for k in st.BOOT_METRICS:
        m = res["metrics"][k]
        assert m["diff"] == 0.0 and m["diff_ci"] == [0.0, 0.0]
        assert m["verdict"] == "no difference"
        assert m["a_ci"][0] < m["a"] < m["a_ci"][1]


def test_always_right_beats_often_wrong():
    good = _runs(lambda y, r: np.ones(y.size, bool))
    bad = _runs(lambda y, r: r.random(y.size) < 0.4)
    res = st.bootstrap_compare(good, bad, n_boot=500, names=("good", "bad"))
    for k in st.BOOT_METRICS:
        m = res["metrics"][k]
        assert m["a"] == 100.0 and m["a_ci"] == [100.0, 100.0]
        assert m["diff_ci"][0] > 0, k
        assert m["verdict"] == "good better"
    rev = st.bootstrap_compare(bad, good, n_boot=500, names=("bad", "good"))
    assert rev["metrics"]["gzsl_h"]["diff_ci"][1] < 0
    assert rev["metrics"]["gzsl_h"]["verdict"] == "good better"
    assert res["n_splits"] == 3 and res["n_runs"] == [6, 6] and res["n_test"] == 120


def test_seeded_and_deterministic():
    """One split: the paired bootstrap of test samples depends on its seed only; several splits:
    the t-interval needs no random numbers."""
    a = _runs(lambda y, r: r.random(y.size) < 0.7, n_splits=1)
    b = _runs(lambda y, r: r.random(y.size) < 0.5, n_splits=1, rng=np.random.default_rng(5))
    r1 = st.bootstrap_compare(a, b, n_boot=300, seed=3)
    r2 = st.bootstrap_compare(a, b, n_boot=300, seed=3)
    r3 = st.bootstrap_compare(a, b, n_boot=300, seed=4)
    assert r1 == r2
    assert r1["metrics"]["zsl_top1"]["diff_ci"] != r3["metrics"]["zsl_top1"]["diff_ci"]
    assert r1["metrics"]["zsl_top1"]["diff"] == r3["metrics"]["zsl_top1"]["diff"]
    a3 = _runs(lambda y, r: r.random(y.size) < 0.7)
    b3 = _runs(lambda y, r: r.random(y.size) < 0.5, rng=np.random.default_rng(5))
    assert st.bootstrap_compare(a3, b3, seed=3)["metrics"] == st.bootstrap_compare(a3, b3, seed=4)["metrics"]


def test_several_splits_give_the_t_interval_of_split_level_values():
    """Hand-computed: mean over splits +- t(K-1) sd / sqrt(K) of the seed-averaged split-level
    ZSL accuracies (A, B and A - B)."""
    from scipy.stats import t

    a = _runs(lambda y, r: r.random(y.size) < 0.7, n_splits=4)
    b = _runs(lambda y, r: r.random(y.size) < 0.5, n_splits=4, rng=np.random.default_rng(5))
    res = st.bootstrap_compare(a, b, n_boot=10)

    def split_level(runs):
        out = {}
        for r in runs:
            out.setdefault(r["split"], []).append(st.outcome_metrics(r["labels"], UNSEEN, r["outcome"])["zsl_top1"])
        return np.array([np.mean(v) for _, v in sorted(out.items())])

    xa, xb = split_level(a), split_level(b)
    q = t.ppf(0.975, 3)
    for key, x in (("a", xa), ("b", xb), ("diff", xa - xb)):
        half = q * x.std(ddof=1) / 2.0
        lo, hi = res["metrics"]["zsl_top1"][key + ("_ci" if key != "diff" else "_ci")]
        assert res["metrics"]["zsl_top1"][key] == pytest.approx(x.mean())
        assert (lo, hi) == pytest.approx((x.mean() - half, x.mean() + half))
    assert res["n_dropped"] == 0 and res["n_splits"] == 4


def test_outcome_metrics_hand_computed_h():
    # labels: seen 0, 1, 2, 0; unseen 3, 4. GZSL right on samples 0, 1 (seen) and 4 (unseen).
    labels = [0, 1, 2, 0, 3, 4]
    out = {"honest": {"zsl": [3, 3], "gzsl": [0, 1, 0, 1, 4, 4]}}
    m = st.outcome_metrics(labels, UNSEEN, out)
    # S = 2/4 = 50, U = 1/2 = 50, H = 50; ZSL: [3 right, 4 wrong] = 50
    assert m == {"zsl_top1": 50.0, "gzsl_seen": 50.0, "gzsl_unseen": 50.0, "gzsl_h": 50.0}
    out = {"honest": {"zsl": [3, 4], "gzsl": [0, 1, 2, 0, 0, 4]}}
    m = st.outcome_metrics(labels, UNSEEN, out)
    # S = 100, U = 50, H = 2*100*50/150
    assert m["zsl_top1"] == 100.0 and m["gzsl_h"] == pytest.approx(200 / 3)
    # paper: right when either head is right
    paper = {"paper": {"zsl": {"spatial": [3, 3], "temporal": [4, 4]},
                       "gzsl": {"spatial": [0, 0, 0, 0, 0, 0], "temporal": [1, 1, 1, 1, 3, 1]}}}
    m = st.outcome_metrics(labels, UNSEEN, paper, "paper")
    assert m["zsl_top1"] == 100.0 and m["gzsl_seen"] == 75.0 and m["gzsl_unseen"] == 50.0


def test_per_split_average_of_h_not_pooled():
    # split 0: S = 100, U = 0 -> H 0; split 1: S = U = 100 -> H 100; mean of per-split H = 50
    y = [0, 3]
    runs = [{"split": "t#0", "seed": 0, "labels": y, "unseen": UNSEEN,
             "outcome": {"honest": {"zsl": [4], "gzsl": [0, 0]}}},
            {"split": "t#1", "seed": 0, "labels": y, "unseen": UNSEEN,
             "outcome": {"honest": {"zsl": [3], "gzsl": [0, 3]}}}]
    res = st.bootstrap_compare(runs, n_boot=50)
    assert res["metrics"]["gzsl_h"]["a"] == 50.0
    assert res["metrics"]["zsl_top1"]["a"] == 50.0
    assert "diff" not in res["metrics"]["gzsl_h"]


def test_pairing_errors():
    a = _runs(lambda y, r: r.random(y.size) < 0.6)
    other_splits = [{**r, "split": r["split"].replace("toy", "other")} for r in a]
    with pytest.raises(ValueError, match="do not pair: splits"):
        st.bootstrap_compare(a, other_splits)
    shorter = [{**r, "labels": r["labels"][:-1],
                "outcome": _outcome(r["labels"][:-1], np.ones(len(r["labels"]) - 1, bool))}
               for r in a]
    with pytest.raises(ValueError, match="different test samples"):
        st.bootstrap_compare(a, shorter)
    relabelled = [dict(r) for r in a]
    y = list(relabelled[0]["labels"])
    y[0], y[1] = y[1], y[0]
    relabelled[0] = {**relabelled[0], "labels": y}
    with pytest.raises(ValueError, match="do not share test samples|do not pair"):
        st.bootstrap_compare(relabelled, a)
    with pytest.raises(ValueError, match="lacks 'outcome'"):
        st.bootstrap_compare([{"split": "x#0", "labels": [3], "unseen": UNSEEN}])
    with pytest.raises(ValueError, match="no 'paper' outcomes"):
        st.bootstrap_compare(a, protocol="paper")


def test_per_sample_predictions_reproduce_evaluate_run():
    rng = np.random.default_rng(0)
    C, n = 8, 60
    unseen, seen = [5, 6, 7], [0, 1, 2, 3, 4]
    y = rng.integers(0, C, n)
    spa = rng.normal(size=(n, C)) + 2 * np.eye(C)[y]
    tem = rng.normal(size=(n, C)) + 1.5 * np.eye(C)[y]
    fused = ev.fuse_scores(spa, tem)
    val = ev.ValidationScores(fused[:30], y[:30], [0, 1, 2, 5, 6, 7], [3, 4])
    m = ev.evaluate_run(y, seen, unseen, spatial=spa, temporal=tem, fused=fused, val=val)
    out = st.per_sample_predictions(y, seen, unseen, m, fused=fused, spatial=spa, temporal=tem)
    assert len(out["honest"]["zsl"]) == int(np.isin(y, unseen).sum())
    assert all(isinstance(v, int) for v in out["honest"]["gzsl"])
    json.dumps(out)
    for proto in ("honest", "paper"):
        r = st.outcome_metrics(y, unseen, out, proto)
        for k in st.BOOT_METRICS:
            assert r[k] == pytest.approx(m[f"{proto}/{k}"]), (proto, k)


def test_one_split_bootstrap_matches_a_direct_resampling():
    """One split, three seeds: the interval is the percentile interval of the seed-averaged ZSL
    accuracy over resamples of the test samples, computed here directly with the same draws."""
    a = _runs(lambda y, r: r.random(y.size) < 0.6, n_splits=1, seeds=(0, 1, 2), n=430)
    res = st.bootstrap_compare(a, n_boot=400, seed=7)
    rng = np.random.default_rng(7)
    rng.integers(0, 1, size=(400, 1))
    y = np.asarray(a[0]["labels"])
    um = np.isin(y, UNSEEN)
    right = np.stack([st.sample_correctness(y, UNSEEN, r["outcome"])["zsl"] for r in a])  # (3, N)
    w = rng.multinomial(y.size, np.full(y.size, 1.0 / y.size), size=400)
    reps = 100.0 * (w @ (right * um).T) / (w @ um)[:, None]  # (400, 3)
    want = np.percentile(reps.mean(1), [2.5, 97.5])
    assert res["metrics"]["zsl_top1"]["a_ci"] == pytest.approx(want)
    assert res["n_runs"] == [3] and res["n_dropped"] == 0


# ------------------------------------------------------------------ coverage by simulation
def _simulated_study(rng, sd, n_splits=5, n=100, true_diff=5.0):
    """Paired runs of A and B on ``n_splits`` splits (``n`` unseen and ``n`` seen test samples
    each): B's accuracy varies with the split (45-75 %), A's is B's plus a split-level difference
    drawn from N(true_diff, sd^2) percentage points; samples right or wrong independently."""
    ra, rb = [], []
    for k in range(n_splits):
        y = np.r_[rng.choice(UNSEEN, n), rng.choice(SEEN, n)]
        pb = rng.uniform(45, 75)
        pa = np.clip(pb + rng.normal(true_diff, sd), 0, 100)
        for runs, p in ((ra, pa), (rb, pb)):
            runs.append({"split": f"sim#{k}", "seed": 0, "labels": y, "unseen": UNSEEN,
                         "outcome": _outcome(y, rng.random(y.size) < p / 100)})
    return ra, rb


@pytest.mark.parametrize("sd", [0.0, 5.0, 10.0])
def test_interval_covers_a_known_difference(sd):
    """400 simulated five-split studies with a true ZSL difference of 5 points: the 95 % interval
    of A - B covers it in 93-97 % of them, also when the difference varies from split to split
    (SD 5 and 10 points; Neuron's ZSL SD over UTD-MHAD splits is 14 against the baseline's 6)."""
    rng = np.random.default_rng(int(sd) + 1)
    hits = 0
    for i in range(400):
        a, b = _simulated_study(rng, sd)
        lo, hi = st.bootstrap_compare(a, b, n_boot=1, seed=i)["metrics"]["zsl_top1"]["diff_ci"]
        hits += lo <= 5.0 <= hi
    assert 0.93 <= hits / 400 <= 0.97, hits / 400


@pytest.mark.slow
def test_one_split_bootstrap_covers_a_known_difference():
    """400 simulated one-split studies (the test samples the only noise): 91-97 % coverage (the
    percentile interval of a bootstrap of 150 samples is a little narrow: seeded, 92 %)."""
    rng = np.random.default_rng(11)
    hits = 0
    for i in range(400):
        a, b = _simulated_study(rng, 0.0, n_splits=1, n=150)
        lo, hi = st.bootstrap_compare(a, b, n_boot=500, seed=i)["metrics"]["zsl_top1"]["diff_ci"]
        hits += lo <= 5.0 <= hi
    assert 0.91 <= hits / 400 <= 0.97, hits / 400


# --------------------------------------------------------------------------- study summary
def _metrics_json(folder, split, seed, y, right_neuron, right_base):
    folder.mkdir(parents=True)
    out = {"labels": [int(v) for v in y], "test_sha": "x",
           "neuron": _outcome(y, right_neuron), "baseline": _outcome(y, right_base)}
    def metr(o):
        r = st.outcome_metrics(y, UNSEEN, o)
        return {f"honest/{k}": v for k, v in r.items()}
    m = {"run": "t", "seed": seed, "split": split, "seen": SEEN, "unseen": UNSEEN,
         "pseudo_unseen": [0], "neuron": metr(out["neuron"]), "baseline": metr(out["baseline"]),
         "outcomes": out}
    (folder / "metrics.json").write_text(json.dumps(m))


def _fake_study(root):
    rng = np.random.default_rng(1)
    for s in range(2):
        y = np.random.default_rng(s).integers(0, 5, 60)
        for seed in (0, 1):
            _metrics_json(root / "default" / f"toy_{s}" / f"seed{seed}", f"toy#{s}", seed, y,
                          np.ones(60, bool), rng.random(60) < 0.3)


def test_summary_table_intervals_and_strict_results_json(tmp_path):
    from neuron.study import collect_outcomes, collect_results, summarise_study

    study = tmp_path / "runs"
    _fake_study(study)
    rows = collect_results(study)
    assert len(collect_outcomes(study)) == 4
    out = summarise_study(rows, tmp_path / "rep", "toy", study, n_boot=300)
    t = out["table"]
    row = t.loc[("default", "neuron", "honest")]
    assert row["ZSL top-1"] == "100.0 ± 0.0" and row["runs"] == 4
    assert row["reference"] == "default/baseline" and row["verdict GZSL H"] == "better"
    assert re.fullmatch(r"\+\d+\.\d \[\+\d+\.\d, \+\d+\.\d\]", row["Δ GZSL H [95% CI]"])
    assert row["test samples (unseen / total)"].endswith("/ 120")
    for name in ("summary_table.csv", "summary_table.md", "results.csv", "outcomes.json"):
        assert (tmp_path / "rep" / name).stat().st_size > 0, name
    res = _strict((tmp_path / "rep" / "results.json").read_text())
    # the fields the README documents
    assert {"study", "bootstrap", "table", "comparisons", "summary", "runs"} <= set(res)
    rec = next(r for r in res["table"] if r["method"] == "neuron")
    for k in ("point", "method", "protocol", "n_runs", "n_test", "n_test_unseen", "reference",
              "zsl_top1_mean", "zsl_top1_std", "zsl_top1_ci", "gzsl_h_diff", "gzsl_h_diff_ci",
              "gzsl_h_verdict", "note"):
        assert k in rec, k
    cmp_ = res["comparisons"][0]
    for k in ("a", "b", "protocol", "metric", "diff", "diff_ci", "verdict", "n_boot", "seed"):
        assert k in cmp_, k
    # a report folder rebuilds the same table without runs/
    again = summarise_study(collect_results(tmp_path / "rep"), tmp_path / "rep2", "toy",
                            tmp_path / "rep", n_boot=300)
    assert again["table"].equals(t)


def test_summary_of_study_stopped_part_way(tmp_path):
    """Points with fewer (or other) splits than their reference are compared on the runs both
    have, say so, and never stop the summary; bootstrap_compare itself still refuses to pair."""
    from neuron.study import collect_outcomes, collect_results, summarise_study
    from neuron.summary import NO_COMMON, compare

    study = tmp_path / "runs"
    rng = np.random.default_rng(3)
    ys = [np.random.default_rng(s).integers(0, 5, 60) for s in range(3)]
    for point, runs in {"neuron": [(0, 0), (0, 1), (1, 0), (1, 1)],   # the reference point
                        "part": [(0, 0)],                             # stopped after one run
                        "more": [(0, 0), (1, 0), (2, 0)],            # a split the reference lacks
                        "other": [(2, 0)]}.items():                   # nothing in common
        for s, seed in runs:
            _metrics_json(study / point / f"toy_{s}" / f"seed{seed}", f"toy#{s}", seed, ys[s],
                          rng.random(60) < 0.9, rng.random(60) < 0.3)
    outcomes = collect_outcomes(study)
    with pytest.raises(ValueError, match="do not pair"):
        compare(outcomes, ("part", "neuron"), ("neuron", "neuron"))
    r = compare(outcomes, ("part", "neuron"), ("neuron", "neuron"), common=True)
    assert r["n_runs"] == [1, 1] and r["n_splits"] == 1
    out = summarise_study(collect_results(study), tmp_path / "rep", "toy", study, n_boot=200)
    t = out["table"]
    part = t.loc[("part", "neuron", "honest")]
    assert part["runs"] == 1 and part["reference"] == "neuron/neuron"
    assert re.fullmatch(r"[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\]", part["Δ ZSL top-1 [95% CI]"])
    assert "paired" not in part["verdict ZSL top-1"]          # all of its runs are paired
    more = t.loc[("more", "neuron", "honest")]
    assert more["verdict GZSL H"].endswith("(2 of 3 runs paired)")
    assert more["test samples (unseen / total)"].endswith("/ 180")   # own counts: all 3 splits
    other = t.loc[("other", "neuron", "honest")]
    assert other["Δ ZSL top-1 [95% CI]"] == NO_COMMON and other["verdict ZSL top-1"] == "n/a"
    res = _strict((tmp_path / "rep" / "results.json").read_text())
    rec = {(r["point"], r["method"], r["protocol"]): r for r in res["table"]}
    assert rec[("more", "neuron", "honest")]["n_runs_paired"] == 2
    assert rec[("other", "neuron", "honest")]["note"] == NO_COMMON
    assert rec[("other", "neuron", "honest")]["zsl_top1_ci"] is not None   # its own interval


def test_summary_keeps_committed_runs_not_on_this_machine(tmp_path):
    """A study continued where the earlier runs/ is gone: the committed report's runs stay in
    the new summary, a run found again under runs/ replaces its committed record."""
    from neuron.study import collect_outcomes, collect_results, summarise_study

    _fake_study(tmp_path / "old")                     # toy#0, toy#1 x seeds 0, 1: committed
    rep = tmp_path / "rep"
    summarise_study(collect_results(tmp_path / "old"), rep, "toy", tmp_path / "old", n_boot=100)
    new = tmp_path / "new"                            # another machine: toy#1 seed 1 again, toy#2
    y = np.random.default_rng(1).integers(0, 5, 60)
    _metrics_json(new / "default" / "toy_1" / "seed1", "toy#1", 1, y,
                  np.zeros(60, bool), np.zeros(60, bool))
    _metrics_json(new / "default" / "toy_2" / "seed0", "toy#2", 0, y,
                  np.ones(60, bool), np.ones(60, bool))
    assert len(collect_results(new)) == 4             # alone: only what is under runs/
    rows = collect_results(new, committed=rep)
    outcomes = collect_outcomes(new, committed=rep)
    runs = [(r["split"], r["seed"]) for r in rows if r["method"] == "neuron"]
    assert runs == [("toy#0", 0), ("toy#0", 1), ("toy#1", 0), ("toy#1", 1), ("toy#2", 0)]
    assert [(o["split"], o["seed"]) for o in outcomes] == runs
    replaced = next(r for r in rows if (r["split"], r["seed"], r["method"]) == ("toy#1", 1, "neuron"))
    assert replaced["honest/zsl_top1"] == 0.0         # the new run, not the committed one
    assert collect_results(rep, committed=rep) == collect_results(rep)   # no double counting
    out = summarise_study(rows, rep, "toy", new, outcomes=outcomes, n_boot=100)
    assert out["table"].loc[("default", "neuron", "honest")]["runs"] == 5


@pytest.mark.parametrize("study", ["ablations", "utd_mhad_paper"])
def test_summary_of_committed_report_without_outcomes(study, tmp_path):
    from neuron.study import collect_results, summarise_study
    from neuron.summary import NO_OUTCOMES

    rows = collect_results(ROOT / "reports" / study)
    assert rows
    out = summarise_study(rows, tmp_path, study, None)
    t = out["table"]
    compared = t[t["reference"] != "–"]
    assert len(compared) and (compared["Δ ZSL top-1 [95% CI]"] == NO_OUTCOMES).all()
    res = _strict((tmp_path / "results.json").read_text())
    assert all(r["note"] == NO_OUTCOMES for r in res["table"]) and res["comparisons"] == []


def test_strict_json_replaces_non_finite():
    from neuron.summary import strict_json

    assert strict_json({"a": float("nan"), "b": [float("inf"), 1.5], "c": np.float64(2)}) == \
        {"a": None, "b": [None, 1.5], "c": 2.0}


def _script(name):
    """scripts/<name>.py loaded as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / f"scripts/{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _strong_weak_report(tmp_path, families, seeds, rng_seed):
    """A summarised toy study: points ``strong`` (Neuron right on every sample) and ``weak``
    (Neuron right on ~30 %), identical baselines; three splits per family (the t-interval over
    two splits, with t(1) = 12.7, is too wide to separate them). Returns the report folder."""
    from neuron.study import collect_results, summarise_study

    rng = np.random.default_rng(rng_seed)
    for fam in families:
        for s in range(3):
            y = np.random.default_rng(s).integers(0, 5, 60)
            for seed in seeds:
                for point, right in (("strong", np.ones(60, bool)), ("weak", rng.random(60) < 0.3)):
                    _metrics_json(tmp_path / "runs" / point / f"{fam}_{s}" / f"seed{seed}", f"{fam}#{s}",
                                  seed, y, right, np.ones(60, bool))
    summarise_study(collect_results(tmp_path / "runs"), tmp_path / "rep", "toy", tmp_path / "runs",
                    n_boot=200)
    return tmp_path / "rep"


def test_results_table_script_prints_intervals(tmp_path, capsys):
    from neuron.study import collect_results, summarise_study

    _fake_study(tmp_path / "runs")
    summarise_study(collect_results(tmp_path / "runs"), tmp_path / "rep", "toy", tmp_path / "runs",
                    n_boot=200)
    _script("results_table").main(str(tmp_path / "rep"))
    text = capsys.readouterr().out
    assert "Δ honest GZSL H [95% CI]" in text and "better" in text


def test_results_table_script_compares_points(tmp_path, capsys):
    """``--vs POINT``: every other point's method against the same method at POINT."""
    mod = _script("results_table")
    rep = _strong_weak_report(tmp_path, ["toy"], (0, 1), 2)
    mod.main(str(rep), brief=True, vs="weak")
    lines = {tuple(c.strip() for c in ln.split("|")[1:4]): ln for ln in capsys.readouterr().out.splitlines()}
    assert "better vs weak" in lines[("strong", "neuron", "6")]           # right on every sample
    assert "no difference vs weak" in lines[("strong", "baseline", "6")]  # identical baselines
    assert lines[("weak", "neuron", "6")].endswith("| – | – |")
    with pytest.raises(SystemExit, match="no such point"):
        mod.main(str(rep), vs="nope")
    with pytest.raises(SystemExit, match="results.json: no such file"):
        mod.main(str(tmp_path / "missing"))


def test_compare_runs_script_pairs_points_across_families(tmp_path, capsys):
    """scripts/compare_runs.py: per family and pooled rows; right-on-every-sample is better,
    identical methods are no difference, the reverse is worse; a missing pair is an error."""
    mod = _script("compare_runs")
    rep = _strong_weak_report(tmp_path, ["toya", "toyb"], (0,), 3)
    mod.main([str(rep), "--pair", "strong/neuron", "weak/neuron",
              "--pair", "weak/neuron", "strong/neuron", "--pair", "strong/baseline", "weak/baseline",
              "--names", "strong/neuron=S"])
    lines = {tuple(c.strip() for c in ln.split("|")[1:4]): ln for ln in capsys.readouterr().out.splitlines()}
    for fam, n in (("toya", "3"), ("toyb", "3"), ("all", "6")):
        verdicts = {k: [c.strip().split("] ")[-1] for c in lines[k].split("|")[4:6]]
                    for k in lines if k[1:] == (fam, n)}
        assert verdicts[("S − weak/neuron", fam, n)] == ["better", "better"]
        assert verdicts[("weak/neuron − S", fam, n)] == ["worse", "worse"]
        assert lines[("strong/baseline − weak/baseline", fam, n)].count("+0.0 [+0.0, +0.0] no difference") == 2
    with pytest.raises(SystemExit, match="no common runs"):
        mod.main([str(rep), "--pair", "strong/neuron", "strong/nope"])
    with pytest.raises(SystemExit, match="no such file"):
        mod.main([str(tmp_path), "--pair", "strong/neuron", "weak/neuron"])


def test_compare_runs_script_selects_seeds_splits_and_metrics(tmp_path, capsys):
    """``--seeds``/``--splits`` keep only those runs (the row's run count says so), ``--metrics``
    sets the columns; an unknown metric and a selection with no runs are errors."""
    mod = _script("compare_runs")
    rep = _strong_weak_report(tmp_path, ["toy"], (0, 1), 4)
    mod.main([str(rep), "--pair", "strong/neuron", "weak/neuron", "--seeds", "1",
              "--splits", "toy#0", "toy#2", "--metrics", "gzsl_unseen", "zsl_top1", "gzsl_seen"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("|")[4:7] == [" Δ GZSL unseen [95 % CI] ", " Δ ZSL top-1 [95 % CI] ",
                                      " Δ GZSL seen [95 % CI] "]
    cells = [c.strip() for c in out[2].split("|")[1:-1]]
    assert cells[1:3] == ["toy", "2"]                      # 2 splits x seed 1 only
    assert cells[3].endswith("better") and cells[4].endswith("better")
    assert cells[5].endswith("better")                    # strong is right on seen samples too
    mod.main([str(rep), "--pair", "strong/neuron", "weak/neuron"])
    assert [c.strip() for c in capsys.readouterr().out.splitlines()[2].split("|")[1:4]][2] == "6"
    with pytest.raises(SystemExit, match="unknown"):
        mod.main([str(rep), "--pair", "strong/neuron", "weak/neuron", "--metrics", "h"])
    with pytest.raises(SystemExit, match="no runs of seeds"):
        mod.main([str(rep), "--pair", "strong/neuron", "weak/neuron", "--seeds", "7"])
