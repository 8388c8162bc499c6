"""Zero-shot partitions of a dataset (the class lists are data: ``params/splits/*.yaml``).

A split of a dataset yields, by sample index:

- ``train``: seen-class samples of the training subjects / views, minus the validation part;
- ``val``: held-out seen-class samples of the training subjects / views (``val_fraction`` per
  class), never used for training; with ``pseudo_unseen`` seen classes designated as
  pseudo-unseen, this is where the honest protocol chooses the GZSL calibration constant;
- ``test_unseen``: unseen-class samples of the test subjects / views (ZSL);
- ``test``: all-class samples of the test subjects / views (GZSL).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuron.config import DatasetSpec, SplitSpec
from neuron.data.base import SkeletonDataset
from neuron.data.cache import ProcessedData
from neuron.errors import ConfigError, DataError


@dataclass
class ZeroShotSplit:
    """Sample indices and class lists of one zero-shot split (all ids 0-based dataset ids)."""

    seen: list[int]
    unseen: list[int]
    pseudo_unseen: list[int]
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    test_unseen: np.ndarray

    def counts(self) -> dict[str, int]:
        return {k: int(len(getattr(self, k))) for k in ("train", "val", "test", "test_unseen")}


def train_mask(ds: SkeletonDataset | ProcessedData, spec: DatasetSpec) -> np.ndarray:
    """(N,) bool: the sample belongs to the training subjects / views of the dataset protocol.

    ``cross_subject``: subject in ``train_subjects``; ``cross_view``: view in ``train_views``;
    ``cross_setup`` (NTU-120): even setup id (from the sample name); ``official``: the
    dataset's own train / test flag per sample (``train_flags``, e.g. Penn Action's ``train``).

    Raises:
        ConfigError: an unknown protocol, or ``official`` on data without train flags.
    """
    if spec.protocol == "cross_subject":
        return np.isin(ds.subjects, spec.train_subjects)
    if spec.protocol == "cross_view":
        return np.isin(ds.views, spec.train_views)
    if spec.protocol == "cross_setup":
        from neuron.data.ntu import ntu_setup
        return np.array([ntu_setup(n) % 2 == 0 for n in ds.sample_names], dtype=bool)
    if spec.protocol == "official":
        if len(ds.train_flags) != len(ds.labels):
            raise ConfigError(f"{spec.name}: protocol 'official' needs the dataset's train flags; "
                              f"this data has {len(ds.train_flags)} for {len(ds.labels)} samples")
        return np.asarray(ds.train_flags, dtype=bool)
    raise ConfigError(f"{spec.name}: unknown protocol {spec.protocol!r}")


def make_split(ds: SkeletonDataset | ProcessedData, spec: DatasetSpec, split: SplitSpec, index: int,
               val_fraction: float, pseudo_unseen: int, seed: int) -> ZeroShotSplit:
    """Partition ``ds`` for split ``index`` of ``split``.

    The validation part takes ``ceil(val_fraction * n_c)`` training samples of every seen class
    ``c`` (at least one, leaving at least one for training), chosen with ``seed``. The
    ``pseudo_unseen`` classes are seen classes drawn with ``seed``.

    Raises:
        DataError: a seen class has fewer than 2 training samples or an unseen class no test
            sample (the split cannot be evaluated).
    """
    split.check_against(ds.num_classes, split.name)
    seen, unseen = split.seen_unseen(index, ds.num_classes)
    rng = np.random.default_rng(seed)
    is_train = train_mask(ds, spec)
    train, val = [], []
    for c in seen:
        idx = np.flatnonzero(is_train & (ds.labels == c))
        if len(idx) < 2:
            raise DataError(f"{ds.name}: seen class {c} ({ds.class_names[c]}) has {len(idx)} "
                            "training samples; need at least 2")
        idx = rng.permutation(idx)
        n_val = min(max(int(np.ceil(val_fraction * len(idx))), 1), len(idx) - 1)
        val.extend(idx[:n_val])
        train.extend(idx[n_val:])
    classes = split.class_ids(ds.num_classes)
    test = np.flatnonzero(~is_train & np.isin(ds.labels, classes))
    test_unseen = np.flatnonzero(~is_train & np.isin(ds.labels, unseen))
    for c in unseen:
        if not np.any(ds.labels[test_unseen] == c):
            raise DataError(f"{ds.name}: unseen class {c} ({ds.class_names[c]}) has no test sample")
    pseudo = sorted(rng.choice(seen, size=pseudo_unseen, replace=False).tolist())
    return ZeroShotSplit(seen, unseen, pseudo, np.sort(np.array(train, dtype=np.int64)),
                         np.sort(np.array(val, dtype=np.int64)), test, test_unseen)


def near_duplicate_placement(split: SplitSpec, pairs: list[tuple[int, int]] | list[list[int]],
                             num_classes: int) -> list[dict]:
    """How each split of a family places near-duplicate class pairs.

    A pair split ``across`` seen and unseen gives the model a seen class that differs from an
    unseen one in a single detail (side, effort), which usually makes that unseen class easier;
    a pair ``both_unseen`` asks the model to tell two unseen classes apart by that detail alone,
    which is hard. Pairs are the dataset spec's ``near_duplicates`` (0-based class ids).

    Returns:
        One dict per split index: ``split`` (``<name>#<i>``), ``both_seen`` (count),
        ``across`` and ``both_unseen`` (lists of pairs, as ``(a, b)`` tuples).
    """
    rows = []
    for i in range(len(split.unseen)):
        _, unseen = split.seen_unseen(i, num_classes)
        u = set(unseen)
        placed = {"both_seen": [], "across": [], "both_unseen": []}
        for a, b in pairs:
            k = (a in u) + (b in u)
            placed[("both_seen", "across", "both_unseen")[k]].append((int(a), int(b)))
        rows.append({"split": f"{split.name}#{i}", "both_seen": len(placed["both_seen"]),
                     "across": placed["across"], "both_unseen": placed["both_unseen"]})
    return rows
