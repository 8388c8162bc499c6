"""The "your own data" format: one ``.npz`` file, loadable with ``allow_pickle=False``.

Fields (N samples, C = 3 coordinates in metres or C = 2 image coordinates, V joints, M persons,
E edges):

=================  ======================  ====================================================
field              dtype / shape           meaning
=================  ======================  ====================================================
``sequences``      float32 (N,C,T_max,V,M) C = 3: xyz in metres; C = 2: 2D keypoints already
                                          normalised (e.g. neuron.data.transforms.normalise_2d),
                                          invisible joints 0; zero-padded after each length
``lengths``        int (N,)                frames per sample, 1..T_max
``labels``         int (N,)                0-based index into ``class_names``
``class_names``    unicode (C_cls,)        class names, unique
``subjects``       int (N,)                subject / performer ids
``views``          int (N,), optional      camera / view ids (default 0)
``trials``         int (N,), optional      repetition ids (default 0)
``sample_names``   unicode (N,), optional  names (default ``sample_00000`` ...)
``joint_names``    unicode (V,)            joint names of the layout
``edges``          int (E, 2)              (child, parent) 0-based bone pairs
``centre``         int scalar              index of the centring joint
``layout_name``    unicode scalar, opt.    layout id (default ``custom``)
``name``           unicode scalar, opt.    dataset id (default ``generic``)
=================  ======================  ====================================================

Every field is validated on reading; any problem raises :class:`~neuron.errors.DataError`
naming the file and the field.
"""
from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from neuron.data.base import SkeletonDataset, check_sequence
from neuron.data.layouts import JointLayout
from neuron.errors import DataError
from neuron.io import atomic_path

REQUIRED = ("sequences", "lengths", "labels", "class_names", "subjects", "joint_names",
            "edges", "centre")
OPTIONAL = ("views", "trials", "sample_names", "layout_name", "name")


def write_generic_npz(path: str | os.PathLike, ds: SkeletonDataset) -> None:
    """Write ``ds`` in the generic format (compressed, atomically).

    Raises:
        DataError: a sequence is invalid (see :func:`~neuron.data.base.check_sequence`) or the
            sequences do not share V and M.
    """
    path = Path(path)
    if len(ds) == 0:
        raise DataError(f"{path}: refusing to write an empty dataset")
    seqs = [check_sequence(s, f"{path}: sequences[{i}]", channels=None) for i, s in enumerate(ds.sequences)]
    c, v, m = seqs[0].shape[0], seqs[0].shape[2], seqs[0].shape[3]
    for i, s in enumerate(seqs):
        if s.shape[0] != c:
            raise DataError(f"{path}: sequences[{i}] has C = {s.shape[0]}, sequences[0] has {c}")
    for i, s in enumerate(seqs):
        if s.shape[2:] != (v, m):
            raise DataError(f"{path}: sequences[{i}] has (V, M) = {s.shape[2:]}, "
                            f"sequences[0] has {(v, m)}")
    lengths = np.array([s.shape[1] for s in seqs], dtype=np.int64)
    padded = np.zeros((len(seqs), c, int(lengths.max()), v, m), dtype=np.float32)
    for i, s in enumerate(seqs):
        padded[i, :, :s.shape[1]] = s
    lay = ds.layout
    edges = np.array(lay.edges, dtype=np.int64).reshape(-1, 2)
    arrays = dict(
        sequences=padded, lengths=lengths, labels=ds.labels.astype(np.int64),
        class_names=np.array(list(ds.class_names), dtype=np.str_),
        subjects=ds.subjects.astype(np.int64), views=ds.views.astype(np.int64),
        trials=ds.trials.astype(np.int64),
        sample_names=np.array(list(ds.sample_names), dtype=np.str_),
        joint_names=np.array(list(lay.joint_names), dtype=np.str_), edges=edges,
        centre=np.int64(lay.centre), layout_name=np.str_(lay.name), name=np.str_(ds.name),
    )
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def _check_headers(path: Path) -> None:
    """Check every member's declared array size against its stored size before loading, so a
    forged header (e.g. 10^12 elements in a 1 KB file) fails fast without allocating."""
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                field = info.filename[:-4]
                with zf.open(info) as fh:
                    try:
                        version = np.lib.format.read_magic(fh)
                        if version == (1, 0):
                            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                        elif version == (2, 0):
                            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                        else:
                            raise ValueError(f"unsupported .npy version {version}")
                    except (ValueError, OSError, EOFError, SyntaxError) as exc:
                        raise DataError(f"{path}: field {field!r}: bad array header: "
                                        f"{exc}") from exc
                if dtype.hasobject:
                    raise DataError(f"{path}: field {field!r}: object arrays are not allowed "
                                    f"(the file must load with allow_pickle=False)")
                nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if nbytes > info.file_size:
                    raise DataError(f"{path}: field {field!r}: header declares shape {shape} "
                                    f"({nbytes} bytes) but the member holds {info.file_size} "
                                    f"bytes; truncated or corrupt file")
    except DataError:
        raise
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise DataError(f"{path}: not a valid .npz (zip) file: {exc}") from exc
    except (OSError, EOFError, ValueError, zipfile.LargeZipFile) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc


