"""PKU-MMD phase I reader: long Kinect v2 videos cut into action clips by their label files.

Source: Liu et al., "PKU-MMD: A Large Scale Benchmark for Continuous Multi-Modal Human Action
Understanding", ACM MM workshop 2017, and the dataset's README
(https://www.icst.pku.edu.cn/struct/Projects/PKUMMD.html):

* ``skeleton/XXXX-V.txt`` (V in L, M, R: the left, middle and right camera): one line per frame
  with 150 values = 2 bodies x 25 joints x (x, y, z), Kinect v2 camera space in metres, NTU joint
  order; "there may be only one human, then the last 25 points will be filled with zero".
* ``label/XXXX-V.txt``: one line per action instance ``action_id, start_frame, end_frame,
  confidence`` (action_id 1-based over 51 classes; the confidence can be ignored).
* ``cross-subject.txt`` (from the dataset's Split archive): ``Training videos:`` followed by a
  comma-separated list of video stems, then ``Validataion videos:`` (sic) and the test stems.

The README does not say whether frame numbers are 0- or 1-based; by default they are read as
1-based and inclusive (a clip is rows ``start .. end`` of the file, counting from 1); pass
``one_based=False`` for 0-based, end-exclusive slicing ``rows[start:end]``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from neuron import progress
from neuron.data.base import SkeletonDataset, check_sequence
from neuron.data.layouts import NTU_25
from neuron.errors import ConfigError, DataError

NUM_JOINTS = 25
NUM_BODIES = 2
VALUES_PER_FRAME = NUM_BODIES * NUM_JOINTS * 3  # 150

VIEW_IDS = {"L": 1, "M": 2, "R": 3}
# ``subjects`` codes: PKU-MMD does not publish per-video subject ids, only the split lists.
SUBJECT_TRAIN, SUBJECT_TEST, SUBJECT_UNKNOWN = 1, 2, 0

_STEM_RE = re.compile(r"^(\d{4})-([LMR])$")


def _read_text(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc
    try:
        return raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text file ({exc})") from exc


def read_pku_skeleton(path: str | os.PathLike) -> np.ndarray:
    """Read one PKU-MMD skeleton file.

    Returns:
        ``(3, T, 25, 2)`` float32 metres (second body all zeros where only one person is seen).

    Raises:
        DataError: naming the file and line for an empty file, a line without 150 values,
            non-numbers, or NaN / inf.
    """
    path = Path(path)
    lines = [ln for ln in _read_text(path)]
    rows = []
    for i, line in enumerate(lines):
        tok = line.replace(",", " ").split()
        if not tok:
            if any(ln.strip() for ln in lines[i + 1:]):
                raise DataError(f"{path}: line {i + 1}: blank line inside the frames")
            break
        if len(tok) != VALUES_PER_FRAME:
            raise DataError(f"{path}: line {i + 1}: {len(tok)} values, expected "
                            f"{VALUES_PER_FRAME} (2 bodies x 25 joints x 3)")
        rows.append(tok)
    if not rows:
        raise DataError(f"{path}: empty skeleton file (0 frames)")
    try:
        arr = np.array(rows, dtype=np.float64)
    except ValueError:
        for i, tok in enumerate(rows):
            try:
                np.array(tok, dtype=np.float64)
            except ValueError:
                raise DataError(f"{path}: line {i + 1}: non-numeric value") from None
        raise  # pragma: no cover
    if not np.isfinite(arr).all():
        i = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise DataError(f"{path}: line {i + 1}: non-finite value (NaN or inf)")
    if np.abs(arr).max() > 1e4:
        i = int(np.argwhere(np.abs(arr) > 1e4)[0][0])
        raise DataError(f"{path}: line {i + 1}: coordinate beyond 10 km; corrupt file")
    seq = arr.astype(np.float32).reshape(-1, NUM_BODIES, NUM_JOINTS, 3).transpose(3, 0, 2, 1)
    return check_sequence(np.ascontiguousarray(seq), str(path), NUM_JOINTS)


def read_pku_labels(path: str | os.PathLike, num_frames: int, num_classes: int,
                    one_based: bool = True) -> list[tuple[int, int, int]]:
    """Read one label file into ``(label0, first_row, end_row_exclusive)`` triples.

    Args:
        path: ``label/XXXX-V.txt`` with lines ``action_id, start_frame, end_frame, confidence``.
        num_frames: rows of the matching skeleton file (the clip bounds are checked against it).
        num_classes: number of classes; action ids must be 1..num_classes.
        one_based: frames are 1-based inclusive (default) or 0-based end-exclusive.

    Raises:
        DataError: naming the file and line for an empty file, a line without 3 or 4 values,
            non-integers, an unknown class or a clip outside the video.
    """
    path = Path(path)
    out = []
    for i, line in enumerate(_read_text(path)):
        if not line.strip():
            continue
        tok = [t.strip() for t in line.replace(",", " ").split()]
        if len(tok) not in (3, 4):
            raise DataError(f"{path}: line {i + 1}: {len(tok)} values, expected "
                            f"'class, start, end, confidence'")
        try:
            cls, start, end = (int(t) for t in tok[:3])
            if len(tok) == 4:
                float(tok[3])
        except ValueError:
            raise DataError(f"{path}: line {i + 1}: non-integer class or frame in "
                            f"{line.strip()[:60]!r}") from None
        if not 1 <= cls <= num_classes:
            raise DataError(f"{path}: line {i + 1}: unknown class {cls} (expected 1.."
                            f"{num_classes})")
        lo, hi = (start - 1, end) if one_based else (start, end)
        if lo < 0 or hi <= lo or hi > num_frames:
            raise DataError(f"{path}: line {i + 1}: clip frames {start}..{end} outside the "
                            f"video's {num_frames} frames or empty")
        out.append((cls - 1, lo, hi))
    if not out:
        raise DataError(f"{path}: empty label file (no action clip)")
    return out


def read_pku_split(path: str | os.PathLike) -> tuple[set[str], set[str]]:
    """Read a split list: the official format (``Training videos:`` ... ``Validataion videos:``
    ...) or a plain list of test video stems separated by commas / whitespace.

    Returns:
        (training stems, test stems); for a plain list the training set is empty, meaning
        "every other video".

    Raises:
        DataError: naming the file when it is unreadable or lists no video.
    """
    path = Path(path)
    text = "\n".join(_read_text(path))
    m = re.search(r"Training videos:(.*?)Valid\w*ion videos:(.*)", text, re.S | re.I)
    if m:
        train, test = (set(t.strip() for t in part.replace("\n", ",").split(",") if t.strip())
                       for part in m.groups())
    else:
        train = set()
        test = set(t for t in re.split(r"[,\s]+", text) if t)
    bad = sorted(s for s in train | test if not _STEM_RE.match(s))
    if bad:
        raise DataError(f"{path}: not PKU-MMD video stems: {bad[:5]}")
    if not test:
        raise DataError(f"{path}: no test video listed")
    return train, test


def _find_split(root: Path) -> Path | None:
    for cand in (root / "cross-subject.txt", root / "split" / "cross-subject.txt",
                 root / "Split" / "cross-subject.txt"):
        if cand.is_file():
            return cand
    return None


def read_pku_mmd1(root: str | os.PathLike, class_names: Sequence[str], skip_bad: bool = False,
                  split_file: str | os.PathLike | None = None,
                  one_based: bool = True) -> SkeletonDataset:
    """Read PKU-MMD phase I and cut its videos into action clips.

    Args:
        root: folder holding ``skeleton/`` and ``label/`` (``$NEURON_DATA_ROOT/pku_mmd1``).
        class_names: the 51 class names, index = action_id - 1.
        skip_bad: record bad videos in ``ds.skipped`` as (file, reason) instead of raising.
        split_file: the cross-subject list; default ``root/cross-subject.txt`` (or under
            ``split/`` / ``Split/``). Without one, ``subjects`` are all 0 (unknown).
        one_based: how to read the label frames (see the module doc).

    Returns:
        A :class:`SkeletonDataset` named ``pku_mmd1``: one sample per labelled clip,
        ``(3, T, 25, 2)`` float32 metres as in the file (not centred), labels = action_id - 1,
        subjects = 1 (cross-subject training video) / 2 (test video) / 0 (no split list), views
        = 1, 2, 3 for L, M, R, trials = the 4-digit video number, sample_names =
        ``XXXX-V_start-end`` (frames as in the label file), layout :data:`NTU_25`.

    Raises:
        DataError: naming the file and line for a bad file (unless ``skip_bad``), a video
            with a skeleton but no label file or the reverse, or no video found.
    """
    class_names = list(class_names)
    if not class_names:
        raise ConfigError("PKU-MMD needs its class names (51 for phase I)")
    root = Path(root)
    skel_dir, label_dir = root / "skeleton", root / "label"
    for d in (skel_dir, label_dir):
        if not d.is_dir():
            raise DataError(f"{d}: no such PKU-MMD folder")
    split_path = Path(split_file) if split_file is not None else _find_split(root)
    train, test = read_pku_split(split_path) if split_path is not None else (set(), set())

    skel = {p.stem: p for p in skel_dir.glob("*.txt")}
    labs = {p.stem: p for p in label_dir.glob("*.txt")}
    seqs, labels, subjects, views, trials, names = [], [], [], [], [], []
    skipped: list[tuple[str, str]] = []
    for stem in progress.track(sorted(set(skel) | set(labs)), "reading pku_mmd1", unit="file"):
        path = skel.get(stem, labs.get(stem))
        try:
            m = _STEM_RE.match(stem)
            if not m:
                raise DataError(f"{path}: file name {stem!r} is not a PKU-MMD video XXXX-L/M/R")
            if stem not in labs:
                raise DataError(f"{path}: no label file {label_dir / (stem + '.txt')}")
            if stem not in skel:
                raise DataError(f"{path}: no skeleton file {skel_dir / (stem + '.txt')}")
            video = read_pku_skeleton(skel[stem])
            clips = read_pku_labels(labs[stem], video.shape[1], len(class_names), one_based)
        except DataError as exc:
            if not skip_bad:
                raise
            skipped.append((str(path), str(exc)))
            continue
        if split_path is None:
            subj = SUBJECT_UNKNOWN
        elif stem in test:
            subj = SUBJECT_TEST
        elif not train or stem in train:
            subj = SUBJECT_TRAIN
        else:
            subj = SUBJECT_UNKNOWN
        off = 1 if one_based else 0
        for lab, lo, hi in clips:
            seqs.append(np.ascontiguousarray(video[:, lo:hi]))
            labels.append(lab)
            subjects.append(subj)
            views.append(VIEW_IDS[m.group(2)])
            trials.append(int(m.group(1)))
            names.append(f"{stem}_{lo + off}-{hi - 1 + off}")
    if not seqs:
        raise DataError(f"{root}: no readable PKU-MMD video ({len(skipped)} skipped)")
    return SkeletonDataset("pku_mmd1", seqs, labels, subjects, views, trials, names,
                           class_names, NTU_25, skipped)


def pku_train_mask(ds: SkeletonDataset, protocol: str = "xsub") -> np.ndarray:
    """Boolean (N,) training mask of the cross-subject protocol (``xsub``): the clips of the
    split list's training videos (``subjects == 1``).

    Raises:
        DataError: on a dataset read without a split list.
        ConfigError: a protocol other than ``xsub``.
    """
    if protocol != "xsub":
        raise ConfigError(f"unknown PKU-MMD protocol {protocol!r}; only xsub is supported")
    if len(ds) and (ds.subjects == SUBJECT_UNKNOWN).all():
        raise DataError(f"{ds.name}: no cross-subject split list was read; pass "
                        f"split_file= (the dataset's Split/cross-subject.txt)")
    return ds.subjects == SUBJECT_TRAIN
