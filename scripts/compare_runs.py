"""Paired differences between (point, method) pairs of one or more studies, as a Markdown table.

Usage::

    python scripts/compare_runs.py reports/<study> [reports/<other study> ...] \\
        --pair POINT/METHOD POINT/METHOD [--pair ...] [--protocol honest] [--names A=B ...]

Reads each folder's ``outcomes.json`` (per-sample outcomes of every run; runs of several studies
are pooled, e.g. a study whose baseline was trained beside a variant and the study with the paper
configuration) and prints, for every ``--pair A B``, the difference A - B of ZSL top-1 and GZSL H
with its paired bootstrap 95 % interval (:func:`neuron.summary.compare`, ``common=True``: on the
(split, seed) runs both have), once per split family and, when there are several families, once
over all of them (splits resampled across families). The verdict is "better"/"worse" for A when
the interval excludes 0, else "no difference". ``--names POINT/METHOD=label`` sets the label a pair
is printed with. Scheme and source of the bootstrap: :func:`neuron.stats.bootstrap_compare`.

Raises SystemExit naming the folder or pair when a folder has no ``outcomes.json`` or a pair has no
runs with per-sample outcomes.
"""
import argparse
import json
from pathlib import Path

from neuron.summary import compare, diff_cell

METRICS = (("ZSL top-1", "zsl_top1"), ("GZSL H", "gzsl_h"))


def load_outcomes(folders) -> list[dict]:
    """Every run of the folders' ``outcomes.json``, in order."""
    runs = []
    for f in folders:
        path = Path(f) / "outcomes.json"
        if not path.exists():
            raise SystemExit(f"{path}: no such file (runs without per-sample outcomes cannot be compared)")
        runs += json.loads(path.read_text())["runs"]
    return runs


def _pair(text: str) -> tuple[str, str]:
    point, sep, method = text.rpartition("/")
    if not sep or not point or not method:
        raise SystemExit(f"--pair {text!r}: expected POINT/METHOD, e.g. class_names/neuron")
    return point, method


def rows(outcomes, pairs, protocol: str = "honest", names=None, n_boot: int = 2000):
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
            cells = [diff_cell(c["metrics"][k], "/".join(a)) for _, k in METRICS]
            out.append(f"| {label} | {fam or 'all'} | {c['n_runs'][0]} | " + " | ".join(cells) + " |")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--pair", nargs=2, action="append", required=True, metavar=("A", "B"))
    ap.add_argument("--protocol", default="honest")
    ap.add_argument("--names", nargs="*", default=[], metavar="POINT/METHOD=LABEL")
    args = ap.parse_args(argv)
    names = dict(n.split("=", 1) for n in args.names)
    outcomes = load_outcomes(args.folders)
    print(f"| A − B ({args.protocol}) | splits | runs | "
          + " | ".join(f"Δ {c} [95 % CI]" for c, _ in METRICS) + " |")
    print("|---|---|---|---|---|")
    for line in rows(outcomes, [(_pair(a), _pair(b)) for a, b in args.pair], args.protocol, names):
        print(line)


if __name__ == "__main__":
    main()
