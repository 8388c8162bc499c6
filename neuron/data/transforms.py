"""Preprocessing of skeleton sequences (numpy, layout ``(C, T, V, M)``; batches ``(N, C, T, V, M)``).

Follows the CTR-GCN family's feeders (Chen et al., ICCV 2021, ``feeders/tools.py``): a valid
crop of a random length ratio resized to a fixed window for training, a centred crop at test,
random rotation, and the bone and motion streams. Units: metres (3-D) or body-size units of
:func:`normalise_2d` (2-D), and frames. Functions take ``C = 3`` (xyz) or ``C = 2`` (image x, y)
unless they say otherwise.
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


def normalise_2d(xy: np.ndarray, visible: np.ndarray, hips: tuple[int, ...] | list[int],
                 source: str = "sequence") -> np.ndarray:
    """Normalise 2-D keypoints in pixels to a body-centred, body-sized frame.

    Per person over the whole sequence (so the body's own translation and size changes within
    the clip, e.g. a jump or a step towards the camera, are kept, as the 3-D pipeline keeps them
    by centring on the first frame only):

    - origin: the median over frames of the midpoint of the visible ``hips`` (one hip when only
      one is visible); when no hip is visible in any frame (upper-body clips such as Penn
      Action's guitar strumming), the median centre of the visible joints' bounding box;
    - scale: the median over frames of the size ``max(height, width)`` of the visible joints'
      bounding box, the person size by which the PCK keypoint metric normalises distances
      (Y. Yang and D. Ramanan, "Articulated Human Detection with Flexible Mixtures of Parts",
      TPAMI 2013, Sec. 6); frames with fewer than two distinct visible points are left out;
    - output ``((x - ox) / s, -(y - oy) / s)``: y is flipped so that up is positive, as in the
      3-D datasets (image rows grow downwards);
    - invisible joints are set to 0 (the origin) after normalisation, as ST-GCN's Kinetics feeder
      does for keypoints the pose estimator did not find (Yan, Xiong, Lin, AAAI 2018,
      ``feeder_kinetics.py``): their pixel positions are guesses (Penn Action) or absent
      (pose-estimator output), and keeping ``C = 2`` lets one model read both. A person with no
      visible joint in any frame is all zeros (as an absent person in the 3-D datasets).

    Args:
        xy: ``(2, T, V, M)`` pixel coordinates (x right, y down).
        visible: ``(T, V, M)`` visibility, nonzero = visible.
        hips: the layout's left and right hip indices (:attr:`JointLayout.hips`).
        source: the file or item named in errors.
    Returns:
        ``(2, T, V, M)`` float32 in units of the person's box size; invisible joints 0.
    Raises:
        DataError: naming ``source`` for mismatched shapes, non-finite visible coordinates, or a
            person with visible joints but no frame with a nonzero box (no scale).
    """
    xy = np.asarray(xy, dtype=np.float64)
    vis = np.asarray(visible) != 0
    if xy.ndim != 4 or xy.shape[0] != 2 or vis.shape != xy.shape[1:]:
        raise DataError(f"{source}: expected (2, T, V, M) coordinates and (T, V, M) visibility, "
                        f"got {xy.shape} and {vis.shape}")
    if not np.isfinite(xy[:, vis]).all():
        raise DataError(f"{source}: non-finite visible coordinate")
    out = np.zeros(xy.shape, dtype=np.float32)
    for m in range(xy.shape[3]):
        v = vis[..., m]  # (T, V)
        p = np.where(v, xy[..., m], 0.0)  # (2, T, V); invisible positions never enter
        if not v.any():
            continue
        lo = np.where(v, p, np.inf).min(axis=2)  # (2, T) box of the visible joints
        hi = np.where(v, p, -np.inf).max(axis=2)
        has = v.any(axis=1)  # (T,)
        size = (hi - lo).max(axis=0)
        good = has & (size > 0)
        if not good.any():
            raise DataError(f"{source}: person {m} has no frame with two distinct visible joints "
                            "(no body size to scale by)")
        scale = float(np.median(size[good]))
        hv = v[:, list(hips)] if len(hips) else np.zeros((v.shape[0], 0), dtype=bool)
        if hv.any():
            hp = p[:, :, list(hips)]  # (2, T, H)
            frames = hv.any(axis=1)
            mid = hp.sum(axis=2)[:, frames] / hv[frames].sum(axis=1)
            origin = np.median(mid, axis=1)
        else:
            origin = np.median((lo[:, has] + hi[:, has]) / 2, axis=1)
        q = (p - origin[:, None, None]) / scale
        q[1] = -q[1]
        out[..., m] = np.where(v, q, 0.0)
    return out


def rotation_matrix(angles: np.ndarray) -> np.ndarray:
    """``(3, 3)`` rotation from Euler angles (radians) about x, then y, then z."""
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, np.cos(ax), np.sin(ax)], [0, -np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, -np.sin(ay)], [0, 1, 0], [np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), np.sin(az), 0], [-np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return (rz @ ry @ rx).astype(np.float32)


def random_rotate(seq: np.ndarray, max_degrees: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate ``(3, T, V, M)`` by uniform random angles in ±``max_degrees`` about each axis, or
    ``(2, T, V, M)`` in the image plane by one such angle (the only rotation a 2-D view allows;
    joints at the origin, such as zeroed invisible ones, stay there).

    Raises:
        DataError: ``C`` is neither 2 nor 3.
    """
    if max_degrees <= 0:
        return seq
    if seq.shape[0] == 2:
        a = np.deg2rad(rng.uniform(-max_degrees, max_degrees))
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], dtype=np.float32)
    elif seq.shape[0] == 3:
        rot = rotation_matrix(np.deg2rad(rng.uniform(-max_degrees, max_degrees, size=3)))
    else:
        raise DataError(f"random_rotate: expected 2 or 3 channels, got shape {seq.shape}")
    return np.einsum("ij,jtvm->itvm", rot, seq).astype(np.float32)


def to_stream(seq: np.ndarray, stream: str, parents: np.ndarray) -> np.ndarray:
    """Convert joints ``(C, T, V, M)`` to a stream.

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
