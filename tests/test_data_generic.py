"""Generic "your own data" .npz: round trip and validation."""
from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import pytest

from neuron.data.base import SkeletonDataset
from neuron.data.generic import read_generic_npz, write_generic_npz
from neuron.data.layouts import JointLayout, NTU_25
from neuron.errors import DataError


def make_ds(n=4, v=25, m=2, layout=NTU_25, seed=0):
    rng = np.random.default_rng(seed)
    seqs = [rng.standard_normal((3, t, v, m)).astype(np.float32) for t in (5, 9, 1, 7)[:n]]
    return SkeletonDataset("mine", seqs, [0, 2, 1, 2][:n], [1, 1, 2, 3][:n], [0, 1, 0, 1][:n],
                           [1, 2, 3, 4][:n], [f"clip{i}" for i in range(n)],
                           ["wave", "jump", "sit"], layout)


def test_round_trip(tmp_path):
    ds = make_ds()
    path = tmp_path / "data.npz"
    write_generic_npz(path, ds)
    with np.load(path, allow_pickle=False) as z:
        assert z["sequences"].shape == (4, 3, 9, 25, 2) and z["sequences"].dtype == np.float32
        assert z["lengths"].tolist() == [5, 9, 1, 7]
        assert not z["sequences"][0, :, 5:].any()  # zero padding
    back = read_generic_npz(path)
    assert back.name == "mine" and back.layout == NTU_25
    assert back.class_names == ds.class_names and back.sample_names == ds.sample_names
    for f in ("labels", "subjects", "views", "trials"):
        np.testing.assert_array_equal(getattr(back, f), getattr(ds, f))
    for a, b in zip(back.sequences, ds.sequences):
        np.testing.assert_array_equal(a, b)


def test_custom_layout_and_optional_fields_default(tmp_path):
    lay = JointLayout("three", ("a", "b", "c"), ((1, 0), (2, 1)), 1)
    ds = make_ds(n=2, v=3, m=1, layout=lay)
    path = tmp_path / "d.npz"
    write_generic_npz(path, ds)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k not in ("views", "trials", "sample_names",
                                                         "layout_name", "name")}
    np.savez(tmp_path / "min.npz", **arrays)
    back = read_generic_npz(tmp_path / "min.npz")
    assert back.layout.edges == lay.edges and back.layout.centre == 1
    assert back.views.tolist() == [0, 0] and back.sample_names == ["sample_00000", "sample_00001"]
    assert back.name == "generic"


def _arrays(tmp_path):
    path = tmp_path / "ok.npz"
    write_generic_npz(path, make_ds())
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _mutations():
    def nan(a):
        a["sequences"] = a["sequences"].copy()
        a["sequences"][1, 0, 3, 2, 0] = np.nan
    def inf_pad(a):
        a["sequences"] = a["sequences"].copy()
        a["sequences"][0, 0, 8, 0, 0] = np.inf
    return {
        "labels": (lambda a: a.__setitem__("labels", np.array([0, 1, 7, 0])), "unknown class"),
        "lengths": (lambda a: a.__setitem__("lengths", np.array([5, 9, 1])), "lengths"),
        "empty": (lambda a: a.__setitem__("lengths", np.array([5, 0, 1, 7])), "empty"),
        "long": (lambda a: a.__setitem__("lengths", np.array([5, 10, 1, 7])), "lengths"),
        "nan": (nan, "non-finite"),
        "inf_pad": (inf_pad, "padding"),
        "missing": (lambda a: a.pop("subjects"), "subjects"),
        "class_dtype": (lambda a: a.__setitem__("class_names", np.array([1, 2, 3])),
                        "class_names"),
        "dup_class": (lambda a: a.__setitem__("class_names", np.array(["a", "a", "b"])),
                      "duplicate"),
        "seq_shape": (lambda a: a.__setitem__("sequences", a["sequences"][:, :1]), "sequences"),
        "seq_str": (lambda a: a.__setitem__("sequences", np.array(["x"])), "sequences"),
        "edges": (lambda a: a.__setitem__("edges", np.array([[0, 25]])), "edges"),
        "centre": (lambda a: a.__setitem__("centre", np.int64(30)), "centre"),
        "joint_names": (lambda a: a.__setitem__("joint_names", np.array(["a"])), "joint_names"),
        "subjects_float": (lambda a: a.__setitem__("subjects", np.ones(4)), "subjects"),
        "names_len": (lambda a: a.__setitem__("sample_names", np.array(["x"])), "sample_names"),
    }


