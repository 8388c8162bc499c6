"""Draw zero-shot splits (unseen class sets) for any dataset once, with a recorded seed.

New file::

    python scripts/draw_splits.py kinder_gator_48_10 --dataset kinder_gator --unseen 10 --count 5 --seed 12

Extend a committed family (its sets are kept first and unchanged; new sets never repeat one)::

    python scripts/draw_splits.py utd_mhad_22_5 --count 5 --seed 12

Each new set is ``sorted(rng.choice(num_classes, unseen, replace=False))`` with
``rng = numpy.random.default_rng(seed)``, redrawn while it repeats an earlier set. The file is
written to ``params/splits/<name>.yaml`` with the seed and the command in ``source``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neuron import config  # noqa: E402


def draw(num_classes: int, unseen: int, count: int, seed: int,
         keep: list[list[int]] | None = None) -> list[list[int]]:
    """``count`` distinct sorted unseen sets of size ``unseen`` from ``0..num_classes-1``: the
    ``keep`` sets first, then new draws from ``default_rng(seed)``.

    Raises:
        ValueError: ``keep`` has more than ``count`` sets or sets of another size, or there are
            not enough distinct sets.
    """
    keep = [sorted(k) for k in keep or []]
    if len(keep) > count or any(len(k) != unseen for k in keep):
        raise ValueError(f"cannot extend {len(keep)} sets of sizes {[len(k) for k in keep]} "
                         f"to {count} sets of {unseen}")
    rng = np.random.default_rng(seed)
    out = list(keep)
    for _ in range(100 * count):
        if len(out) == count:
            return out
        cand = sorted(int(c) for c in rng.choice(num_classes, unseen, replace=False))
        if cand not in out:
            out.append(cand)
    raise ValueError(f"could not draw {count} distinct sets of {unseen} of {num_classes} classes")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", help="split family name (params/splits/<name>.yaml)")
    ap.add_argument("--dataset", help="dataset (default: the existing file's)")
    ap.add_argument("--unseen", type=int, help="unseen classes per set (default: the existing file's)")
    ap.add_argument("--count", type=int, required=True, help="number of sets in the family")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", type=Path, help="output file (default params/splits/<name>.yaml)")
    args = ap.parse_args(argv)
    out = args.out or ROOT / "params" / "splits" / f"{args.name}.yaml"
    keep, old_source = [], ""
    if out.exists():
        old = config.load_split_spec(args.name, out.parent.parent) if args.out is None else \
            config.from_dict(config.SplitSpec, config.read_yaml(out), str(out))
        keep, old_source = old.unseen, old.source
        args.dataset = args.dataset or old.dataset
        args.unseen = args.unseen or len(old.unseen[0])
    if not args.dataset or not args.unseen:
        ap.error("--dataset and --unseen are needed for a new split family")
    n = len(config.load_dataset_spec(args.dataset).class_names)
    sets = draw(n, args.unseen, args.count, args.seed, keep)
    cmd = (f"python scripts/draw_splits.py {args.name} --dataset {args.dataset} --unseen {args.unseen} "
           f"--count {args.count} --seed {args.seed}")
    if keep:
        source = (f"{old_source.rstrip('.')}; sets {len(keep)}-{args.count - 1} drawn with seed "
                  f"{args.seed}: {cmd}")
    else:
        source = f"neuron project splits, drawn with seed {args.seed}: {cmd}; 0-based class ids"
    lines = [f"# Zero-shot splits of {args.dataset}: each entry lists the 0-based unseen classes; "
             "seen = the rest.",
             f"# {n - args.unseen}/{args.unseen}: {args.count} sets, drawn by scripts/draw_splits.py "
             "(kept sets first, unchanged).",
             f"name: {args.name}", f"dataset: {args.dataset}", "unseen:"]
    lines += [f"- [{', '.join(map(str, s))}]" for s in sets]
    lines.append(f"source: '{source}'")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sp = config.from_dict(config.SplitSpec, config.read_yaml(out), str(out))
    sp.check_against(n, str(out))
    print(f"{out}: {len(sets)} sets ({len(sets) - len(keep)} new)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
