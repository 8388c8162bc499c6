"""UTD-MHAD skeleton reader.

Source: C. Chen, R. Jafari, N. Kehtarnavaz, "UTD-MHAD", ICIP 2015. Files
``a{action}_s{subject}_t{trial}_skeleton.mat`` (MATLAB v5) hold ``d_skel`` of shape
``(20 joints, 3 xyz in metres, T frames)`` in the joint order of ``Skeleton_joint_order.txt``
(:data:`neuron.data.layouts.KINECT_V1_20`). 27 actions, 8 subjects, 4 trials, 861 files.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from neuron import progress
from neuron.data.base import SkeletonDataset, check_sequence
from neuron.data.layouts import KINECT_V1_20
from neuron.errors import DataError

FILE_RE = re.compile(r"^a(\d+)_s(\d+)_t(\d+)_skeleton\.mat$")


def parse_utd_name(name: str) -> tuple[int, int, int]:
    """(action, subject, trial), all 1-based, from ``a{a}_s{s}_t{t}_skeleton.mat``.

    Raises:
        DataError: the name does not follow the pattern.
    """
    m = FILE_RE.match(name)
    if not m:
        raise DataError(f"{name}: not a UTD-MHAD skeleton file name (a<a>_s<s>_t<t>_skeleton.mat)")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def read_utd_file(path: str | Path) -> np.ndarray:
    """Read one UTD-MHAD ``.mat`` file as a ``(3, T, 20, 1)`` float32 sequence in metres.

    Raises:
        DataError: naming the file if it is unreadable, lacks ``d_skel``, has the wrong shape,
            no frames, or non-finite values.
    """
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as e:  # scipy raises many types on corrupt files
        raise DataError(f"{path}: unreadable MATLAB file ({type(e).__name__}: {e})") from e
    if "d_skel" not in mat:
        raise DataError(f"{path}: no variable 'd_skel' (found {sorted(k for k in mat if not k.startswith('__'))})")
    d = np.asarray(mat["d_skel"])
    if d.ndim == 2 and d.shape == (20, 3):
        d = d[:, :, None]
    if d.ndim != 3 or d.shape[0] != 20 or d.shape[1] != 3:
        raise DataError(f"{path}: d_skel has shape {d.shape}, expected (20, 3, T)")
    if not np.issubdtype(d.dtype, np.number):
        raise DataError(f"{path}: d_skel has non-numeric dtype {d.dtype}")
    seq = d.transpose(1, 2, 0)[..., None]  # (3, T, 20, 1)
    return check_sequence(seq, str(path), num_joints=20)


def read_utd_mhad(root: str | Path, class_names: list[str], skip_bad: bool = False) -> SkeletonDataset:
    """Read every ``a*_s*_t*_skeleton.mat`` under ``root`` (the ``Skeleton`` folder).

    Returns:
        SkeletonDataset with sequences ``(3, T, 20, 1)``, labels = action - 1, subjects 1..8,
        trials 1..4, views all 0.

    Raises:
        DataError: the folder is missing or has no skeleton files; a bad file (naming it) unless
            ``skip_bad`` is set, in which case it is listed in ``skipped``; an action outside
            ``class_names``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: UTD-MHAD skeleton folder not found")
    files = sorted(root.glob("a*_s*_t*_skeleton.mat"), key=lambda p: parse_utd_name(p.name))
    if not files:
        raise DataError(f"{root}: no a*_s*_t*_skeleton.mat files")
    seqs, labels, subjects, trials, names, skipped = [], [], [], [], [], []
    for f in progress.track(files, "reading utd_mhad", unit="file"):
        a, s, t = parse_utd_name(f.name)
        try:
            if not 1 <= a <= len(class_names):
                raise DataError(f"{f}: action {a} outside 1..{len(class_names)} (unknown class)")
            seq = read_utd_file(f)
        except DataError as e:
            if not skip_bad:
                raise
            skipped.append((str(f), str(e)))
            continue
        seqs.append(seq)
        labels.append(a - 1)
        subjects.append(s)
        trials.append(t)
        names.append(f.stem)
    return SkeletonDataset("utd_mhad", seqs, np.array(labels), np.array(subjects),
                           np.zeros(len(seqs)), np.array(trials), names, list(class_names),
                           KINECT_V1_20, skipped)