@pytest.mark.parametrize("kind", sorted(_mutations()))
def test_validation_names_file_and_field(tmp_path, kind):
    arrays = _arrays(tmp_path)
    mutate, match = _mutations()[kind]
    mutate(arrays)
    path = tmp_path / f"bad_{kind}.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=match) as exc:
        read_generic_npz(path)
    assert f"bad_{kind}.npz" in str(exc.value)


def test_pickled_truncated_and_missing_files(tmp_path):
    arrays = _arrays(tmp_path)
    arrays["class_names"] = np.array(["a", "b", "c"], dtype=object)
    np.savez(tmp_path / "obj.npz", **arrays)
    with pytest.raises(DataError, match="obj.npz.*object"):
        read_generic_npz(tmp_path / "obj.npz")
    raw = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "trunc.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="trunc.npz"):
        read_generic_npz(tmp_path / "trunc.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(DataError, match="empty.npz"):
        read_generic_npz(tmp_path / "empty.npz")
    with pytest.raises(DataError, match="nope.npz"):
        read_generic_npz(tmp_path / "nope.npz")


def test_forged_huge_header_fails_fast(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 3, 10**4, 25, 2)})
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("sequences.npy", buf.getvalue() + b"\0" * 64)
    t0 = time.perf_counter()
    with pytest.raises(DataError, match="huge.npz.*sequences"):
        read_generic_npz(path)
    assert time.perf_counter() - t0 < 1.0


def test_write_rejects_bad(tmp_path):
    ds = make_ds()
    ds.sequences[1] = ds.sequences[1].copy()
    ds.sequences[1][0, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="out.npz"):
        write_generic_npz(tmp_path / "out.npz", ds)
    assert not (tmp_path / "out.npz").exists()


def test_2d_keypoints_round_trip_and_mixed_channels_refused(tmp_path):
    """C = 2 (image keypoints, e.g. COCO-17 from a pose estimator) round-trips; sequences of
    different C in one file are refused naming the sample; C = 4 is refused."""
    from neuron.data.layouts import LAYOUTS

    coco = LAYOUTS["coco_17"]
    rng = np.random.default_rng(1)
    seqs = [rng.standard_normal((2, t, 17, 1)).astype(np.float32) for t in (6, 3)]
    ds = SkeletonDataset("pose2d", seqs, [0, 1], [1, 2], [0, 0], [0, 0], ["a", "b"], ["wave", "sit"], coco)
    path = tmp_path / "pose2d.npz"
    write_generic_npz(path, ds)
    back = read_generic_npz(path)
    assert [s.shape for s in back.sequences] == [(2, 6, 17, 1), (2, 3, 17, 1)]
    np.testing.assert_array_equal(back.sequences[1], seqs[1])
    mixed = SkeletonDataset("mixed", [seqs[0], rng.standard_normal((3, 4, 17, 1)).astype(np.float32)],
                            [0, 1], [1, 2], [0, 0], [0, 0], ["a", "b"], ["wave", "sit"], coco)
    with pytest.raises(DataError, match=r"sequences\[1\] has C = 3"):
        write_generic_npz(tmp_path / "mixed.npz", mixed)
    bad = SkeletonDataset("c4", [rng.standard_normal((4, 4, 17, 1)).astype(np.float32)],
                          [0], [1], [0], [0], ["a"], ["wave"], coco)
    with pytest.raises(DataError, match="expected a"):
        write_generic_npz(tmp_path / "c4.npz", bad)
