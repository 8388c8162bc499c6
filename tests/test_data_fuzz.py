"""Fuzz every reader with corrupt input: the only exception that may escape is DataError, and
its message names the file. Examples are bounded so the module runs in a few seconds."""
from __future__ import annotations

import importlib
import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuron.data.base import SkeletonDataset
from neuron.data.generic import read_generic_npz, write_generic_npz
from neuron.data.layouts import NTU_25
from neuron.data.ntu import load_ntu_sequence
from neuron.data.pku import read_pku_labels, read_pku_skeleton
from neuron.errors import DataError

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
JUNK = ["nan", "inf", "-inf", "NaN", "abc", "", "1e999", "-1e39", "99999999999999999999",
        "0x1F", "1,5", "\x00", "é", "3.5", "-7", "0", "1000000000"]
_TMP = Path(tempfile.mkdtemp(prefix="neuron_fuzz_"))


def _expect_ok_or_data_error(fn, path: Path):
    try:
        return fn(path)
    except DataError as exc:
        assert path.name in str(exc), str(exc)
        return None


@st.composite
def mutated_text(draw, base_lines: list[str]) -> str:
    lines = list(base_lines)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["token", "truncate", "drop", "dup", "count", "garbage"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "token":
            tok = lines[i].split() or [""]
            k = draw(st.integers(0, len(tok) - 1))
            tok[k] = draw(st.sampled_from(JUNK))
            lines[i] = " ".join(tok)
        elif op == "truncate":
            text = "\n".join(lines)
            cut = draw(st.integers(0, len(text)))
            lines = text[:cut].split("\n")
        elif op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "count":
            lines[i] = draw(st.sampled_from(["0", "1", "24", "26", "-1", "1000000000",
                                             "10" * 30]))
        else:
            lines[i] = draw(st.text(max_size=20))
    return "\n".join(lines)


def _ntu_base(frames: int = 3, bodies: int = 2) -> list[str]:
    rng = np.random.default_rng(0)
    out = [str(frames)]
    for f in range(frames):
        out.append(str(bodies))
        for b in range(bodies):
            out.append(f"{720575940379 + b} 0 1 1 1 1 0 0.1 0.2 2")
            out.append("25")
            for j in range(25):
                x, y, z = rng.uniform(-1, 1, 3)
                out.append(f"{x:.4f} {y:.4f} {z + 3:.4f} 1 2 3 4 0 0 0 1 2")
    return out


NTU_BASE = _ntu_base()


@FUZZ
@given(mutated_text(NTU_BASE))
def test_fuzz_ntu(text):
    path = _TMP / "S001C001P001R001A001.skeleton"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    seq = _expect_ok_or_data_error(load_ntu_sequence, path)
    if seq is not None:
        assert seq.ndim == 4 and seq.shape[0] == 3 and seq.shape[2:] == (25, 2)
        assert np.isfinite(seq).all() and seq.shape[1] >= 1


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.binary(max_size=300))
def test_fuzz_ntu_bytes(data):
    path = _TMP / "S001C001P001R001A002.skeleton"
    path.write_bytes(data)
    _expect_ok_or_data_error(load_ntu_sequence, path)


def test_ntu_huge_counts_fail_fast():
    import time
    for header in ("1000000000\n", "3\n1000000000\n", "1\n1\n1 0 1 1 1 1 0 0 0 2\n1000000000\n"):
        path = _TMP / "S001C001P001R001A003.skeleton"
        path.write_text(header + "1 2 3\n" * 30)
        t0 = time.perf_counter()
        with pytest.raises(DataError, match="S001C001P001R001A003"):
            load_ntu_sequence(path)
        assert time.perf_counter() - t0 < 0.5


PKU_BASE = [" ".join(f"{v:.3f}" for v in row)
            for row in np.random.default_rng(1).uniform(-1, 1, (4, 150))]


@FUZZ
@given(mutated_text(PKU_BASE))
def test_fuzz_pku_skeleton(text):
    path = _TMP / "0002-L.txt"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    seq = _expect_ok_or_data_error(read_pku_skeleton, path)
    if seq is not None:
        assert seq.shape[0] == 3 and seq.shape[2:] == (25, 2) and np.isfinite(seq).all()


@FUZZ
@given(mutated_text(["3,1,10,1", "51,11,40,0.5", "7,41,50,2"]))
def test_fuzz_pku_labels(text):
    path = _TMP / "0002-M.txt"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    clips = _expect_ok_or_data_error(lambda p: read_pku_labels(p, 50, 51), path)
    for lab, lo, hi in clips or []:
        assert 0 <= lab < 51 and 0 <= lo < hi <= 50


def _good_npz() -> bytes:
    rng = np.random.default_rng(0)
    ds = SkeletonDataset("f", [rng.standard_normal((3, t, 25, 2)).astype(np.float32)
                               for t in (2, 3)], [0, 1], [1, 2], [0, 0], [0, 0], ["a", "b"],
                         ["x", "y"], NTU_25)
    path = _TMP / "good.npz"
    write_generic_npz(path, ds)
    return path.read_bytes()


