"""Print a study's results (reports/<study>/results.json) as a Markdown table for the README.

Usage: python scripts/results_table.py reports/<study> [--val] [--brief] [--vs POINT]
``--val`` adds the validation metrics (the calibration twin's pseudo-unseen classes, and the
pseudo-unseen validation folds ``valfolds`` when the runs have them); ``--brief`` keeps the honest
protocol only; ``--vs POINT`` adds, for every other point, the honest difference of each method to
the same method at ``POINT`` (e.g. a sweep's value against the paper's), paired on the runs both
have, from the report's ``outcomes.json`` (:func:`neuron.summary.compare`, ``common=True``).
Numbers are copied from the study's results.json as they are (mean ± std over runs), with the
difference to the row's reference (its 95 % bootstrap interval and verdict; "n/a" for runs without
per-sample outcomes, "–" for rows without a reference).
"""
import argparse
import json
from pathlib import Path

from neuron.summary import _fmt_diff, compare, diff_cell

COLS = [("ZSL top-1", "zsl_top1"), ("GZSL seen", "gzsl_seen"), ("GZSL unseen", "gzsl_unseen"),
        ("GZSL H", "gzsl_h")]


def fmt(row, key):
    m, s = row.get(f"{key}_mean"), row.get(f"{key}_std")
    if m is None or m != m:
        return "–"
    return f"{m:.1f}" if s is None or s != s else f"{m:.1f} ± {s:.1f}"


DIFFS = [("ZSL top-1", "zsl_top1"), ("GZSL H", "gzsl_h")]


def fmt_diff(rec, key):
    if rec is None or not rec.get("reference"):
        return "–"
    d, ci = rec.get(f"{key}_diff"), rec.get(f"{key}_diff_ci")
    if d is None or not ci:
        return "n/a"
    return f"{_fmt_diff(d, ci)} {rec[f'{key}_verdict']} vs {rec['reference']}"


def fmt_vs(cmp, key, a, point):
    """One ``--vs`` cell from :func:`neuron.summary.compare` of ``a = (point, method)``."""
    if cmp is None:
        return "n/a"
    return f"{diff_cell(cmp['metrics'][key], '/'.join(a))} vs {point}"


def main(folder: str, val: bool = False, brief: bool = False, vs: str | None = None) -> None:
    path = Path(folder) / "results.json"
    if not path.is_file():
        raise SystemExit(f"{path}: no such file; a study's report folder has one after "
                         "`python -m neuron run` or `python -m neuron summarise`")
    res = json.loads(path.read_text())
    outcomes = None
    if vs is not None:
        if vs not in {r["point"] for r in res["summary"]}:
            raise SystemExit(f"--vs {vs}: no such point in {folder}/results.json")
        path = Path(folder) / "outcomes.json"
        outcomes = json.loads(path.read_text())["runs"] if path.exists() else []
    has_folds = any("valfolds/zsl_top1_mean" in r for r in res["summary"])
    protos = ["honest"] + ([] if brief else ["paper"]) + (["val"] if val else []) + \
        (["valfolds"] if val and has_folds else [])
    diff_protos = ["honest"] + ([] if brief else ["paper"])
    fam = "family" in res["summary"][0]
    head = ["point"] + (["splits"] if fam else []) + ["method", "runs"] + [f"{p} {c}" for p in protos for c, _ in COLS
                                          if not (p in ("val", "valfolds") and c not in ("ZSL top-1", "GZSL H"))]
    head += [f"Δ {p} {c} [95% CI]" for p in diff_protos for c, _ in DIFFS]
    if vs is not None:
        head += [f"Δ honest {c} vs {vs} [95% CI]" for c, _ in DIFFS]
    table = {(r["point"], r.get("family"), r["method"], r["protocol"]): r for r in res.get("table", [])}
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in res["summary"]:
        cells = [row["point"]] + ([row["family"]] if fam else []) + [row["method"], str(row["n"])]
        for p in protos:
            for c, k in COLS:
                if p in ("val", "valfolds") and c not in ("ZSL top-1", "GZSL H"):
                    continue
                cells.append(fmt(row, f"{p}/{k}"))
        for p in diff_protos:
            rec = table.get((row["point"], row.get("family"), row["method"], p))
            cells += [fmt_diff(rec, k) for _, k in DIFFS]
        if vs is not None:
            if row["point"] == vs:
                cells += ["–"] * len(DIFFS)
            else:
                a = (row["point"], row["method"])
                cmp = compare(outcomes, a, (vs, row["method"]), family=row.get("family"), common=True)
                cells += [fmt_vs(cmp, k, a, vs) for _, k in DIFFS]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="a study's report folder, e.g. reports/utd_mhad_paper")
    parser.add_argument("--val", action="store_true", help="add the validation metrics")
    parser.add_argument("--brief", action="store_true", help="the honest protocol only")
    parser.add_argument("--vs", metavar="POINT", help="difference of every other point to POINT")
    a = parser.parse_args()
    main(a.folder, a.val, a.brief, a.vs)
