"""Print, as a Markdown table, how each committed split of a dataset places its near-duplicate
class pairs (``near_duplicates`` in ``params/datasets/<dataset>.yaml``) across seen and unseen.

    python scripts/near_duplicates.py kinder_gator kinder_gator_48_10 kinder_gator_53_5

The README's table is this script's output (tests/test_data_kinder_gator.py checks it).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neuron import config  # noqa: E402
from neuron.data.splits import near_duplicate_placement  # noqa: E402


def table(dataset: str, splits: list[str]) -> str:
    """The Markdown table (header + one row per split) for ``dataset`` and split families."""
    spec = config.load_dataset_spec(dataset)
    n = len(spec.class_names)

    def fmt(pairs):
        return ", ".join(f"{a}/{b}" for a, b in pairs) or "-"

    lines = [f"| split | unseen classes | pairs both seen (of {len(spec.near_duplicates)}) "
             "| one seen, one unseen | both unseen |", "|---|---|---|---|---|"]
    for name in splits:
        for r in near_duplicate_placement(config.load_split_spec(name), spec.near_duplicates, n):
            unseen = sorted(config.load_split_spec(name).unseen[int(r["split"].split("#")[1])])
            lines.append(f"| `{r['split']}` | {', '.join(map(str, unseen))} | {r['both_seen']} | {len(r['across'])}: {fmt(r['across'])} "
                         f"| {len(r['both_unseen'])}: {fmt(r['both_unseen'])} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    print(table(sys.argv[1], sys.argv[2:]))
