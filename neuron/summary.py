"""A study's compact results table: mean ± std per method and protocol, and paired differences
with bootstrap confidence intervals (:func:`neuron.stats.bootstrap_compare`).

Rows are method x protocol (x point, x split family when a study mixes families); columns ZSL
top-1 and GZSL seen / unseen / H as "mean ± std" over runs (splits x seeds), the number of runs
and of test samples, and the difference to a reference with its 95 % interval and verdict
("no difference" when the interval covers 0). Reference of a row: in a study with a ``neuron``
point (the ablations), the same method at the ``neuron`` point, and for the ``neuron`` point
itself its baseline; otherwise every method's rows (Neuron and its named evaluation variants,
:data:`neuron.evaluate.METHODS`) are compared with the baseline of the same point. At a point
where peer heads were trained (SMIE, SA-DVAE, STAR; docs/peers.md) every row is also compared
with the same point's Neuron and baseline (:func:`also_compared`): records ``vs_neuron`` /
``vs_baseline``, table columns "Δ ... vs Neuron / vs global-alignment baseline".
:func:`compare` compares any two (point, method) pairs of a study.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from neuron.io import write_text

PROTOCOLS = ("honest", "paper")
METRICS = (("ZSL top-1", "zsl_top1"), ("GZSL seen", "gzsl_seen"), ("GZSL unseen", "gzsl_unseen"),
           ("GZSL H", "gzsl_h"))
#: Metrics whose differences the compact table shows (all four are in results.json).
TABLE_DIFFS = (("ZSL top-1", "zsl_top1"), ("GZSL H", "gzsl_h"))
#: Display names of the two evaluation protocols (stored keys stay ``honest`` and ``paper``):
#: one fused prediction calibrated on validation data only, and the official code's scoring (a
#: sample counts when either branch is right; calibration tuned on the test set).
PROTOCOL_NAMES = {"honest": "validation-calibrated", "paper": "official-code (test-tuned)"}
#: Display names of the scored methods (:data:`neuron.evaluate.METHODS`), in table order.
METHOD_NAMES = {"baseline": "global-alignment baseline", "neuron": "Neuron (paper configuration)",
                "neuron_allrounds": "Neuron, every round scored", "ensemble": "Neuron + baseline",
                "ensemble_allrounds": "every round + baseline", "smie": "SMIE (peer)",
                "sadvae": "SA-DVAE (peer)", "star": "STAR (peer)"}
NO_OUTCOMES = "n/a: no per-sample outcomes in these runs"
NO_COMMON = "n/a: no split and seed in common with the reference"


def strict_json(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±inf) replaced by ``None`` (JSON ``null``),
    numpy scalars turned into Python numbers; dicts, lists and tuples are walked."""
    if isinstance(obj, Mapping):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# --------------------------------------------------------------------------- outcomes files
def write_outcomes(path: Path, study: str, runs: Sequence[Mapping[str, Any]]) -> None:
    """Write per-run outcomes (:func:`neuron.study.collect_outcomes`) as strict JSON, one run
    per line (``{"study": ..., "runs": [...]}``)."""
    lines = [json.dumps(strict_json(r), separators=(",", ":"), allow_nan=False) for r in runs]
    body = ",\n".join(lines)
    write_text(path, f'{{"study": {json.dumps(study)}, "runs": [\n{body}\n]}}\n')


def method_runs(outcomes: Iterable[Mapping[str, Any]], point: str, method: str,
                family: str | None = None) -> list[dict]:
    """The bootstrap input (:func:`neuron.stats.bootstrap_compare`) of one point and method."""
    out = []
    for r in outcomes:
        if r["point"] != point or method not in r["methods"]:
            continue
        if family is not None and str(r["split"]).split("#")[0] != family:
            continue
        out.append({"split": r["split"], "seed": r["seed"], "labels": r["labels"],
                    "unseen": r["unseen"], "outcome": r["methods"][method]})
    return out


