"""The in-memory dataset type every reader returns.

Layout: each sequence is ``(C, T, V, M)`` float32 (channels, frames, joints, persons): ``C = 3``
xyz in metres for depth-camera datasets, ``C = 2`` image x, y normalised by
:func:`neuron.data.transforms.normalise_2d` for 2-D keypoint datasets (Penn Action). Sequences of
a dataset share C, V and M but not T. Labels are 0-based class indices.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neuron.data.layouts import JointLayout
from neuron.errors import DataError


@dataclass
class SkeletonDataset:
    """Raw (unwindowed) skeleton sequences with their metadata.

    Attributes:
        name: dataset id (``utd_mhad``, ``nw_ucla``, ``ntu60``, ``ntu120``, ``pku_mmd1``, ...).
        sequences: list of N float32 arrays ``(C, T_i, V, M)`` (C = 3 metres, or C = 2
            normalised image coordinates), all finite, T_i >= 1.
        labels: (N,) int64 0-based class indices.
        subjects: (N,) int64 subject ids as in the dataset (1-based in most datasets).
        views: (N,) int64 camera / view / setup ids (0 where the dataset has none).
        trials: (N,) int64 trial / repetition / episode ids (0 where none).
        sample_names: N names (file stem, plus the clip range for cut videos).
        class_names: the dataset's class names, index = label.
        layout: the joint layout.
        skipped: files skipped with ``skip_bad=True`` as (file, reason) pairs; never silent.
        groups: N subject-group names (``adult`` / ``child`` in Kinder-Gator); empty = none.
        missing: recordings the dataset's file naming implies but that are absent (e.g.
            ``p565 Jump-as-high-as-you-can``), reported, not errors; empty = none.
        train_flags: (N,) bool, the dataset's own train / test assignment of each sample where
            its release ships one (Penn Action's ``train`` field), read by the ``official``
            protocol; empty = none.
    """

    name: str
    sequences: list[np.ndarray]
    labels: np.ndarray
    subjects: np.ndarray
    views: np.ndarray
    trials: np.ndarray
    sample_names: list[str]
    class_names: list[str]
    layout: JointLayout
    skipped: list[tuple[str, str]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    train_flags: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        n = len(self.sequences)
        self.train_flags = np.asarray(self.train_flags, dtype=bool)
        if len(self.train_flags) not in (0, n):
            raise DataError(f"{self.name}: {len(self.train_flags)} train flags for {n} sequences")
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.subjects = np.asarray(self.subjects, dtype=np.int64)
        self.views = np.asarray(self.views, dtype=np.int64)
        self.trials = np.asarray(self.trials, dtype=np.int64)
        for fld in ("labels", "subjects", "views", "trials"):
            if len(getattr(self, fld)) != n:
                raise DataError(f"{self.name}: {fld} has {len(getattr(self, fld))} entries, "
                                f"expected {n}")
        if len(self.sample_names) != n:
            raise DataError(f"{self.name}: {len(self.sample_names)} sample names for {n} sequences")
        if self.groups and len(self.groups) != n:
            raise DataError(f"{self.name}: {len(self.groups)} subject groups for {n} sequences")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            bad = int(np.flatnonzero((self.labels < 0) | (self.labels >= len(self.class_names)))[0])
            raise DataError(f"{self.name}: sample {self.sample_names[bad]} has label "
                            f"{self.labels[bad]} outside 0..{len(self.class_names) - 1}")

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def lengths(self) -> np.ndarray:
        """(N,) number of frames per sequence."""
        return np.array([s.shape[1] for s in self.sequences], dtype=np.int64)

    def subset(self, index: np.ndarray) -> "SkeletonDataset":
        """A new dataset with the samples at ``index`` (same classes and layout)."""
        index = np.asarray(index, dtype=np.int64)
        return SkeletonDataset(
            self.name, [self.sequences[i] for i in index], self.labels[index],
            self.subjects[index], self.views[index], self.trials[index],
            [self.sample_names[i] for i in index], list(self.class_names), self.layout,
            list(self.skipped), [self.groups[i] for i in index] if self.groups else [],
            list(self.missing), self.train_flags[index] if len(self.train_flags) else self.train_flags,
        )


def check_sequence(arr: np.ndarray, source: str, num_joints: int | None = None,
                   channels: int | None = 3) -> np.ndarray:
    """Validate one sequence ``(C, T, V, M)``: float32, finite, T >= 1; return it as float32.

    Args:
        channels: the required C (3 = xyz, 2 = image x, y); ``None`` accepts 2 or 3.

    Raises:
        DataError: naming ``source`` when the shape is wrong, the sequence is empty, or it holds
            NaN or inf.
    """
    arr = np.asarray(arr)
    allowed = (2, 3) if channels is None else (channels,)
    if arr.ndim != 4 or arr.shape[0] not in allowed:
        want = "(2 or 3, T, V, M)" if channels is None else f"({channels}, T, V, M)"
        raise DataError(f"{source}: expected a {want} sequence, got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise DataError(f"{source}: empty sequence (0 frames)")
    if num_joints is not None and arr.shape[2] != num_joints:
        raise DataError(f"{source}: expected {num_joints} joints, got {arr.shape[2]}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise DataError(f"{source}: non-numeric data of dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        t = int(np.argwhere(~np.isfinite(arr))[0][1])
        raise DataError(f"{source}: non-finite value (NaN or inf) at frame {t}")
    return arr
