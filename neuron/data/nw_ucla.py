"""Northwestern-UCLA Multiview Action3D reader (the CTR-GCN ``all_sqe`` JSON packaging).

Source: J. Wang et al., "Cross-view Action Modeling, Learning and Recognition", CVPR 2014;
JSON packaging distributed with CTR-GCN (Chen et al., ICCV 2021). Files
``a{aa}_s{ss}_e{ee}_v{vv}.json`` with keys ``file_name``, ``skeletons`` ``(T, 20, 3)`` and
``label`` (1-based index into the 10 classes). Joint order: :data:`NW_UCLA_20`.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from neuron import progress
from neuron.data.base import SkeletonDataset, check_sequence
from neuron.data.layouts import NW_UCLA_20
from neuron.errors import DataError

FILE_RE = re.compile(r"^a(\d+)_s(\d+)_e(\d+)_v(\d+)\.json$")


def parse_ucla_name(name: str) -> tuple[int, int, int, int]:
    """(action id, subject, episode, view) from ``a{aa}_s{ss}_e{ee}_v{vv}.json``.

    Raises:
        DataError: the name does not follow the pattern.
    """
    m = FILE_RE.match(name)
    if not m:
        raise DataError(f"{name}: not an NW-UCLA file name (a<aa>_s<ss>_e<ee>_v<vv>.json)")
    return tuple(int(g) for g in m.groups())  # type: ignore[return-value]


def read_ucla_file(path: str | Path, num_classes: int = 10) -> tuple[np.ndarray, int]:
    """Read one JSON file: ``((3, T, 20, 1) float32 sequence, 0-based label)``.

    Raises:
        DataError: naming the file and field for invalid JSON, a missing key, a wrong shape, an
            empty or non-finite sequence, or a label outside ``1..num_classes``.
    """
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: unreadable JSON ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict) or "skeletons" not in obj or "label" not in obj:
        raise DataError(f"{path}: expected an object with 'skeletons' and 'label'")
    label = obj["label"]
    if isinstance(label, bool) or not isinstance(label, int) or not 1 <= label <= num_classes:
        raise DataError(f"{path}: field 'label' = {label!r} is not a class in 1..{num_classes}")
    try:
        sk = np.asarray(obj["skeletons"], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: field 'skeletons' is not a numeric (T, 20, 3) array: {e}") from e
    if sk.ndim != 3 or sk.shape[1:] != (20, 3):
        if sk.size == 0:
            raise DataError(f"{path}: field 'skeletons' is empty (0 frames)")
        raise DataError(f"{path}: field 'skeletons' has shape {sk.shape}, expected (T, 20, 3)")
    seq = sk.transpose(2, 0, 1)[..., None]
    return check_sequence(seq, f"{path} field 'skeletons'", num_joints=20), label - 1


def read_nw_ucla(root: str | Path, class_names: list[str], skip_bad: bool = False) -> SkeletonDataset:
    """Read every ``a*_s*_e*_v*.json`` under ``root`` (the ``all_sqe`` folder).

    Returns:
        SkeletonDataset with sequences ``(3, T, 20, 1)``, labels from the ``label`` field,
        subjects, views (1..3) and trials (episodes) from the file names.

    Raises:
        DataError: missing folder or files, or a bad file unless ``skip_bad`` (then listed in
            ``skipped``).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: NW-UCLA all_sqe folder not found")
    files = sorted(root.glob("a*_s*_e*_v*.json"))
    if not files:
        raise DataError(f"{root}: no a*_s*_e*_v*.json files")
    seqs, labels, subjects, views, trials, names, skipped = [], [], [], [], [], [], []
    for f in progress.track(files, "reading nw_ucla", unit="file"):
        _, s, e, v = parse_ucla_name(f.name)
        try:
            seq, label = read_ucla_file(f, len(class_names))
        except DataError as err:
            if not skip_bad:
                raise
            skipped.append((str(f), str(err)))
            continue
        seqs.append(seq)
        labels.append(label)
        subjects.append(s)
        views.append(v)
        trials.append(e)
        names.append(f.stem)
    return SkeletonDataset("nw_ucla", seqs, np.array(labels), np.array(subjects), np.array(views),
                           np.array(trials), names, list(class_names), NW_UCLA_20, skipped)