def compare(outcomes: Sequence[Mapping[str, Any]], a: tuple[str, str], b: tuple[str, str] | None,
            protocol: str = "honest", family: str | None = None, n_boot: int = 2000,
            seed: int = 0, common: bool = False) -> dict | None:
    """Paired bootstrap of ``a = (point, method)`` against ``b`` (or ``a`` alone when ``b`` is
    None) on one protocol; ``None`` when ``a`` (or ``b``) has no per-sample outcomes, or, with
    ``common``, when the two share no (split, seed) run.

    ``common=True`` pairs the two on the (split, seed) runs both have (a study stopped part-way
    leaves some points with fewer splits than their reference); the result's ``n_runs`` says how
    many runs entered. With ``common=False`` the two must cover the same runs.

    Raises:
        ValueError: the two do not pair (other splits or test samples).
    """
    from neuron.stats import bootstrap_compare

    ra = method_runs(outcomes, *a, family)
    rb = method_runs(outcomes, *b, family) if b is not None else None
    if common and ra and rb:
        keys = {(r["split"], r["seed"]) for r in ra} & {(r["split"], r["seed"]) for r in rb}
        ra = [r for r in ra if (r["split"], r["seed"]) in keys]
        rb = [r for r in rb if (r["split"], r["seed"]) in keys]
    if not ra or (b is not None and not rb):
        return None
    if any(protocol not in r["outcome"] for r in ra + (rb or [])):
        return None
    names = (f"{a[0]}/{a[1]}", f"{b[0]}/{b[1]}" if b else "")
    return bootstrap_compare(ra, rb, protocol=protocol, n_boot=n_boot, seed=seed, names=names)


#: Methods whose presence at a point makes the study table compare every method of that point
#: with both Neuron and the baseline (:func:`also_compared`): the peer heads (docs/peers.md).
PEERS = ("smie", "sadvae", "star")
#: The two fixed comparisons of a study with peers: record key -> method at the row's point.
ALSO = {"vs_neuron": "neuron", "vs_baseline": "baseline"}


