"""NTU RGB+D 60 / 120 reader: the official ``.skeleton`` text files, denoised and centred.

Sources:
    * Shahroudy et al., "NTU RGB+D: A Large Scale Dataset for 3D Human Activity Analysis",
      CVPR 2016 (60 classes, setups 1-17, subjects 1-40, cameras 1-3).
    * Liu et al., "NTU RGB+D 120: A Large-Scale Benchmark for 3D Human Activity
      Understanding", TPAMI 2020 (120 classes, setups 1-32, subjects 1-106).
    * The file format of ``Matlab/read_skeleton_file.m`` in github.com/shahroudy/NTURGB-D and the
      official lists of samples with missing skeletons shipped beside this module
      (``ntu_missing_60.txt``: 302 names, ``ntu_missing_120.txt``: 535 names).
    * The denoising and centring of the CTR-GCN family (``data/ntu/get_raw_skes_data.py``,
      ``get_raw_denoised_data.py``, ``seq_transformation.py``, originally from Microsoft's SGN):
      re-implemented here, not copied; see :func:`denoise_bodies`.

File format (one ``.skeleton`` file per sample, whitespace separated)::

    <frame count>
    per frame:  <body count>
       per body: bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence
                 handRightState isResticted leanX leanY trackingState      (10 values)
                 <joint count = 25>
                 25 lines: x y z depthX depthY colorX colorY orientW orientX orientY orientZ
                           trackingState                                   (12 values)

Coordinates ``x y z`` are Kinect v2 camera-space metres. File names are
``SsssCcccPpppRrrrAaaa`` (setup, camera, performer = subject, replication, action; 1-based).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from neuron import progress
from neuron.data.base import SkeletonDataset, check_sequence
from neuron.data.layouts import NTU_25
from neuron.errors import ConfigError, DataError

NUM_JOINTS = 25
MAX_BODIES_OUT = 2

# Cross-subject training subjects (Shahroudy 2016; Liu 2020, Sec. 4.1).
NTU60_XSUB_TRAIN = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
NTU120_XSUB_TRAIN = NTU60_XSUB_TRAIN + (
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86,
    89, 91, 92, 93, 94, 95, 97, 98, 100, 103,
)
# Cross-view training cameras (NTU60); cross-setup trains on even setup ids (NTU120).
NTU60_XVIEW_TRAIN_CAMERAS = (2, 3)

# Denoising thresholds of get_raw_denoised_data.py.
NOISE_LEN_THRES = 11          # a body seen in <= 11 frames is noise
NOISE_SPR_THRES1 = 0.8        # a frame is noisy when x-span > 0.8 * y-span
NOISE_SPR_THRES2 = 0.69754    # a body with >= 69.754 % noisy frames is noise

_NAME_RE = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")
_BODY_INFO_VALUES = 10
_JOINT_VALUES = 12


# --------------------------------------------------------------------------- file names


@dataclass(frozen=True)
class NtuName:
    """The fields of an ``SsssCcccPpppRrrrAaaa`` sample name (all 1-based ints)."""

    setup: int
    camera: int
    subject: int
    replication: int
    action: int


def parse_ntu_name(name: str, source: str | None = None) -> NtuName:
    """Parse ``SsssCcccPpppRrrrAaaa`` (a file stem, optionally with ``.skeleton``).

    Raises:
        DataError: naming ``source`` (default: the name) when the name does not match.
    """
    stem = Path(name).name
    if stem.endswith(".skeleton"):
        stem = stem[: -len(".skeleton")]
    m = _NAME_RE.match(stem)
    if not m:
        raise DataError(f"{source or name}: file name {stem!r} is not an NTU sample name "
                        f"SsssCcccPpppRrrrAaaa")
    return NtuName(*(int(g) for g in m.groups()))


def ntu_setup(sample_name: str) -> int:
    """Setup id (1-based) of an NTU sample name (the ``Sxxx`` field)."""
    return parse_ntu_name(sample_name).setup


def load_missing_list(spec: int | str | os.PathLike | Iterable[str]) -> set[str]:
    """Names of samples without (complete) skeletons.

    Args:
        spec: 60 or 120 for the official list shipped with neuron; a path to a text file with
            one sample name per line (``#`` comments, blank lines and the official header lines
            are ignored); or an iterable of names.

    Raises:
        DataError: the file is unreadable.
    """
    if isinstance(spec, int) and not isinstance(spec, bool):
        if spec not in (60, 120):
            raise ConfigError(f"NTU version must be 60 or 120, got {spec}")
        text = resources.files("neuron.data").joinpath(f"ntu_missing_{spec}.txt").read_text()
        return _names_from_text(text)
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read the missing-skeleton list: {exc}") from exc
        return _names_from_text(text)
    return {Path(str(s)).name.replace(".skeleton", "") for s in spec}


def _names_from_text(text: str) -> set[str]:
    out = set()
    for line in text.splitlines():
        tok = line.strip()
        if tok and _NAME_RE.match(tok):
            out.add(tok)
    return out


# --------------------------------------------------------------------------- raw parsing


@dataclass
class RawBody:
    """One tracked body of a sequence as in get_raw_skes_data.py.

    ``joints`` holds one (25, 3) array per frame the body was seen in; ``start`` is the index of
    its first frame among the frames that have at least one body. As in the reference, the body's
    frames are taken to be contiguous from ``start`` (``interval = start .. start + len - 1``).
    """

    body_id: str
    start: int
    joints: list[np.ndarray] = field(default_factory=list)
    motion: float = 0.0

    @property
    def length(self) -> int:
        return len(self.joints)

    @property
    def end(self) -> int:
        return self.start + self.length - 1

    def array(self) -> np.ndarray:
        """(len, 25, 3) float32."""
        return np.stack(self.joints).astype(np.float32)


def _motion(joints: np.ndarray) -> float:
    """Sum over x, y, z of the variance of all joint positions (over frames and joints)."""
    return float(np.sum(np.var(joints.reshape(-1, 3), axis=0)))


def read_ntu_skeleton(path: str | os.PathLike) -> tuple[dict[str, RawBody], int]:
    """Parse one official ``.skeleton`` file into raw bodies.

    Frames with no body are dropped (as get_raw_skes_data.py does). Memory use is bounded by
    the file size: declared frame, body and joint counts are checked against the lines that
    remain before anything is allocated.

    Returns:
        (bodies by bodyID in order of appearance, number of frames with at least one body).

    Raises:
        DataError: naming the file and line for an unreadable, empty, truncated or corrupt file,
            non-numbers, NaN / inf coordinates, a joint count other than 25, or a file whose
            frames are all empty.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text file ({exc})") from exc
    lines = text.splitlines()
    n_lines = len(lines)
    if not any(line.strip() for line in lines):
        raise DataError(f"{path}: empty file")

    pos = 0  # 0-based index of the next line

    def next_int(what: str, lo: int, hi: int) -> int:
        nonlocal pos
        if pos >= n_lines:
            raise DataError(f"{path}: line {pos + 1}: truncated file, expected {what}")
        tok = lines[pos].split()
        if len(tok) != 1:
            raise DataError(f"{path}: line {pos + 1}: expected a single integer ({what}), "
                            f"got {lines[pos].strip()[:60]!r}")
        try:
            val = int(tok[0])
        except ValueError:
            raise DataError(f"{path}: line {pos + 1}: {what} is not an integer: "
                            f"{tok[0][:40]!r}") from None
        if not lo <= val <= hi:
            raise DataError(f"{path}: line {pos + 1}: {what} {val} outside {lo}..{hi} "
                            f"(the file has {n_lines} lines)")
        pos += 1
        return val

    # Each frame needs at least its body-count line, so the frame count is bounded by the lines.
    num_frames = next_int("frame count", 1, n_lines - 1)
    bodies: dict[str, RawBody] = {}
    valid = -1
    for f in range(num_frames):
        remaining = n_lines - pos
        num_bodies = next_int(f"body count of frame {f + 1}", 0, max(0, (remaining - 1) // 27))
        if num_bodies == 0:
            continue
        valid += 1
        for b in range(num_bodies):
            if pos >= n_lines:
                raise DataError(f"{path}: line {pos + 1}: truncated file in frame {f + 1}")
            info = lines[pos].split()
            if len(info) != _BODY_INFO_VALUES:
                raise DataError(f"{path}: line {pos + 1}: body info of frame {f + 1} body "
                                f"{b + 1} has {len(info)} values, expected {_BODY_INFO_VALUES}")
            try:
                [float(v) for v in info[1:]]
                int(info[0])
            except ValueError:
                raise DataError(f"{path}: line {pos + 1}: non-numeric body info "
                                f"{lines[pos].strip()[:60]!r}") from None
            body_id = info[0]
            pos += 1
            nj = next_int(f"joint count of frame {f + 1} body {b + 1}", 0, n_lines)
            if nj != NUM_JOINTS:
                raise DataError(f"{path}: line {pos}: joint count {nj}, expected {NUM_JOINTS}")
            if pos + NUM_JOINTS > n_lines:
                raise DataError(f"{path}: line {n_lines + 1}: truncated file, frame {f + 1} "
                                f"body {b + 1} needs {NUM_JOINTS} joint lines")
            joints = _parse_joint_lines(path, lines, pos)
            pos += NUM_JOINTS
            if body_id in bodies:
                bodies[body_id].joints.append(joints)
            else:
                bodies[body_id] = RawBody(body_id, valid, [joints])
    for k in range(pos, n_lines):
        if lines[k].strip():
            raise DataError(f"{path}: line {k + 1}: unexpected data after the {num_frames} "
                            f"declared frames")
    if valid < 0:
        raise DataError(f"{path}: all {num_frames} frames have no body")
    if len(bodies) > 1:
        for body in bodies.values():
            body.motion = _motion(body.array())
    return bodies, valid + 1


def _parse_joint_lines(path: Path, lines: list[str], pos: int) -> np.ndarray:
    """Parse 25 joint lines starting at 0-based ``pos``; return (25, 3) float32 xyz."""
    block = lines[pos:pos + NUM_JOINTS]
    toks = [ln.split() for ln in block]
    for j, t in enumerate(toks):
        if len(t) != _JOINT_VALUES:
            raise DataError(f"{path}: line {pos + j + 1}: joint line has {len(t)} values, "
                            f"expected {_JOINT_VALUES}")
    try:
        vals = np.array(toks, dtype=np.float64)
    except ValueError:
        for j, t in enumerate(toks):
            try:
                np.array(t, dtype=np.float64)
            except ValueError:
                raise DataError(f"{path}: line {pos + j + 1}: non-numeric joint values "
                                f"{block[j].strip()[:60]!r}") from None
        raise  # pragma: no cover - unreachable
    xyz = vals[:, :3]
    if not np.isfinite(xyz).all():
        j = int(np.argwhere(~np.isfinite(xyz))[0][0])
        raise DataError(f"{path}: line {pos + j + 1}: non-finite joint coordinate (NaN or inf)")
    if np.abs(xyz).max() > 1e4:
        j = int(np.argwhere(np.abs(xyz) > 1e4)[0][0])
        raise DataError(f"{path}: line {pos + j + 1}: joint coordinate beyond 10 km; "
                        f"corrupt file")
    return xyz.astype(np.float32)


# --------------------------------------------------------------------------- denoising


@dataclass
class DenoiseInfo:
    """What :func:`denoise_bodies` did (for tests and logs)."""

    removed_by_length: list[str] = field(default_factory=list)
    removed_by_spread: list[str] = field(default_factory=list)
    actor1: list[str] = field(default_factory=list)
    actor2: list[str] = field(default_factory=list)
    dropped_overlapping: list[str] = field(default_factory=list)
    frames_removed: int = 0


def _valid_frames_by_spread(joints: np.ndarray) -> np.ndarray:
    """Indices of frames whose x-span <= 0.8 * y-span (joints: (n, 25, 3))."""
    xs = joints[:, :, 0].max(1) - joints[:, :, 0].min(1)
    ys = joints[:, :, 1].max(1) - joints[:, :, 1].min(1)
    return np.flatnonzero(xs <= NOISE_SPR_THRES1 * ys)


def denoise_bodies(bodies: dict[str, RawBody], num_frames: int,
                   info: DenoiseInfo | None = None) -> np.ndarray:
    """Select up to two actors and assemble them into a ``(T, 2, 25, 3)`` float32 array.

    Behaviour of CTR-GCN's ``get_raw_denoised_data.py``:

    * one body: it fills actor 1, actor 2 is zero, no frame is removed;
    * several bodies: (1) drop bodies seen in <= 11 frames; (2) while more than one body is
      left, drop a body when >= 69.754 % of its frames have x-span > 0.8 * y-span, otherwise
      lower its motion to the motion of its non-noisy frames; (3) sort by motion (sum of the
      per-axis variance of its joints), largest first; the first is actor 1; each next body
      joins actor 1 when its frame interval does not overlap actor 1's, else actor 2 when it
      does not overlap actor 2's (the reference starts actor 2's interval at [0, 0]), else it is
      dropped; (4) frames where both actors are all zero are removed.

    Departure from the reference: when the length filter would remove every body (the
    reference crashes), the length filter is not applied.

    Returns:
        ``(T', 2, 25, 3)`` float32, T' <= ``num_frames``; missing actors / frames are zeros.
    """
    info = info if info is not None else DenoiseInfo()
    out = np.zeros((num_frames, MAX_BODIES_OUT, NUM_JOINTS, 3), dtype=np.float32)
    if len(bodies) == 1:
        body = next(iter(bodies.values()))
        out[body.start:body.end + 1, 0] = body.array()
        info.actor1.append(body.body_id)
        return out

    kept = {k: b for k, b in bodies.items() if b.length > NOISE_LEN_THRES}
    if not kept:
        kept = dict(bodies)
    else:
        info.removed_by_length.extend(k for k in bodies if k not in kept)

    if len(kept) > 1:
        for key in list(kept):
            if len(kept) == 1:
                break
            body = kept[key]
            arr = body.array()
            valid = _valid_frames_by_spread(arr)
            n_noise = body.length - len(valid)
            if n_noise == 0:
                continue
            if n_noise / body.length >= NOISE_SPR_THRES2:
                del kept[key]
                info.removed_by_spread.append(key)
            else:
                body.motion = min(body.motion, _motion(arr[valid]))

    order = sorted(kept.values(), key=lambda b: b.motion, reverse=True)
    first = order[0]
    out[first.start:first.end + 1, 0] = first.array()
    info.actor1.append(first.body_id)
    s1, e1 = first.start, first.end
    s2, e2 = 0, 0
    for body in order[1:]:
        s, e = body.start, body.end
        if min(e1, e) - max(s1, s) <= 0:
            out[s:e + 1, 0] = body.array()
            info.actor1.append(body.body_id)
            s1, e1 = min(s, s1), max(e, e1)
        elif min(e2, e) - max(s2, s) <= 0:
            out[s:e + 1, 1] = body.array()
            info.actor2.append(body.body_id)
            s2, e2 = min(s, s2), max(e, e2)
        else:
            info.dropped_overlapping.append(body.body_id)

    keep = np.any(out.reshape(num_frames, -1) != 0, axis=1)
    info.frames_removed = int((~keep).sum())
    return out[keep]


def centre_on_first_frame(seq: np.ndarray, source: str = "") -> np.ndarray:
    """Translate ``(T, 2, 25, 3)`` so actor 1's spine_mid (joint 1) of its first non-zero frame
    is the origin (``seq_transformation.seq_translation``); all-zero actor frames stay zero.

    Raises:
        DataError: naming ``source`` when actor 1 is zero in every frame.
    """
    present = np.any(seq != 0, axis=(2, 3))  # (T, 2)
    first = np.flatnonzero(present[:, 0])
    if len(first) == 0:
        raise DataError(f"{source}: the main actor's joints are zero in every frame")
    origin = seq[first[0], 0, NTU_25.centre].copy()
    out = seq - origin
    out[~present] = 0.0
    return out.astype(np.float32)


def load_ntu_sequence(path: str | os.PathLike, info: DenoiseInfo | None = None) -> np.ndarray:
    """Read, denoise and centre one ``.skeleton`` file.

    Returns:
        ``(3, T, 25, 2)`` float32 metres, centred on actor 1's first-frame spine_mid.

    Raises:
        DataError: naming the file (and line) for any bad input (see :func:`read_ntu_skeleton`).
    """
    bodies, num_frames = read_ntu_skeleton(path)
    seq = denoise_bodies(bodies, num_frames, info)
    if seq.shape[0] == 0:
        raise DataError(f"{path}: no frame with non-zero joints after denoising")
    seq = centre_on_first_frame(seq, str(path))
    return check_sequence(seq.transpose(3, 0, 2, 1), str(path), NUM_JOINTS)


# --------------------------------------------------------------------------- dataset


def _skeleton_dir(root: Path) -> Path:
    for cand in (root / "nturgb+d_skeletons", root / "ntu" / "nturgb+d_skeletons"):
        if cand.is_dir():
            return cand
    return root


def read_ntu(root: str | os.PathLike, version: int = 60, class_names: Sequence[str] = (),
             missing_list: int | str | os.PathLike | Iterable[str] | None = None,
             skip_bad: bool = False,
             files: Iterable[str | os.PathLike] | None = None) -> SkeletonDataset:
    """Read NTU RGB+D 60 or 120 from its ``.skeleton`` files.

    Args:
        root: the folder of ``.skeleton`` files, or a folder holding ``nturgb+d_skeletons/``
            (or ``ntu/nturgb+d_skeletons/``, i.e. ``$NEURON_DATA_ROOT``).
        version: 60 (setups 1-17, actions 1-60) or 120 (all). With 60, files of NTU-120-only
            setups or actions are left out (they are not NTU60 samples).
        class_names: the caller's class names, index = action - 1 (60 or 120 of them).
        missing_list: samples to leave out: None = the official list for ``version`` shipped
            with neuron; a path to a list file; an iterable of names (``()`` for none). Left-out
            samples are recorded in ``ds.skipped``.
        skip_bad: record bad files in ``ds.skipped`` as (file, reason) instead of raising.
        files: read exactly these files (paths, or names relative to the skeleton folder)
            instead of every ``*.skeleton`` file.

    Returns:
        A :class:`SkeletonDataset` named ``ntu60`` / ``ntu120``: sequences ``(3, T, 25, 2)``
        float32 metres (denoised, centred; see :func:`load_ntu_sequence`), labels = action - 1,
        subjects = performer, views = camera, trials = replication, sample_names = file stems
        (the setup is :func:`ntu_setup` of the name), layout :data:`NTU_25`.

    Raises:
        ConfigError: bad ``version`` or ``class_names``.
        DataError: naming the file and line for a bad file (unless ``skip_bad``), an action
            outside ``class_names``, or no file found.
    """
    if version not in (60, 120):
        raise ConfigError(f"NTU version must be 60 or 120, got {version!r}")
    class_names = list(class_names)
    if len(class_names) != version:
        raise ConfigError(f"NTU{version} needs {version} class names, got {len(class_names)}")
    root = Path(root)
    skel_dir = _skeleton_dir(root)
    if files is None:
        if not skel_dir.is_dir():
            raise DataError(f"{root}: no such NTU skeleton folder")
        paths = sorted(skel_dir.glob("*.skeleton"))
    else:
        paths = [Path(p) if Path(p).is_absolute() or Path(p).exists() else skel_dir / p
                 for p in files]
        paths = sorted(paths, key=lambda p: p.name)
    missing = load_missing_list(version if missing_list is None else missing_list)

    seqs, labels, subjects, views, trials, names = [], [], [], [], [], []
    skipped: list[tuple[str, str]] = []
    for path in progress.track(paths, f"reading ntu{version}", unit="file"):
        try:
            meta = parse_ntu_name(path.name, str(path))
            if version == 60 and (meta.setup > 17 or meta.action > 60):
                continue
            stem = path.name[: -len(".skeleton")] if path.name.endswith(".skeleton") \
                else path.name
            if stem in missing:
                skipped.append((str(path), "in the missing-skeleton list"))
                continue
            if not 1 <= meta.action <= len(class_names):
                raise DataError(f"{path}: file name: action A{meta.action:03d} is not one of "
                                f"the {len(class_names)} classes")
            seq = load_ntu_sequence(path)
        except DataError as exc:
            if not skip_bad:
                raise
            skipped.append((str(path), str(exc)))
            continue
        seqs.append(seq)
        labels.append(meta.action - 1)
        subjects.append(meta.subject)
        views.append(meta.camera)
        trials.append(meta.replication)
        names.append(stem)
    if not seqs:
        raise DataError(f"{skel_dir}: no readable NTU{version} .skeleton file "
                        f"({len(skipped)} skipped)")
    return SkeletonDataset(f"ntu{version}", seqs, labels, subjects, views, trials, names,
                           class_names, NTU_25, skipped)


def ntu_train_mask(ds: SkeletonDataset, protocol: str = "xsub") -> np.ndarray:
    """Boolean (N,) mask of the training samples of an NTU benchmark protocol.

    Args:
        ds: a dataset from :func:`read_ntu` (its ``name`` picks NTU60 or NTU120 subjects).
        protocol: ``xsub`` (cross-subject: the official training subjects), ``xview``
            (cross-view, NTU60: cameras 2 and 3 train) or ``xset`` (cross-setup, NTU120: even
            setup ids train).

    Raises:
        ConfigError: unknown protocol.
    """
    if protocol == "xsub":
        train = NTU120_XSUB_TRAIN if ds.name == "ntu120" else NTU60_XSUB_TRAIN
        return np.isin(ds.subjects, train)
    if protocol == "xview":
        return np.isin(ds.views, NTU60_XVIEW_TRAIN_CAMERAS)
    if protocol == "xset":
        setups = np.array([ntu_setup(n) for n in ds.sample_names], dtype=np.int64)
        return setups % 2 == 0
    raise ConfigError(f"unknown NTU protocol {protocol!r}; use xsub, xview or xset")
