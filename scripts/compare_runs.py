"""Paired differences between (point, method) pairs of one or more studies, as a Markdown table.

Usage::

    python scripts/compare_runs.py reports/<study> [reports/<other study> ...] \\
        --pair POINT/METHOD POINT/METHOD [--pair ...] [--protocol honest] [--names A=B ...] \\
        [--seeds 0 ...] [--splits FAMILY#I ...] [--metrics zsl_top1 gzsl_h ...]

Reads each folder's ``outcomes.json`` (per-sample outcomes of every run; runs of several studies
are pooled, e.g. a study whose baseline was trained beside a variant and the study with the paper
configuration) and prints, for every ``--pair A B``, the difference A - B of ZSL top-1 and GZSL H
with its paired bootstrap 95 % interval (:func:`neuron.summary.compare`, ``common=True``: on the
(split, seed) runs both have), once per split family and, when there are several families, once
over all of them (splits resampled across families). The verdict is "better"/"worse" for A when
the interval excludes 0, else "no difference". ``--names POINT/METHOD=label`` sets the label a pair
is printed with. ``--seeds`` and ``--splits`` keep only the runs of those seeds and splits (e.g. a
statement about seed 0 alone, or about the splits a study had finished at one time); ``--metrics``
chooses the metrics printed (``zsl_top1``, ``gzsl_seen``, ``gzsl_unseen``, ``gzsl_h``; default ZSL
top-1 and GZSL H). Scheme and source of the bootstrap: :func:`neuron.stats.bootstrap_compare`.

Raises SystemExit naming the folder or pair when a folder has no ``outcomes.json``, a pair has no
runs with per-sample outcomes (after ``--seeds``/``--splits``), or a metric is unknown.
"""
import argparse
import json
from pathlib import Path

from neuron.summary import compare, diff_cell

METRICS = (("ZSL top-1", "zsl_top1"), ("GZSL H", "gzsl_h"))
LABELS = {"zsl_top1": "ZSL top-1", "gzsl_seen": "GZSL seen", "gzsl_unseen": "GZSL unseen",
          "gzsl_h": "GZSL H"}


def load_outcomes(folders) -> list[dict]:
    """Every run of the folders' ``outcomes.json``, in order."""
    runs = []
    for f in folders:
        path = Path(f) / "outcomes.json"
        if not path.exists():
            raise SystemExit(f"{path}: no such file (runs without per-sample outcomes cannot be compared)")
        runs += json.loads(path.read_text())["runs"]
    return runs


def select(runs: list[dict], seeds=None, splits=None) -> list[dict]:
    """The runs whose seed is in ``seeds`` and split in ``splits`` (None keeps every one)."""
    return [r for r in runs if (seeds is None or int(r["seed"]) in seeds)
            and (splits is None or str(r["split"]) in splits)]


def _pair(text: str) -> tuple[str, str]:
    point, sep, method = text.rpartition("/")
    if not sep or not point or not method:
        raise SystemExit(f"--pair {text!r}: expected POINT/METHOD, e.g. class_names/neuron")
    return point, method


def rows(outcomes, pairs, protocol: str = "honest", names=None, n_boot: int = 2000,
         metrics=METRICS):
    """One Markdown row per pair and family (and over all families when there are several)."""
    names = names or {}
    out = []
    for a, b in pairs:
        fams = sorted({str(r["split"]).split("#")[0] for r in outcomes if r["point"] == a[0]}
                      & {str(r["split"]).split("#")[0] for r in outcomes if r["point"] == b[0]})
        label = f"{names.get('/'.join(a), '/'.join(a))} − {names.get('/'.join(b), '/'.join(b))}"
        for fam in fams + ([None] if len(fams) > 1 else []):
            c = compare(outcomes, a, b, protocol=protocol, family=fam, n_boot=n_boot, common=True)
            if c is None:
                raise SystemExit(f"--pair {'/'.join(a)} {'/'.join(b)}: no common runs with "
                                 f"per-sample outcomes{'' if fam is None else ' in ' + fam}")
            cells = [diff_cell(c["metrics"][k], "/".join(a)) for _, k in metrics]
            out.append(f"| {label} | {fam or 'all'} | {c['n_runs'][0]} | " + " | ".join(cells) + " |")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--pair", nargs=2, action="append", required=True, metavar=("A", "B"))
    ap.add_argument("--protocol", default="honest")
    ap.add_argument("--names", nargs="*", default=[], metavar="POINT/METHOD=LABEL")
    ap.add_argument("--seeds", nargs="+", type=int, help="only the runs of these seeds")
    ap.add_argument("--splits", nargs="+", metavar="FAMILY#I", help="only the runs of these splits")
    ap.add_argument("--metrics", nargs="+", default=[k for _, k in METRICS], help=", ".join(LABELS))
    args = ap.parse_args(argv)
    names = dict(n.split("=", 1) for n in args.names)
    unknown = [m for m in args.metrics if m not in LABELS]
    if unknown:
        raise SystemExit(f"--metrics {' '.join(unknown)}: unknown; one of {', '.join(LABELS)}")
    metrics = [(LABELS[m], m) for m in args.metrics]
    outcomes = select(load_outcomes(args.folders), args.seeds, args.splits)
    if not outcomes:
        raise SystemExit(f"no runs of seeds {args.seeds} and splits {args.splits} in "
                         f"{', '.join(args.folders)}")
    print(f"| A − B ({args.protocol}) | splits | runs | "
          + " | ".join(f"Δ {c} [95 % CI]" for c, _ in metrics) + " |")
    print("|" + "---|" * (3 + len(metrics)))
    for line in rows(outcomes, [(_pair(a), _pair(b)) for a, b in args.pair], args.protocol, names,
                     metrics=metrics):
        print(line)


if __name__ == "__main__":
    main()