def also_compared(point: str, method: str, groups: set[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """``{"vs_neuron": (point, "neuron"), "vs_baseline": (point, "baseline")}`` for a row of a
    point where a peer method (:data:`PEERS`) was trained, leaving out the row itself and
    references that are absent; ``{}`` at points without peers (every study made before peers
    existed), so their tables are unchanged."""
    if not any((point, p) in groups for p in PEERS):
        return {}
    return {key: (point, m) for key, m in ALSO.items() if m != method and (point, m) in groups}


def reference(point: str, method: str, groups: set[tuple[str, str]]) -> tuple[str, str] | None:
    """The (point, method) a row is compared with (see the module docstring), if present."""
    points = {p for p, _ in groups}
    if "neuron" in points:
        ref = ("neuron", "baseline") if point == "neuron" else ("neuron", method)
        if point == "neuron" and method == "baseline":
            ref = None
    else:
        ref = (point, "baseline") if method != "baseline" else None
    return ref if ref in groups and ref != (point, method) else None


# --------------------------------------------------------------------------- the table
def _fmt(mean: float | None, std: float | None) -> str:
    if mean is None or not math.isfinite(mean):
        return "–"
    return f"{mean:.1f}" if std is None or not math.isfinite(std) else f"{mean:.1f} ± {std:.1f}"


def _fmt_diff(d: float, ci: Sequence[float]) -> str:
    return f"{d:+.1f} [{ci[0]:+.1f}, {ci[1]:+.1f}]"


def relative_verdict(verdict: str, name_a: str) -> str:
    """A comparison's verdict (``"<A> better"``, ``"<B> better"``, ``"no difference"``) as seen
    from A: ``better`` / ``worse`` / ``no difference``."""
    if verdict in ("no difference", "n/a"):
        return verdict
    return "better" if verdict == f"{name_a} better" else "worse"


def diff_cell(metric: Mapping[str, Any], name_a: str) -> str:
    """One metric of :func:`compare` as ``"+1.2 [-0.3, +2.5] no difference"`` (difference A - B,
    its 95 % interval, and the verdict for A: better / worse / no difference)."""
    return f"{_fmt_diff(metric['diff'], metric['diff_ci'])} {relative_verdict(metric['verdict'], name_a)}"


def _pair_record(a: tuple[str, str], b: tuple[str, str] | None, res: dict | None) -> dict | None:
    """A row's comparison with ``b`` (:func:`also_compared`) as stored in results.json:
    ``{"reference", "n_runs_paired", "metrics": {metric: {"diff", "diff_ci", "verdict"}}}``
    (verdict as seen from ``a``), or None without a reference or without outcomes."""
    if b is None or res is None:
        return None
    return {"reference": f"{b[0]}/{b[1]}", "n_runs_paired": res["n_runs"][0],
            "metrics": {k: {"diff": res["metrics"][k]["diff"], "diff_ci": res["metrics"][k]["diff_ci"],
                            "verdict": relative_verdict(res["metrics"][k]["verdict"], f"{a[0]}/{a[1]}")}
                        for _, k in METRICS}}


def _comparisons(a: tuple[str, str], b: tuple[str, str], fam: str | None, proto: str, res: dict) -> list[dict]:
    """One results.json ``comparisons`` entry per metric of :func:`compare`'s result ``res``."""
    out = []
    for _, k in METRICS:
        m = res["metrics"][k]
        out.append({"a": f"{a[0]}/{a[1]}", "b": f"{b[0]}/{b[1]}", "family": fam, "protocol": proto,
                    "metric": k, "a_mean": m["a"], "a_ci": m["a_ci"], "b_mean": m["b"], "b_ci": m["b_ci"],
                    "diff": m["diff"], "diff_ci": m["diff_ci"], "verdict": m["verdict"],
                    "n_splits": res["n_splits"], "n_runs": res["n_runs"], "n_test": res["n_test"],
                    "n_boot": res["n_boot"], "seed": res["seed"]})
    return out


def study_table(rows: Sequence[Mapping[str, Any]], outcomes: Sequence[Mapping[str, Any]] | None,
                by_family: bool, n_boot: int = 2000, seed: int = 0):
    """The compact table of a study.

    ``rows``: :func:`neuron.study.collect_results` rows with a ``family`` key; ``outcomes``:
    per-run outcomes or None/empty (old runs: differences marked :data:`NO_OUTCOMES`).
    Returns ``(display DataFrame, records, comparisons)``: the formatted table (strings), one
    numeric record per row (for results.json) and every comparison made (one per metric).
    """
    import pandas as pd

    df = pd.DataFrame(list(rows))
    outcomes = list(outcomes or [])
    keys = ["point", "family", "method"] if by_family else ["point", "method"]
    groups = {(r["point"], r["method"]) for r in rows}
    records, display, comparisons = [], [], []
    peers_here = any(m in PEERS for _, m in groups)
    for gkey, g in df.groupby(keys, sort=True):
        gd = dict(zip(keys, gkey))
        fam = gd.get("family") if by_family else None
        pm = (gd["point"], gd["method"])
        ref = reference(*pm, groups)
        for proto in PROTOCOLS:
            cols = [f"{proto}/{k}" for _, k in METRICS]
            if not any(c in g.columns and g[c].notna().any() for c in cols):
                continue
            rec: dict[str, Any] = {**gd, "protocol": proto, "n_runs": int(len(g))}
            disp: dict[str, Any] = {**gd, "protocol": proto}
            for label, k in METRICS:
                c = f"{proto}/{k}"
                v = g[c].astype(float) if c in g.columns else pd.Series(dtype=float)
                mean = float(v.mean()) if v.notna().any() else None
                std = float(v.std(ddof=1)) if v.notna().sum() > 1 else None
                rec[f"{k}_mean"], rec[f"{k}_std"] = mean, std
                disp[label] = _fmt(mean, std)
            disp["runs"] = int(len(g))
            # intervals only when every run of the row has per-sample outcomes. The difference
            # to the reference pairs the (split, seed) runs both have (a study stopped part-way
            # leaves points with fewer splits than their reference); the row's own intervals and
            # test-sample counts cover all its runs, like its mean ± std.
            res = own = None
            note = NO_OUTCOMES
            if outcomes and len(method_runs(outcomes, *pm, fam)) == len(g):
                note = None
                if ref:
                    res = compare(outcomes, pm, ref, proto, fam, n_boot, seed, common=True)
                    if res is None and method_runs(outcomes, *ref, fam):
                        note = NO_COMMON
                own = (res if res is not None and res["n_runs"][0] == len(g)
                       else compare(outcomes, pm, None, proto, fam, n_boot, seed))
            has_diff = res is not None
            paired = res["n_runs"][0] if has_diff else None
            rec["n_runs_paired"] = paired
            partial = f" ({paired} of {len(g)} runs paired)" if has_diff and paired < len(g) else ""
            rec["n_test"] = own["n_test"] if own else None
            rec["n_test_unseen"] = own["n_test_unseen"] if own else None
            disp["test samples (unseen / total)"] = (f"{own['n_test_unseen']} / {own['n_test']}"
                                                     if own else "n/a")
            rec["reference"] = f"{ref[0]}/{ref[1]}" if ref else None
            disp["reference"] = rec["reference"] or "–"
            rec["note"] = note
            for label, k in METRICS:
                rec[f"{k}_ci"] = own["metrics"][k].get("a_ci") if own else None
                m = res["metrics"][k] if has_diff else {}
                rec[f"{k}_diff"] = m.get("diff")
                rec[f"{k}_diff_ci"] = m.get("diff_ci")
                rec[f"{k}_verdict"] = (relative_verdict(m["verdict"], f"{pm[0]}/{pm[1]}")
                                       if has_diff else None)
                if has_diff:
                    comparisons.append({
                        "a": f"{pm[0]}/{pm[1]}", "b": rec["reference"], "family": fam,
                        "protocol": proto, "metric": k, "a_mean": m["a"], "a_ci": m["a_ci"],
                        "b_mean": m["b"], "b_ci": m["b_ci"], "diff": m["diff"],
                        "diff_ci": m["diff_ci"], "verdict": m["verdict"],
                        "n_splits": res["n_splits"], "n_runs": res["n_runs"],
                        "n_test": res["n_test"], "n_boot": res["n_boot"], "seed": res["seed"]})
            for label, k in TABLE_DIFFS:
                col = f"Δ {label} [95% CI]"
                if ref is None:
                    disp[col], disp[f"verdict {label}"] = "–", "–"
                elif not has_diff:
                    disp[col], disp[f"verdict {label}"] = note or NO_OUTCOMES, "n/a"
                else:
                    disp[col] = _fmt_diff(rec[f"{k}_diff"], rec[f"{k}_diff_ci"])
                    disp[f"verdict {label}"] = rec[f"{k}_verdict"] + partial
            if peers_here:
                for key, other in ALSO.items():
                    other_ref = also_compared(*pm, groups).get(key)
                    pair = None
                    if other_ref is not None and note != NO_OUTCOMES:
                        pair = (res if other_ref == ref else
                                compare(outcomes, pm, other_ref, proto, fam, n_boot, seed, common=True))
                    rec[key] = _pair_record(pm, other_ref, pair)
                    if pair is not None and other_ref != ref:
                        comparisons += _comparisons(pm, other_ref, fam, proto, pair)
                    name = METHOD_NAMES.get(other, other).split(" (")[0]
                    for label, k in TABLE_DIFFS:
                        m = rec[key]["metrics"].get(k) if rec[key] else None
                        disp[f"Δ {label} vs {name} [95% CI]"] = (
                            "–" if other_ref is None else f"{_fmt_diff(m['diff'], m['diff_ci'])} {m['verdict']}"
                            if m else NO_OUTCOMES if note == NO_OUTCOMES else NO_COMMON)
            records.append(rec)
            display.append(disp)
    table = pd.DataFrame(display).set_index(keys + ["protocol"]) if display else pd.DataFrame()
    return table, records, comparisons


def to_markdown(table) -> str:
    """A pandas DataFrame (index included) as a GitHub Markdown table."""
    df = table.reset_index()
    head = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the summary report
def _label(rec: Mapping[str, Any], families: bool) -> str:
    point = "" if rec.get("point") in (None, "default") else f"{rec['point']} · "
    fam = ""
    if families and rec.get("family"):
        parts = str(rec["family"]).split("_")
        fam = f" ({parts[-2]}/{parts[-1]})" if len(parts) >= 2 and parts[-1].isdigit() else f" ({rec['family']})"
    return point + METHOD_NAMES.get(rec["method"], rec["method"]) + fam


def compact_table(records: Sequence[Mapping[str, Any]]):
    """One row per (point, split family, method), the two protocols as column groups
    (:data:`PROTOCOL_NAMES`): ZSL top-1 and GZSL H as ``mean ± std`` and, where the row has a
    reference, the difference in ZSL top-1 with its 95 % interval and verdict. ``records`` are
    ``results.json`` ``table`` records. Returns a pandas DataFrame (strings)."""
    import pandas as pd

    families = len({r.get("family") for r in records}) > 1
    order = {m: i for i, m in enumerate(METHOD_NAMES)}
    rows: dict[str, dict] = {}
    keyed = sorted(records, key=lambda r: (str(r.get("point")), str(r.get("family")),
                                           order.get(r["method"], 9)))
    for r in keyed:
        row = rows.setdefault(_label(r, families), {"runs": r.get("n_runs")})
        name = PROTOCOL_NAMES.get(r["protocol"], r["protocol"])
        row[(name, "ZSL top-1")] = _fmt(r.get("zsl_top1_mean"), r.get("zsl_top1_std"))
        row[(name, "GZSL H")] = _fmt(r.get("gzsl_h_mean"), r.get("gzsl_h_std"))
        if r.get("zsl_top1_diff") is not None and r.get("zsl_top1_diff_ci"):
            row[(name, "Δ ZSL [95% CI]")] = (f"{_fmt_diff(r['zsl_top1_diff'], r['zsl_top1_diff_ci'])} "
                                              f"{r.get('zsl_top1_verdict') or ''}").strip()
        else:
            row[(name, "Δ ZSL [95% CI]")] = "–"
    df = pd.DataFrame.from_dict(rows, orient="index")
    runs = df.pop("runs")
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    df.insert(0, ("", "runs"), runs)
    df.index.name = "method"
    return df.fillna("–")


def forest_plot(records: Sequence[Mapping[str, Any]], protocol: str = "honest"):
    """Forest plot of every row's paired difference to its reference (ZSL top-1 and GZSL H,
    percentage points) with its 95 % interval, one marker colour per split family; rows without
    an interval are left out. Returns a matplotlib Figure, or None when nothing has an interval."""
    import matplotlib.pyplot as plt

    recs = [r for r in records if r["protocol"] == protocol and r.get("zsl_top1_diff_ci")]
    if not recs:
        return None
    families = sorted({r.get("family") or "" for r in recs})
    labels = list(dict.fromkeys(_label(r, False) + f" vs {r['reference']}" for r in recs))
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.42 * len(labels) + 1.4), sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (title, key) in zip(axes, (("Δ ZSL top-1", "zsl_top1"), ("Δ GZSL H", "gzsl_h"))):
        for fi, fam in enumerate(families):
            mine = [r for r in recs if (r.get("family") or "") == fam and r.get(f"{key}_diff_ci")]
            off = (fi - (len(families) - 1) / 2) * 0.18
            ys = [labels.index(_label(r, False) + f" vs {r['reference']}") + off for r in mine]
            xs = [r[f"{key}_diff"] for r in mine]
            err = [[r[f"{key}_diff"] - r[f"{key}_diff_ci"][0] for r in mine],
                   [r[f"{key}_diff_ci"][1] - r[f"{key}_diff"] for r in mine]]
            parts = fam.split("_")
            name = f"{parts[-2]}/{parts[-1]}" if len(parts) >= 2 and parts[-1].isdigit() else (fam or None)
            ax.errorbar(xs, ys, xerr=err, fmt="o", capsize=3, color=colours[fi % len(colours)], label=name)
        ax.axvline(0, color="0.4", lw=1, ls="--")
        ax.set_title(f"{title} ({PROTOCOL_NAMES.get(protocol, protocol)})", fontsize=10)
        ax.set_xlabel("difference, percentage points (95 % interval)")
    axes[0].set_yticks(range(len(labels)), labels, fontsize=8)
    axes[0].invert_yaxis()
    if len(families) > 1:
        axes[1].legend(title="splits", fontsize=8)
    fig.tight_layout()
    return fig


def details_html(title: str, inner: str) -> str:
    """``inner`` HTML in a collapsed ``<details>`` section titled ``title``."""
    import html as _html

    return f"<details><summary>{_html.escape(title)}</summary>\n{inner}\n</details>"
