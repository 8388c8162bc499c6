"""Preprocessing of skeleton sequences (numpy, layout ``(C, T, V, M)``; batches ``(N, C, T, V, M)``).

Follows the CTR-GCN family's feeders (Chen et al., ICCV 2021, ``feeders/tools.py``): a valid
crop of a random length ratio resized to a fixed window for training, a centred crop at test,
random rotation, and the bone and motion streams. Units: metres and frames.
"""
from __future__ import annotations

import numpy as np

from neuron.errors import DataError


def centre_sequence(seq: np.ndarray, centre: int) -> np.ndarray:
    """Subtract the first frame's ``centre`` joint (of person 0) from every joint and frame.

    Args:
        seq: ``(3, T, V, M)`` metres. Persons whose joints are all zero stay zero.
    Returns:
        ``(3, T, V, M)`` float32.
    """
    origin = seq[:, 0, centre, 0][:, None, None, None]
    present = np.abs(seq).sum(axis=(0, 2), keepdims=True) > 0  # (1, T, 1, M)
    return ((seq - origin) * present).astype(np.float32)


def crop_resize(seq: np.ndarray, length: int, window: int, ratio: float, offset: float | None,
                min_frames: int = 1) -> np.ndarray:
    """Crop ``ratio`` of the first ``length`` frames and resize it to ``window`` frames.

    Args:
        seq: ``(3, T, V, M)`` with ``T >= length >= 1``.
        length: number of valid frames.
        window: output frames.
        ratio: crop length as a fraction of ``length`` in (0, 1].
        offset: start of the crop as a fraction of the free room in [0, 1]; ``None`` centres it.
        min_frames: lower bound on the crop length (capped at ``length``): the official feeder's
            random crop keeps ``min(max(floor(length * ratio), 64), length)`` frames
            (``valid_crop_resize`` in ``feeders/tools.py``); 1 = no bound.
    Returns:
        ``(3, window, V, M)`` float32, linear interpolation in time (as ``F.interpolate`` with
        ``align_corners=False``).
    Raises:
        DataError: ``length`` < 1.
    """
    if length < 1:
        raise DataError("crop_resize: empty sequence (0 valid frames)")
    crop = int(min(max(np.floor(length * ratio), min_frames, 1), length))
    room = length - crop
    start = room // 2 if offset is None else int(round(offset * room))
    clip = seq[:, start:start + crop]
    # sample positions of the window's frame centres in the clip (align_corners=False)
    pos = (np.arange(window) + 0.5) * crop / window - 0.5
    pos = np.clip(pos, 0, crop - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, crop - 1)
    w = (pos - lo).astype(np.float32)[None, :, None, None]
    return (clip[:, lo] * (1 - w) + clip[:, hi] * w).astype(np.float32)


def rotation_matrix(angles: np.ndarray) -> np.ndarray:
    """``(3, 3)`` rotation from Euler angles (radians) about x, then y, then z."""
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, np.cos(ax), np.sin(ax)], [0, -np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, -np.sin(ay)], [0, 1, 0], [np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), np.sin(az), 0], [-np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return (rz @ ry @ rx).astype(np.float32)


def random_rotate(seq: np.ndarray, max_degrees: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate ``(3, T, V, M)`` by uniform random angles in ±``max_degrees`` about each axis."""
    if max_degrees <= 0:
        return seq
    angles = np.deg2rad(rng.uniform(-max_degrees, max_degrees, size=3))
    return np.einsum("ij,jtvm->itvm", rotation_matrix(angles), seq).astype(np.float32)


def to_stream(seq: np.ndarray, stream: str, parents: np.ndarray) -> np.ndarray:
    """Convert joints ``(3, T, V, M)`` to a stream.

    ``joint``: unchanged. ``bone``: joint minus its parent (root bone zero). ``motion``: frame
    t+1 minus frame t (last frame zero). ``bone_motion``: motion of bones.
    Raises:
        DataError: unknown stream.
    """
    if stream == "joint":
        return seq
    if stream in ("bone", "bone_motion"):
        seq = seq - seq[:, :, parents]
    if stream in ("motion", "bone_motion"):
        out = np.zeros_like(seq)
        out[:, :-1] = seq[:, 1:] - seq[:, :-1]
        seq = out
    elif stream != "bone":
        raise DataError(f"unknown stream {stream!r} (joint, bone, motion, bone_motion)")
    return seq.astype(np.float32)