def _int_array(path: Path, z, field: str, n: int | None) -> np.ndarray:
    arr = z[field]
    if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "b"):
        raise DataError(f"{path}: field {field!r}: expected integers, got dtype {arr.dtype}")
    if arr.ndim != 1 or (n is not None and len(arr) != n):
        raise DataError(f"{path}: field {field!r}: expected shape ({n},), got {arr.shape}")
    return arr.astype(np.int64)


def _str_array(path: Path, z, field: str, n: int | None) -> list[str]:
    arr = z[field]
    if arr.dtype.kind != "U":
        raise DataError(f"{path}: field {field!r}: expected a unicode string array, got dtype "
                        f"{arr.dtype}")
    if arr.ndim != 1 or (n is not None and len(arr) != n):
        raise DataError(f"{path}: field {field!r}: expected shape ({n if n is not None else 'K'},)"
                        f", got {arr.shape}")
    return [str(s) for s in arr]


def _str_scalar(path: Path, z, field: str, default: str) -> str:
    if field not in z.files:
        return default
    arr = z[field]
    if arr.dtype.kind != "U" or arr.ndim != 0:
        raise DataError(f"{path}: field {field!r}: expected a unicode scalar, got dtype "
                        f"{arr.dtype} shape {arr.shape}")
    return str(arr)