GOOD_NPZ = _good_npz()


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(GOOD_NPZ) - 1), st.integers(0, 255)),
                min_size=1, max_size=4), st.integers(0, len(GOOD_NPZ)))
def test_fuzz_generic_bytes(flips, cut):
    data = bytearray(GOOD_NPZ)
    for pos, val in flips:
        data[pos] = val
    path = _TMP / "fuzz.npz"
    path.write_bytes(bytes(data[:max(cut, len(data) // 2)]))
    _expect_ok_or_data_error(read_generic_npz, path)


_FIELD_VALUES = st.one_of(
    st.just(np.array([np.nan])), st.just(np.array([])), st.just(np.int64(3)),
    st.just(np.array(["a", "b"])), st.just(np.zeros((2, 3, 0, 25, 2), np.float32)),
    st.just(np.full((2, 3, 3, 25, 2), np.inf, np.float32)), st.just(np.array([0, 5])),
    st.just(np.array([-1, 0])), st.just(np.array([[0, 1]])), st.just(np.ones((2, 2)) * 1e300),
)


@FUZZ
@given(st.dictionaries(st.sampled_from(["sequences", "lengths", "labels", "class_names",
                                        "subjects", "views", "trials", "sample_names",
                                        "joint_names", "edges", "centre", "name"]),
                       _FIELD_VALUES, max_size=3))
def test_fuzz_generic_fields(changes):
    with np.load(io.BytesIO(GOOD_NPZ)) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    path = _TMP / "fields.npz"
    np.savez(path, **arrays)
    ds = _expect_ok_or_data_error(read_generic_npz, path)
    if ds is not None:
        assert all(np.isfinite(s).all() and s.shape[1] >= 1 for s in ds.sequences)


def test_generic_huge_header():
    buf = io.BytesIO()
    np.lib.format.write_array_header_2_0(
        buf, {"descr": "<i8", "fortran_order": False, "shape": (10**12,)})
    path = _TMP / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("lengths.npy", buf.getvalue())
    with pytest.raises(DataError, match="huge.npz"):
        read_generic_npz(path)


# ---- other engineers' single-file readers (present in this tree) ----

utd = importlib.import_module("neuron.data.utd_mhad")
ucla = importlib.import_module("neuron.data.nw_ucla")


def _good_mat() -> bytes:
    import scipy.io
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"d_skel": np.random.default_rng(0).uniform(-1, 1, (20, 3, 4))})
    return buf.getvalue()


GOOD_MAT = _good_mat()


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(GOOD_MAT) - 1), st.integers(0, 255)),
                min_size=1, max_size=4), st.integers(0, len(GOOD_MAT)))
def test_fuzz_utd_mat_bytes(flips, cut):
    data = bytearray(GOOD_MAT)
    for pos, val in flips:
        data[pos] = val
    path = _TMP / "a1_s1_t1_skeleton.mat"
    path.write_bytes(bytes(data[:cut]))
    _expect_ok_or_data_error(utd.read_utd_file, path)


@FUZZ
@given(st.sampled_from([np.full((20, 3, 2), np.nan), np.zeros((20, 3, 0)), np.zeros((19, 3, 2)),
                        np.zeros((20, 3)), np.array(["x"]), np.full((20, 3, 2), np.inf),
                        np.zeros((20, 3, 2), dtype=np.complex128)]),
       st.sampled_from(["d_skel", "other"]))
def test_fuzz_utd_mat_content(value, key):
    import scipy.io
    path = _TMP / "a2_s1_t1_skeleton.mat"
    scipy.io.savemat(str(path), {key: value})
    seq = _expect_ok_or_data_error(utd.read_utd_file, path)
    if seq is not None:
        assert np.isfinite(seq).all() and seq.shape[1] >= 1


_JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 12), st.floats(allow_nan=True),
              st.text(max_size=4)),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=12)


@FUZZ
@given(st.one_of(
    st.fixed_dictionaries({"file_name": st.text(max_size=5), "label": _JSON_VALUES,
                           "skeletons": _JSON_VALUES}),
    st.fixed_dictionaries({"label": st.integers(0, 11), "skeletons": st.sampled_from([
        [], [[[0.1, 0.2, 0.3]] * 20], [[[0.1, 0.2]] * 20], [[[0.1, 0.2, "x"]] * 20],
        [[[0.1, 0.2, 1e999]] * 20], [[[0.1, 0.2, 0.3]] * 19]])}),
    _JSON_VALUES))
def test_fuzz_ucla_json(obj):
    path = _TMP / "a01_s01_e01_v01.json"
    path.write_text(json.dumps(obj, allow_nan=True))
    res = _expect_ok_or_data_error(ucla.read_ucla_file, path)
    if res is not None:
        seq, label = res
        assert np.isfinite(seq).all() and 0 <= label < 10


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.binary(max_size=200))
def test_fuzz_ucla_bytes(data):
    path = _TMP / "a01_s01_e01_v02.json"
    path.write_bytes(data)
    _expect_ok_or_data_error(ucla.read_ucla_file, path)
