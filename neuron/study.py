"""Study-level results: collecting a study's runs, choosing on validation, aggregating over
seeds and splits, the paper's reported numbers and the summary a study report is made of.

Rows (:func:`collect_results`) are one per run and method, with the metric keys of
:func:`neuron.evaluate.evaluate_run`; outcomes (:func:`collect_outcomes`) are one per run with
the per-sample predictions of each method (:func:`neuron.stats.per_sample_predictions`).
Tables and their bootstrap intervals come from :mod:`neuron.summary`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from IPython.display import Image

from neuron import summary as sm
from neuron.analysis import plot_metric_vs_param, plot_prototype_heatmaps, save_figure
from neuron.evaluate import REPORTED_METHODS
from neuron.io import torch_load, write_text


def run_key(record: dict) -> tuple[str, str, int]:
    """(point, split, seed) of a result row or outcome record."""
    return str(record["point"]), str(record["split"]), int(record["seed"])


def _merge_committed(found: list[dict], committed: list[dict]) -> list[dict]:
    """``found`` plus the ``committed`` records of runs not in ``found``, ordered by run."""
    have = {run_key(r) for r in found}
    extra = [r for r in committed if run_key(r) not in have]
    if not extra:
        return found
    return sorted(found + extra, key=run_key)  # stable: method order within a run is kept


def _same_dir(a: Path, b: str | Path | None) -> bool:
    return b is not None and Path(a).resolve() == Path(b).resolve()


def collect_results(study_dir: str | Path, committed: str | Path | None = None) -> list[dict]:
    """Every ``metrics.json`` under a study folder as flat rows: one per run and method.

    Row keys: ``point``, ``split``, ``seed``, ``method`` (a name of :data:`neuron.evaluate.REPORTED_METHODS`) and the metrics
    (``honest/zsl_top1``, ``paper/gzsl_h``, ...). A report folder (no runs, a ``results.json``)
    gives the rows it was made from (its ``runs`` field). ``committed``: a report folder whose
    rows are added for every run (point, split, seed) not found under ``study_dir``, so a study
    continued on a machine without the earlier ``runs/`` keeps its committed runs; a run found
    under ``study_dir`` replaces its committed rows.
    """
    rows = []
    study_dir = Path(study_dir)
    for path in sorted(study_dir.glob("*/*/seed*/metrics.json")):
        m = json.loads(path.read_text())
        point = path.parent.parent.parent.name
        for method in REPORTED_METHODS:
            if method not in m:
                continue
            row = {"point": point, "split": m["split"], "seed": m["seed"], "method": method}
            row.update({k: v for k, v in m[method].items() if isinstance(v, (int, float))})
            if method == "neuron":
                for b, vals in (m.get("compactness") or {}).items():
                    for i, v in enumerate(vals):
                        row[f"compactness/{b}_r{i + 1}"] = v
            rows.append(row)
    if not rows and (study_dir / "results.json").exists():  # a report folder: its committed rows
        rows = report_records(study_dir, "results.json")
    if committed is not None and not _same_dir(study_dir, committed) \
            and (Path(committed) / "results.json").exists():
        rows = _merge_committed(rows, report_records(Path(committed), "results.json"))
    return rows


def report_records(report_dir: Path, name: str) -> list[dict]:
    """The ``runs`` records of a report's ``results.json`` (rows, without the derived ``family``)
    or ``outcomes.json``."""
    return [{k: v for k, v in r.items() if k != "family"}
            for r in json.loads((report_dir / name).read_text())["runs"]]


def collect_outcomes(study_dir: str | Path, committed: str | Path | None = None) -> list[dict]:
    """Per-sample outcomes of every finished run under a study folder, one record per run.

    Record keys: ``point``, ``split``, ``seed``, ``seen``, ``unseen``, ``labels`` (test labels),
    ``test_sha`` (hash of the test sample indices) and ``methods`` (``{"neuron": ..., "baseline":
    ...}``, :func:`neuron.stats.per_sample_predictions` dicts). Runs written before outcomes
    were recorded are left out. A report folder (no runs, an ``outcomes.json``) gives its records;
    ``committed`` adds a report folder's records as :func:`collect_results` does.
    """
    study_dir = Path(study_dir)
    out = []
    for path in sorted(study_dir.glob("*/*/seed*/metrics.json")):
        m = json.loads(path.read_text())
        o = m.get("outcomes")
        if not o:
            continue
        out.append({"point": path.parent.parent.parent.name, "split": m["split"], "seed": m["seed"],
                    "seen": m["seen"], "unseen": m["unseen"], "test_sha": o.get("test_sha"),
                    "labels": o["labels"],
                    "methods": {k: o[k] for k in REPORTED_METHODS if k in o}})
    if not out and not any(study_dir.glob("*/*/seed*/metrics.json")) \
            and (study_dir / "outcomes.json").exists():
        out = report_records(study_dir, "outcomes.json")
    if committed is not None and not _same_dir(study_dir, committed) \
            and (Path(committed) / "outcomes.json").exists():
        out = _merge_committed(out, report_records(Path(committed), "outcomes.json"))
    return out


def choose_on_validation(rows: Sequence[dict], metric: str, by: str = "point",
                         method: str | None = None) -> dict:
    """Pick a hyperparameter setting using validation metrics only (never test numbers).

    Rule: the ``by`` value (a study point, e.g. ``neuron.logit_scale=30.0``) with the highest mean
    of ``metric`` over its rows (seeds, splits); ties go to the first in sorted order. Rows of
    other methods than ``method`` (when given) are ignored. ``metric`` must be a ``val/*`` key
    (the calibration twin's pseudo-unseen validation metrics, e.g. ``val/zsl_top1``,
    ``val/gzsl_h``) or a ``valfolds/*`` key (the pseudo-unseen validation folds,
    ``eval.val_folds``), computed from training subjects only. ``by="method"`` chooses among the
    methods of a run (:data:`neuron.evaluate.REPORTED_METHODS`).

    Args:
        rows: result rows as :func:`collect_results` returns them.
        metric: the ``val/*`` metric to maximise.
    Returns:
        ``{"choice": best value of by, "value": its mean, "means": {value of by: mean}, "n": {...}}``.
    Raises:
        ValueError: ``metric`` is not a ``val/`` metric, or no row has it.
    """
    if not metric.startswith(("val/", "valfolds/")):
        raise ValueError(f"choose_on_validation: {metric!r} is not a validation metric (val/*, valfolds/*); "
                         "choosing on test metrics is not allowed")
    groups: dict[str, list[float]] = {}
    for r in rows:
        if method is not None and r.get("method") != method:
            continue
        v = r.get(metric)
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        groups.setdefault(str(r[by]), []).append(float(v))
    if not groups:
        raise ValueError(f"choose_on_validation: no row has {metric!r}"
                         + (f" for method {method!r}" if method else ""))
    means = {k: float(np.mean(v)) for k, v in sorted(groups.items())}
    best = max(means, key=lambda k: (means[k], -sorted(means).index(k)))
    return {"choice": best, "value": means[best], "means": means,
            "n": {k: len(v) for k, v in sorted(groups.items())}}


def aggregate(results: list[dict], by: Sequence[str], exclude: Sequence[str] = ("seed",)):
    """Mean and standard deviation over runs (seeds, splits) of every numeric metric.

    ``results`` is a list of flat dicts (e.g. :func:`evaluate_run` outputs plus ``method``,
    ``protocol``, ``split``, ``seed`` fields). Rows are grouped by the ``by`` columns (pandas
    groupby); every other numeric column, except those in ``exclude``, gives ``<metric>_mean``
    and ``<metric>_std`` (sample std, ddof = 1; NaN for a single run). ``n`` counts the runs of
    each group. Returns a DataFrame with the ``by`` columns as ordinary columns.
    """
    df = pd.DataFrame(list(results))
    by = list(by)
    missing = [b for b in by if b not in df.columns]
    if missing:
        raise ValueError(f"aggregate: grouping columns missing from results: {missing}")
    metrics = [c for c in df.select_dtypes(include="number").columns
               if c not in by and c not in set(exclude)]
    g = df.groupby(by, sort=True, dropna=False)
    mean = g[metrics].mean().add_suffix("_mean")
    std = g[metrics].std(ddof=1).add_suffix("_std")
    cols = [x for m in metrics for x in (f"{m}_mean", f"{m}_std")]
    out = pd.concat([mean, std], axis=1)[cols]
    out.insert(0, "n", g.size())
    return out.reset_index()


#: Numbers reported in the Neuron paper (ZSL top-1 and GZSL H, %), shown beside reproductions.
PAPER_REPORTED = {
    "ntu60_55_5": {"zsl_top1": 86.9, "gzsl_h": 71.4}, "ntu60_48_12": {"zsl_top1": 62.7, "gzsl_h": 59.1},
    "ntu120_110_10": {"zsl_top1": 71.5, "gzsl_h": 63.3}, "ntu120_96_24": {"zsl_top1": 57.1, "gzsl_h": 53.6},
}


def summarise_study(rows: list[dict], report_dir: Path, study_name: str,
                    study_dir: Path | None = None, outcomes: list[dict] | None = None,
                    n_boot: int = 2000, boot_seed: int = 0) -> dict:
    """Aggregate a study's result rows; write the compact table, results.csv / results.json /
    outcomes.json / figures.

    ``table`` is the compact table of :func:`neuron.summary.study_table` (method x protocol,
    mean ± std, runs, test samples, difference to the reference with its bootstrap 95 % interval
    and verdict), also written as ``summary_table.csv`` / ``.md``; ``results.csv`` holds every
    aggregated column; ``results.json`` is strict JSON (README, "results.json"). ``outcomes``
    (default: read from ``study_dir``, :func:`collect_outcomes`) are the
    per-sample outcomes the intervals come from (``n_boot`` replicates, seed ``boot_seed``).
    Adds the paper's reported numbers for its NTU splits, sweep plots for ``k=v`` points, and,
    when the study has ``neuron`` and ``no_temporal_memory`` points, the temporal
    micro-prototypes of one test sequence per round with and without temporal memory (Fig. 5).
    Returns ``{"table": DataFrame, "files": [names], "figures": {name: Figure}}``.
    """
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    if not rows:
        raise FileNotFoundError(f"study {study_name}: no metrics.json found")
    rows = [{**r, "family": str(r["split"]).split("#")[0]} for r in rows]
    # one row per point and method; per split family too when a study mixes families
    # (e.g. UTD-MHAD 22/5 and 17/10): means over different class splits of one family only
    keys = ["point", "family", "method"] if len({r["family"] for r in rows}) > 1 else ["point", "method"]
    agg = aggregate(rows, by=keys)
    if outcomes is None and study_dir is not None:
        outcomes = collect_outcomes(study_dir)
    table, records, comparisons = sm.study_table(rows, outcomes, "family" in keys, n_boot, boot_seed)
    per_run = pd.DataFrame(rows)
    splits = {str(r["split"]).split("#")[0] for r in rows}
    if len(splits) == 1 and (rep := PAPER_REPORTED.get(next(iter(splits)))):
        table = table.assign(**{"paper reported ZSL top-1": rep["zsl_top1"],
                                "paper reported GZSL H": rep["gzsl_h"]})
    per_run.to_csv(report_dir / "runs.csv", index=False)
    if per_run["split"].nunique() > 1:  # also per split (mean and std over seeds)
        aggregate(rows, by=["point", "split", "method"]).to_csv(report_dir / "results_by_split.csv",
                                                                index=False)
    agg.to_csv(report_dir / "results.csv", index=False)
    table.to_csv(report_dir / "summary_table.csv")
    write_text(report_dir / "summary_table.md", sm.to_markdown(table))
    if outcomes:
        sm.write_outcomes(report_dir / "outcomes.json", study_name, outcomes)
    write_text(report_dir / "results.json", json.dumps(sm.strict_json({
        "study": study_name,
        "bootstrap": {"n_boot": n_boot, "seed": boot_seed, "level": 0.95,
                      "scheme": "several splits: t-interval over split-level values; one split: "
                                "paired bootstrap of test samples (neuron.stats.bootstrap_compare)"},
        "table": records, "comparisons": comparisons,
        "summary": agg.to_dict("records"), "runs": rows}), indent=2, allow_nan=False) + "\n")
    figs = {}
    points = per_run["point"].unique()
    params = sorted({p.split("=")[0] for pt in points for p in pt.split(",") if "=" in p})
    for param in params:
        df = per_run.copy()
        df[param] = df["point"].map(lambda pt: dict(x.split("=", 1) for x in pt.split(",") if "=" in x).get(param))
        try:
            df[param] = pd.to_numeric(df[param])
        except (ValueError, TypeError):
            pass
        fig = plot_metric_vs_param(df[df["method"] == "neuron"], param)
        save_figure(fig, report_dir / f"sweep_{param}")
        figs[f"sweep_{param}"] = fig
    if study_dir is not None:
        runs = {pt: sorted(Path(study_dir).glob(f"{pt}/*/seed*/scores.pt"))
                for pt in ("neuron", "no_temporal_memory")}
        if runs["neuron"] and runs["no_temporal_memory"]:
            w = torch_load(runs["neuron"][0])["temporal_prototypes"]
            wo = torch_load(runs["no_temporal_memory"][0])["temporal_prototypes"]
            fig = plot_prototype_heatmaps([q[0] for q in w], [q[0] for q in wo])
            save_figure(fig, report_dir / "temporal_prototypes_memory")
            figs["temporal_prototypes_memory"] = fig
    if "temporal_prototypes_memory" not in figs and (report_dir / "temporal_prototypes_memory.png").exists():
        # rebuilt without runs/ (their scores.pt): keep the figure those runs drew
        figs["temporal_prototypes_memory"] = Image(filename=str(report_dir / "temporal_prototypes_memory.png"))
    files = sorted(p.name for p in report_dir.iterdir() if p.is_file() and p.suffix in (".csv", ".json"))
    return {"table": table, "files": files, "figures": figs}