def read_generic_npz(path: str | os.PathLike) -> SkeletonDataset:
    """Read and validate a generic-format ``.npz`` (see the module doc for the fields).

    Returns:
        A :class:`SkeletonDataset` with sequences ``(C, length_i, V, M)`` float32, C = 3 or 2 (the padding
        cut off) and a :class:`JointLayout` built from ``joint_names``, ``edges``, ``centre``.

    Raises:
        DataError: naming the file and the field for a missing file, a corrupt / truncated /
            pickled file, a missing field, a wrong dtype or shape, mismatched lengths, a label
            outside ``class_names``, duplicate class names, NaN / inf, an empty sequence, or a
            bad layout.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    _check_headers(path)
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - numpy raises many kinds for corrupt files
        raise DataError(f"{path}: not a readable .npz file: {exc}") from exc
    with z:
        try:
            return _read(path, z)
        except DataError:
            raise
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error,
                NotImplementedError, RuntimeError) as exc:
            raise DataError(f"{path}: corrupt field data: {exc}") from exc


def _read(path: Path, z) -> SkeletonDataset:
    missing = [f for f in REQUIRED if f not in z.files]
    if missing:
        raise DataError(f"{path}: missing field(s) {missing}")
    seqs = z["sequences"]
    if seqs.dtype.kind not in "fiu":
        raise DataError(f"{path}: field 'sequences': expected float32, got dtype {seqs.dtype}")
    if seqs.ndim != 5 or seqs.shape[1] not in (2, 3):
        raise DataError(f"{path}: field 'sequences': expected shape (N, 3 or 2, T_max, V, M), got "
                        f"{seqs.shape}")
    n, _, t_max, v, m = seqs.shape
    if n == 0:
        raise DataError(f"{path}: field 'sequences': no sample (N = 0)")
    if t_max == 0 or v == 0 or m == 0:
        raise DataError(f"{path}: field 'sequences': empty dimension in shape {seqs.shape}")
    lengths = _int_array(path, z, "lengths", n)
    labels = _int_array(path, z, "labels", n)
    subjects = _int_array(path, z, "subjects", n)
    views = _int_array(path, z, "views", n) if "views" in z.files else np.zeros(n, np.int64)
    trials = _int_array(path, z, "trials", n) if "trials" in z.files else np.zeros(n, np.int64)
    class_names = _str_array(path, z, "class_names", None)
    if not class_names:
        raise DataError(f"{path}: field 'class_names': empty")
    if len(set(class_names)) != len(class_names):
        dup = sorted({c for c in class_names if class_names.count(c) > 1})
        raise DataError(f"{path}: field 'class_names': duplicate names {dup[:5]}")
    names = (_str_array(path, z, "sample_names", n) if "sample_names" in z.files
             else [f"sample_{i:05d}" for i in range(n)])
    bad = np.flatnonzero((labels < 0) | (labels >= len(class_names)))
    if len(bad):
        raise DataError(f"{path}: field 'labels': sample {bad[0]} ({names[bad[0]]}) has label "
                        f"{labels[bad[0]]}, an unknown class (expected 0..{len(class_names) - 1})")
    bad = np.flatnonzero((lengths < 1) | (lengths > t_max))
    if len(bad):
        raise DataError(f"{path}: field 'lengths': sample {bad[0]} ({names[bad[0]]}) has length "
                        f"{lengths[bad[0]]} (expected 1..{t_max}; 0 = empty sequence)")

    joint_names = _str_array(path, z, "joint_names", v)
    edges = z["edges"]
    if edges.dtype.kind not in "iu" or edges.ndim != 2 or edges.shape[1] != 2:
        raise DataError(f"{path}: field 'edges': expected int (E, 2), got dtype {edges.dtype} "
                        f"shape {edges.shape}")
    if edges.size and (edges.min() < 0 or edges.max() >= v):
        raise DataError(f"{path}: field 'edges': joint index outside 0..{v - 1}")
    centre = z["centre"]
    if centre.dtype.kind not in "iu" or centre.size != 1:
        raise DataError(f"{path}: field 'centre': expected one integer, got dtype "
                        f"{centre.dtype} shape {centre.shape}")
    centre = int(centre.reshape(()))
    if not 0 <= centre < v:
        raise DataError(f"{path}: field 'centre': {centre} outside 0..{v - 1}")
    layout = JointLayout(_str_scalar(path, z, "layout_name", "custom"), tuple(joint_names),
                         tuple((int(a), int(b)) for a, b in edges), centre)
    name = _str_scalar(path, z, "name", "generic")

    sequences = []
    for i in range(n):
        arr = np.asarray(seqs[i, :, :int(lengths[i])])
        sequences.append(np.ascontiguousarray(
            check_sequence(arr, f"{path}: field 'sequences' sample {i} ({names[i]})", v, channels=None)))
        tail = seqs[i, :, int(lengths[i]):]
        if tail.size and not np.isfinite(tail).all():
            raise DataError(f"{path}: field 'sequences' sample {i} ({names[i]}): non-finite "
                            f"value (NaN or inf) in the padding")
    return SkeletonDataset(name, sequences, labels, subjects, views, trials, names, class_names,
                           layout)
