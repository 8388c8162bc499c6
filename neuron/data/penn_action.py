"""Penn Action reader (2-D keypoints in pixels, 13 joints, 15 sports and exercise actions).

Source: W. Zhang, M. Zhu, K. G. Derpanis, "From Actemes to Action: A Strongly-supervised
Representation for Detailed Action Understanding", ICCV 2013; the release's ``labels/`` folder
(https://dreamdragon.github.io/PennAction/) holds one MATLAB file ``NNNN.mat`` per clip (2,326)
with ``action`` (e.g. ``baseball_pitch``), ``pose`` (camera view: ``front``, ``back``, ``left``,
``right``), ``x`` and ``y`` ``(T, 13)`` in pixels, ``visibility`` ``(T, 13)`` (1 = visible),
``bbox`` ``(T, 4)``, ``dimensions`` (height, width, T), ``nframes`` and ``train`` (1 = official
training clip, -1 = test: 1,258 / 1,068). Joint order: :data:`neuron.data.layouts.PENN_ACTION_13`.

Each clip becomes a ``(2, T, 13, 1)`` sequence normalised by
:func:`neuron.data.transforms.normalise_2d` (centred on the hips, scaled by the visible joints'
box size, y up, invisible joints 0). The camera view is the sample's view id
(:data:`VIEWS`); the ``train`` flag is the sample's train flag (the ``official`` protocol).
Penn Action has no subject ids: subjects are all 0. ``bbox`` and ``dimensions`` are not used
(the box is taken from the visible joints so that clips from a pose estimator, without an
annotated box, are normalised the same way).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuron import progress
from neuron.data.base import SkeletonDataset, check_sequence
from neuron.data.layouts import PENN_ACTION_13
from neuron.data.transforms import normalise_2d
from neuron.errors import DataError

FILE_RE = re.compile(r"^(\d{4})\.mat$")
#: Camera view (the files' ``pose`` field) -> view id.
VIEWS = {"front": 1, "back": 2, "left": 3, "right": 4}
#: Variables every clip file must hold.
REQUIRED = ("action", "pose", "x", "y", "visibility", "train")


@dataclass
class PennClip:
    """One Penn Action clip as read from its file.

    Attributes:
        sequence: ``(2, T, 13, 1)`` float32, normalised (see the module docstring).
        visibility: ``(T, 13)`` bool, the file's visibility flags.
        action: the action as spelled in the file (``baseball_pitch``, ...).
        view: the camera view (``front``, ``back``, ``left``, ``right``).
        train: True for an official training clip, False for a test clip.
    """

    sequence: np.ndarray
    visibility: np.ndarray
    action: str
    view: str
    train: bool


def _string(mat: dict, key: str, path: Path) -> str:
    v = np.asarray(mat[key])
    if v.dtype.kind != "U" or v.size != 1:
        raise DataError(f"{path}: variable {key!r} is not a single string (dtype {v.dtype}, "
                        f"shape {v.shape})")
    return str(v.ravel()[0]).strip()


def read_penn_clip(path: str | Path) -> PennClip:
    """Read and normalise one Penn Action ``.mat`` clip file.

    Raises:
        DataError: naming the file if it is unreadable (truncated, not MATLAB), lacks one of
            :data:`REQUIRED`, has ``x`` / ``y`` / ``visibility`` of different or wrong shapes
            (expected ``(T, 13)``, T >= 1), non-numeric or non-finite visible coordinates, a
            ``train`` flag other than 1 / -1, an unknown camera view, or no visible joint.
    """
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as e:  # scipy raises many types on corrupt files
        raise DataError(f"{path}: unreadable MATLAB file ({type(e).__name__}: {e})") from e
    absent = [k for k in REQUIRED if k not in mat]
    if absent:
        raise DataError(f"{path}: missing variable(s) {absent} (found "
                        f"{sorted(k for k in mat if not k.startswith('__'))})")
    x, y, vis = (np.asarray(mat[k]) for k in ("x", "y", "visibility"))
    v = PENN_ACTION_13.num_joints
    for name, arr in (("x", x), ("y", y), ("visibility", vis)):
        if arr.ndim != 2 or arr.shape[1] != v or arr.shape[0] < 1:
            raise DataError(f"{path}: {name} has shape {arr.shape}, expected (T, {v}) with T >= 1")
        if arr.dtype.kind not in "fiub":
            raise DataError(f"{path}: {name} has non-numeric dtype {arr.dtype}")
    if not x.shape == y.shape == vis.shape:
        raise DataError(f"{path}: x {x.shape}, y {y.shape} and visibility {vis.shape} differ in "
                        "shape")
    flag = np.asarray(mat["train"]).ravel()
    if flag.size != 1 or flag.dtype.kind not in "iuf" or int(flag[0]) not in (1, -1):
        raise DataError(f"{path}: train is {flag.tolist()}, expected 1 (train) or -1 (test)")
    view = _string(mat, "pose", path)
    if view not in VIEWS:
        raise DataError(f"{path}: unknown camera view {view!r} (expected one of {sorted(VIEWS)})")
    action = _string(mat, "action", path)
    visible = vis != 0
    xy = np.stack([x, y]).astype(np.float64)[..., None]  # (2, T, 13, 1)
    seq = normalise_2d(xy, visible[..., None], PENN_ACTION_13.hips, str(path))
    seq = check_sequence(seq, str(path), num_joints=v, channels=2)
    return PennClip(seq, visible, action, view, int(flag[0]) == 1)


def read_clip(path: str | Path) -> np.ndarray:
    """One Penn Action clip as the model reads it: ``(C=2, T, V=13, M=1)`` float32, normalised.

    Raises:
        DataError: see :func:`read_penn_clip`; also a clip with no visible joint in any frame
            (nothing to recognise).
    """
    clip = read_penn_clip(path)
    if not clip.visibility.any():
        raise DataError(f"{path}: no joint is marked visible in any frame (all visibility flags "
                        "are 0)")
    return clip.sequence


def read_penn_action(root: str | Path, class_names: list[str], file_actions: list[str],
                     skip_bad: bool = False) -> SkeletonDataset:
    """Read every ``NNNN.mat`` under ``root`` (the release's ``labels`` folder).

    Args:
        root: the folder of clip files.
        class_names: readable class names; ``file_actions[i]`` is class ``i``'s ``action`` as
            spelled in the files.
        skip_bad: list bad files in ``skipped`` instead of raising.

    Returns:
        SkeletonDataset ``penn_action`` with sequences ``(2, T, 13, 1)``, labels 0-based, views
        from :data:`VIEWS`, subjects 0, trials = the clip number, ``train_flags`` the official
        split. A clip whose visibility flags are all 0 (``1516.mat`` of the release: a push-up
        clip with coordinates but no flag set) is kept as zeros, so that the counts and the
        official split stay the release's, and reported in ``missing`` as
        ``<clip> no visible joint`` (the dataset spec's ``known_missing`` lists the expected
        ones).

    Raises:
        DataError: the folder is missing or has no ``NNNN.mat`` file; a bad file or an action
            not in ``file_actions`` (naming the file) unless ``skip_bad``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: Penn Action labels folder not found")
    if len(file_actions) != len(class_names):
        raise DataError(f"{root}: {len(file_actions)} file actions for {len(class_names)} classes")
    files = sorted(p for p in root.glob("*.mat") if FILE_RE.match(p.name))
    if not files:
        raise DataError(f"{root}: no NNNN.mat clip files")
    label_of = {a: i for i, a in enumerate(file_actions)}
    seqs, labels, views, trials, names, flags, skipped, missing = [], [], [], [], [], [], [], []
    for f in progress.track(files, "reading penn_action", unit="file"):
        try:
            clip = read_penn_clip(f)
            if clip.action not in label_of:
                raise DataError(f"{f}: unknown action {clip.action!r} (not in the dataset's "
                                "file_actions)")
        except DataError as e:
            if not skip_bad:
                raise
            skipped.append((str(f), str(e)))
            continue
        seqs.append(clip.sequence)
        labels.append(label_of[clip.action])
        views.append(VIEWS[clip.view])
        trials.append(int(f.stem))
        names.append(f.stem)
        flags.append(clip.train)
        if not clip.visibility.any():
            missing.append(f"{f.stem} no visible joint")
    return SkeletonDataset("penn_action", seqs, np.array(labels, dtype=np.int64),
                           np.zeros(len(seqs), dtype=np.int64), np.array(views, dtype=np.int64),
                           np.array(trials, dtype=np.int64), names, list(class_names),
                           PENN_ACTION_13, skipped, missing=missing,
                           train_flags=np.array(flags, dtype=bool))
