"""UTD-MHAD and NW-UCLA load in full from the real data with the documented counts."""
import json

import numpy as np
import pytest
import scipy.io

from neuron import config
from neuron.data import load_processed, read_raw
from neuron.data.nw_ucla import read_ucla_file
from neuron.data.transforms import crop_resize, to_stream
from neuron.data.utd_mhad import read_utd_mhad
from neuron.errors import DataError


def test_utd_mhad_full(data_root):
    spec = config.load_dataset_spec("utd_mhad")
    ds = read_raw(spec, data_root)
    assert len(ds) == 861 and ds.num_classes == 27
    assert sorted(set(ds.subjects)) == list(range(1, 9)) and sorted(set(ds.trials)) == [1, 2, 3, 4]
    assert np.bincount(ds.labels).min() >= 31 and set(ds.labels) == set(range(27))
    assert all(s.shape[0] == 3 and s.shape[2:] == (20, 1) for s in ds.sequences)
    assert 40 <= ds.lengths.min() and ds.lengths.max() <= 125
    # cross-subject: odd subjects train
    assert spec.train_subjects == [1, 3, 5, 7]


def test_nw_ucla_full(data_root):
    spec = config.load_dataset_spec("nw_ucla")
    ds = read_raw(spec, data_root)
    assert len(ds) == 1484 and ds.num_classes == 10
    assert sorted(set(ds.views)) == [1, 2, 3] and len(set(ds.subjects)) == 10
    assert np.bincount(ds.labels).tolist() == [150, 152, 141, 173, 148, 149, 142, 142, 145, 142]


def test_processed_cache_rebuilds_on_change(data_root, tmp_path):
    spec = config.load_dataset_spec("utd_mhad")
    src = data_root / spec.subdir
    local = tmp_path / "root" / spec.subdir
    local.mkdir(parents=True)
    for f in sorted(src.glob("a1_s*_t1_skeleton.mat")) + sorted(src.glob("a2_s*_t1_skeleton.mat")):
        (local / f.name).write_bytes(f.read_bytes())
    p1 = load_processed(spec, tmp_path / "root", tmp_path / "cache")
    p2 = load_processed(spec, tmp_path / "root", tmp_path / "cache")
    assert p1.key == p2.key and np.array_equal(p1.data, p2.data)
    assert p1.data.shape[0] == 16 and np.allclose(p1.data[:, :, 0, spec_centre(p1)], 0)
    (local / "a1_s1_t1_skeleton.mat").unlink()
    p3 = load_processed(spec, tmp_path / "root", tmp_path / "cache")
    assert p3.key != p1.key and len(p3) == 15


def spec_centre(p):
    return p.layout.centre


def test_bad_utd_file_named_and_skip_listed(tmp_path):
    good = np.random.default_rng(0).normal(size=(20, 3, 30))
    scipy.io.savemat(tmp_path / "a1_s1_t1_skeleton.mat", {"d_skel": good})
    scipy.io.savemat(tmp_path / "a2_s1_t1_skeleton.mat", {"d_skel": good})
    nan = good.copy()
    nan[3, 1, 7] = np.nan
    scipy.io.savemat(tmp_path / "a3_s1_t1_skeleton.mat", {"d_skel": nan})
    (tmp_path / "a4_s1_t1_skeleton.mat").write_bytes(b"MATLAB 5.0 garbage")
    names = [f"c{i}" for i in range(27)]
    with pytest.raises(DataError, match="a3_s1_t1_skeleton.mat.*frame 7"):
        read_utd_mhad(tmp_path, names)
    ds = read_utd_mhad(tmp_path, names, skip_bad=True)
    assert len(ds) == 2 and [p.split("/")[-1] for p, _ in ds.skipped] == ["a3_s1_t1_skeleton.mat", "a4_s1_t1_skeleton.mat"]
    for f in ("a3_s1_t1_skeleton.mat", "a4_s1_t1_skeleton.mat"):
        (tmp_path / f).unlink()
    scipy.io.savemat(tmp_path / "a30_s1_t1_skeleton.mat", {"d_skel": good})
    with pytest.raises(DataError, match="a30_s1_t1_skeleton.mat.*unknown class"):
        read_utd_mhad(tmp_path, names)


def test_bad_ucla_file(tmp_path):
    f = tmp_path / "a01_s01_e00_v01.json"
    f.write_text(json.dumps({"file_name": "x", "skeletons": [], "label": 1}))
    with pytest.raises(DataError, match="a01_s01_e00_v01.json.*empty"):
        read_ucla_file(f)
    f.write_text(json.dumps({"file_name": "x", "skeletons": [[[0, 0, 0]] * 20], "label": 11}))
    with pytest.raises(DataError, match="label"):
        read_ucla_file(f)
    f.write_text("{not json")
    with pytest.raises(DataError, match="unreadable JSON"):
        read_ucla_file(f)


def test_crop_resize_and_streams():
    seq = np.zeros((3, 10, 2, 1), np.float32)
    seq[0, :, 1, 0] = np.arange(10)
    out = crop_resize(seq, 10, 20, 1.0, None)
    assert out.shape == (3, 20, 2, 1)
    assert np.all(np.diff(out[0, :, 1, 0]) >= 0) and out[0, 0, 1, 0] == 0 and out[0, -1, 1, 0] == 9
    half = crop_resize(seq, 10, 5, 0.5, None)  # centred half: frames 2..6
    assert half[0, 0, 1, 0] >= 2 and half[0, -1, 1, 0] <= 7
    parents = np.array([0, 0])
    bone = to_stream(seq, "bone", parents)
    assert np.allclose(bone[0, :, 1, 0], np.arange(10)) and np.allclose(bone[:, :, 0], 0)
    motion = to_stream(seq, "motion", parents)
    assert np.allclose(motion[0, :-1, 1, 0], 1) and np.allclose(motion[:, -1], 0)
