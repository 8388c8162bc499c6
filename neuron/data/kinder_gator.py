"""Kinder-Gator skeleton reader (Kinect v1, 10 adults and 10 children, 58 actions).

Source: A. Aloba et al., "Kinder-Gator: The UF Kinect Database of Child and Adult Motion",
Eurographics 2018 short papers; data and ``README.txt`` in the public repository
``hayeesha/Kinder-Gator``. Files ``<Adults|Children>/POSE-p<subject>_<order>-<Action-Name>-<unix
ms>.csv``: a header row, then one row per frame with ``Timestamp``, 60 columns
``<Joint>X, <Joint>Y, <Joint>Z`` (metres, Kinect SDK joint names such as ``HipCenter`` or
``ShoulderLeft``) and, in the release, ``User-ID`` and ``Action`` columns repeating the file
name's subject and action. ``<order>`` is only the order in which the participant performed the
action; the class is the action name, looked up in the dataset spec's ``file_actions``.

The columns are mapped by name onto the spec's joint layout (``kinect_v1_20``, UTD-MHAD's order;
the files list the joints in the Kinect SDK order, hip centre first), so Kinder-Gator and
UTD-MHAD sequences share one layout.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from neuron import progress
from neuron.data.base import SkeletonDataset, check_sequence
from neuron.data.layouts import LAYOUTS, JointLayout
from neuron.errors import DataError

FILE_RE = re.compile(r"^POSE-p(\d+)_(\d+)-(.+)-(\d+)\.csv$")
#: Folder -> subject group.
GROUP_FOLDERS = {"Adults": "adult", "Children": "child"}


def parse_kg_name(name: str) -> tuple[int, int, str]:
    """(subject, performing order, action as spelled) from ``POSE-p<s>_<o>-<Action>-<ms>.csv``.

    Raises:
        DataError: the name does not follow the pattern.
    """
    m = FILE_RE.match(name)
    if not m:
        raise DataError(f"{name}: not a Kinder-Gator file name (POSE-p<subject>_<order>-<Action>-<ms>.csv)")
    return int(m.group(1)), int(m.group(2)), m.group(3)


def kinect_column(joint: str) -> str:
    """The file's column prefix of a layout joint name: ``left_shoulder`` -> ``ShoulderLeft``,
    ``hip_center`` -> ``HipCenter`` (Kinect SDK ``JointType`` names)."""
    parts = joint.split("_")
    if parts[0] in ("left", "right"):
        parts = parts[1:] + parts[:1]
    return "".join(p.capitalize() for p in parts)


def read_kg_file(path: str | Path, layout: JointLayout, subject: int | None = None,
                 action: str | None = None) -> np.ndarray:
    """Read one Kinder-Gator CSV as a ``(3, T, V, 1)`` float32 sequence in metres.

    Joints are taken by column name in ``layout`` order. When the file has ``User-ID`` /
    ``Action`` columns and ``subject`` / ``action`` are given, every row must agree with them.

    Raises:
        DataError: naming the file for an unreadable or empty file, a missing joint column, a
            short (truncated) row, a non-numeric cell, no frames, a non-finite value, or rows
            whose subject or action disagree with the file name.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: unreadable CSV ({type(e).__name__}: {e})") from e
    if not rows:
        raise DataError(f"{path}: empty file (no header row)")
    header = [c.strip() for c in rows[0]]
    col = {name: i for i, name in enumerate(header) if name}
    want = [f"{kinect_column(j)}{a}" for j in layout.joint_names for a in "XYZ"]
    absent = [w for w in want if w not in col]
    if absent:
        raise DataError(f"{path}: missing column(s) {absent[:6]}{' ...' if len(absent) > 6 else ''} "
                        f"in the header")
    idx = [col[w] for w in want]
    need = max(idx) + 1
    checks = [(col[k], str(v)) for k, v in (("User-ID", subject), ("Action", action))
              if k in col and v is not None]
    body = rows[1:]
    if not body:
        raise DataError(f"{path}: no frames after the header")
    out = np.empty((len(body), len(idx)), dtype=np.float64)
    for t, row in enumerate(body):
        if len(row) < need:
            raise DataError(f"{path}: frame {t} has {len(row)} cells, expected at least {need} "
                            "(truncated file?)")
        try:
            out[t] = [float(row[i]) for i in idx]
        except ValueError:
            bad = next(i for i in idx if not _is_float(row[i]))
            raise DataError(f"{path}: non-numeric value {row[bad]!r} in column {header[bad]} at "
                            f"frame {t}") from None
        for c, v in checks:
            if c < len(row) and row[c].strip() != v:
                raise DataError(f"{path}: column {header[c]} is {row[c]!r} at frame {t}, but the "
                                f"file name says {v!r}")
    seq = out.reshape(len(body), layout.num_joints, 3).transpose(2, 0, 1)[..., None]
    return check_sequence(seq, str(path), num_joints=layout.num_joints)


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def read_kinder_gator(root: str | Path, class_names: list[str], file_actions: list[str],
                      skip_bad: bool = False, layout: str | JointLayout = "kinect_v1_20"
                      ) -> SkeletonDataset:
    """Read ``root/Adults/POSE-*.csv`` and ``root/Children/POSE-*.csv``.

    Args:
        root: the dataset folder (``<data root>/kinder_gator``).
        class_names: readable class names; ``file_actions[i]`` is class ``i``'s action as spelled
            in the file names.
        skip_bad: list bad files in ``skipped`` instead of raising.
        layout: joint layout (name in :data:`LAYOUTS` or a :class:`JointLayout`).

    Returns:
        SkeletonDataset with sequences ``(3, T, 20, 1)`` metres, labels 0-based, subjects as in
        the files, trials = performing order, views 0, ``groups`` ``adult`` / ``child``,
        ``missing`` the absent (subject, action) recordings as ``p<subject> <Action>`` (the
        release lacks one: see the spec's ``known_missing``), reported, never raised.

    Raises:
        DataError: no ``Adults`` / ``Children`` folder or no files; a bad file, an unknown action
            or a malformed name (naming the file) unless ``skip_bad``; a subject in both folders
            or two files for the same subject and action.
    """
    root = Path(root)
    lay = LAYOUTS[layout] if isinstance(layout, str) else layout
    if len(file_actions) != len(class_names):
        raise DataError(f"{root}: {len(file_actions)} file actions for {len(class_names)} classes")
    folders = [(root / f, g) for f, g in GROUP_FOLDERS.items() if (root / f).is_dir()]
    if not folders:
        raise DataError(f"{root}: no Adults/ or Children/ folder (Kinder-Gator layout)")
    files = [(p, g) for folder, g in folders for p in sorted(folder.glob("POSE-*.csv"))]
    if not files:
        raise DataError(f"{root}: no POSE-*.csv files under Adults/ or Children/")
    label_of = {a: i for i, a in enumerate(file_actions)}
    seqs, labels, subjects, orders, names, groups, skipped = [], [], [], [], [], [], []
    group_of: dict[int, str] = {}
    seen: dict[tuple[int, int], Path] = {}
    for f, g in progress.track(files, "reading kinder_gator", unit="file"):
        try:
            s, order, action = parse_kg_name(f.name)
            if action not in label_of:
                raise DataError(f"{f}: unknown action {action!r} (not in the dataset's file_actions)")
            seq = read_kg_file(f, lay, s, action)
        except DataError as e:
            msg = str(e) if str(f) in str(e) else f"{f}: {e}"
            if not skip_bad:
                raise DataError(msg) from e
            skipped.append((str(f), msg))
            continue
        if group_of.setdefault(s, g) != g:
            raise DataError(f"{f}: subject {s} appears under both {group_of[s]} and {g} folders")
        label = label_of[action]
        if (s, label) in seen:
            raise DataError(f"{f}: a second recording of {action!r} for subject {s} "
                            f"(first: {seen[(s, label)].name})")
        seen[(s, label)] = f
        seqs.append(seq)
        labels.append(label)
        subjects.append(s)
        orders.append(order)
        names.append(f.stem)
        groups.append(g)
    missing = [f"p{s} {file_actions[c]}" for s in sorted(group_of) for c in range(len(file_actions))
               if (s, c) not in seen]
    return SkeletonDataset("kinder_gator", seqs, np.array(labels, dtype=np.int64),
                           np.array(subjects, dtype=np.int64), np.zeros(len(seqs), dtype=np.int64),
                           np.array(orders, dtype=np.int64), names, list(class_names), lay, skipped,
                           groups, missing)
