"""Penn Action and 2-D keypoints: the reader on the real files and on corrupt ones, the 2-D
layouts, normalise_2d, the encoder with C = 2, the official protocol and the committed splits."""
import dataclasses
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.io
import torch

from conftest import real_data_root
from neuron import config
from neuron.config import ConfigError
from neuron.data import COCO_17, LAYOUTS, PENN_ACTION_13, load_processed, make_split, read_raw, train_mask
from neuron.data.base import SkeletonDataset, check_sequence
from neuron.data.layouts import JointLayout
from neuron.data.loader import WindowDataset
from neuron.data.penn_action import VIEWS, read_clip, read_penn_action, read_penn_clip
from neuron.data.transforms import normalise_2d, random_rotate, to_stream
from neuron.errors import DataError
from neuron.models import ShiftGCN
from neuron.stages import build_encoder

FILE_ACTIONS = ["baseball_pitch", "baseball_swing", "bench_press", "bowl", "clean_and_jerk",
                "golf_swing", "jump_rope", "jumping_jacks", "pullup", "pushup", "situp", "squat",
                "strum_guitar", "tennis_forehand", "tennis_serve"]


def _labels_dir():
    root = real_data_root()
    if root is None or not (root / "penn_action" / "labels").is_dir():
        pytest.skip("Penn Action not found under the data root (<data root>/penn_action/labels)")
    return root / "penn_action" / "labels"


@pytest.fixture(scope="module")
def penn():
    _labels_dir()
    return read_raw(config.load_dataset_spec("penn_action"), real_data_root())


def _clip(t=5, action="squat", train=1, pose="front", seed=0, drop=()):
    """A clip dict in the release's format (MATLAB types as scipy writes and reads them)."""
    rng = np.random.default_rng(seed)
    d = {"action": np.array([action]), "pose": np.array([pose]),
         "x": 100 + 50 * rng.random((t, 13)), "y": 50 + 150 * rng.random((t, 13)),
         "visibility": np.ones((t, 13), dtype=np.uint8), "train": np.array([[train]], dtype=np.int32),
         "bbox": np.tile([[90.0, 40.0, 160.0, 210.0]], (t, 1)),
         "dimensions": np.array([[360, 480, t]], dtype=np.uint16),
         "nframes": np.array([[t]], dtype=np.uint8)}
    for k in drop:
        d.pop(k)
    return d


def _write(path, **kw):
    scipy.io.savemat(str(path), _clip(**kw))
    return path


# --------------------------------------------------------------------------- real files
@pytest.mark.slow
def test_real_files(penn):
    spec = config.load_dataset_spec("penn_action")
    assert len(penn) == 2326 and penn.num_classes == 15 and penn.skipped == []
    assert spec.file_actions == FILE_ACTIONS and len(set(spec.class_names)) == 15
    counts = np.bincount(penn.labels, minlength=15)
    assert counts.sum() == 2326 and counts.min() >= 82 and counts[FILE_ACTIONS.index("squat")] == 231
    assert int(penn.train_flags.sum()) == 1258 and int((~penn.train_flags).sum()) == 1068
    assert penn.layout == PENN_ACTION_13
    assert sorted(set(penn.views.tolist())) == sorted(VIEWS.values())
    assert all(s.dtype == np.float32 and s.shape[0] == 2 and s.shape[2:] == (13, 1)
               for s in penn.sequences)
    assert 18 == penn.lengths.min() and penn.lengths.max() == 663
    assert penn.missing == spec.known_missing == ["1516 no visible joint"]
    assert not penn.sequences[penn.sample_names.index("1516")].any()
    # every class has official training and test clips
    for c in range(15):
        assert penn.train_flags[penn.labels == c].any() and (~penn.train_flags[penn.labels == c]).any()


def test_one_real_clip():
    path = _labels_dir() / "0001.mat"
    clip = read_penn_clip(path)
    raw = scipy.io.loadmat(str(path))
    t = raw["x"].shape[0]
    assert clip.sequence.shape == (2, t, 13, 1) and clip.sequence.dtype == np.float32
    assert clip.action == "baseball_pitch" and clip.view == "back" and clip.train is False
    assert np.array_equal(clip.visibility, raw["visibility"] != 0)
    np.testing.assert_array_equal(read_clip(path), clip.sequence)
    # invisible joints are exactly 0, visible ones in body-size units (the box is ~1)
    assert not clip.sequence[:, ~clip.visibility[:, :]].any()
    assert 0.2 < np.abs(clip.sequence).max() < 3


@pytest.mark.slow
def test_official_protocol_on_real_flags(penn):
    spec = config.load_dataset_spec("penn_action")
    split = config.load_split_spec("penn_action_12_3")
    assert np.array_equal(train_mask(penn, spec), penn.train_flags)
    for i in range(len(split.unseen)):
        zs = make_split(penn, spec, split, i, 0.2, 3, seed=0)
        assert penn.train_flags[zs.train].all() and penn.train_flags[zs.val].all()
        assert not penn.train_flags[zs.test].any()
        assert set(penn.labels[zs.test_unseen].tolist()) == set(split.unseen[i])
        assert not set(penn.labels[zs.train].tolist()) & set(split.unseen[i])


# --------------------------------------------------------------------------- corrupt files
def test_truncated_file(tmp_path):
    src = _labels_dir() / "0001.mat"
    bad = tmp_path / "0001.mat"
    bad.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(DataError, match="0001.mat"):
        read_penn_clip(bad)


def test_garbage_and_empty_file(tmp_path):
    for name, data in (("0002.mat", b"this is not a MATLAB file" * 20), ("0003.mat", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=name):
            read_penn_clip(tmp_path / name)


@pytest.mark.parametrize("key", ["x", "y", "visibility", "action", "train", "pose"])
def test_missing_key(tmp_path, key):
    path = _write(tmp_path / "0004.mat", drop=(key,))
    with pytest.raises(DataError, match=rf"0004\.mat.*{key}"):
        read_penn_clip(path)


@pytest.mark.parametrize("change, match", [
    ({"x": np.zeros((5, 12))}, "x has shape"),
    ({"y": np.zeros((4, 13))}, "differ in shape"),
    ({"x": np.zeros((0, 13)), "y": np.zeros((0, 13)), "visibility": np.zeros((0, 13))}, "T >= 1"),
    ({"train": np.array([[0]], dtype=np.int32)}, "train is"),
    ({"pose": np.array(["above"])}, "unknown camera view"),
    ({"action": np.array([[1.0]])}, "not a single string"),
])
def test_malformed_fields(tmp_path, change, match):
    d = _clip()
    d.update(change)
    path = tmp_path / "0005.mat"
    scipy.io.savemat(str(path), d)
    with pytest.raises(DataError, match=rf"0005\.mat.*{match}"):
        read_penn_clip(path)


def test_non_finite_visible_coordinate(tmp_path):
    d = _clip()
    d["x"][2, 4] = np.nan
    scipy.io.savemat(str(tmp_path / "0006.mat"), d)
    with pytest.raises(DataError, match=r"0006\.mat.*non-finite"):
        read_penn_clip(tmp_path / "0006.mat")
    d["visibility"][2, 4] = 0  # an invisible joint's position is never used
    scipy.io.savemat(str(tmp_path / "0006.mat"), d)
    assert np.isfinite(read_clip(tmp_path / "0006.mat")).all()


def test_clip_without_visible_joint(tmp_path):
    d = _clip()
    d["visibility"][:] = 0
    scipy.io.savemat(str(tmp_path / "0007.mat"), d)
    assert not read_penn_clip(tmp_path / "0007.mat").sequence.any()
    with pytest.raises(DataError, match=r"0007\.mat.*no joint is marked visible"):
        read_clip(tmp_path / "0007.mat")


def test_folder_reader_and_cache_round_trip(tmp_path, tmp_cache):
    labels = tmp_path / "penn_action" / "labels"
    labels.mkdir(parents=True)
    _write(labels / "0001.mat", action="squat", train=1, t=7)
    _write(labels / "0002.mat", action="bowl", train=-1, pose="left", t=9, seed=1)
    _write(labels / "0003.mat", action="squat", train=-1, pose="back", t=4, seed=2)
    spec = config.load_dataset_spec("penn_action")
    ds = read_penn_action(labels, spec.class_names, spec.file_actions)
    assert ds.sample_names == ["0001", "0002", "0003"] and ds.trials.tolist() == [1, 2, 3]
    assert ds.labels.tolist() == [11, 3, 11] and ds.views.tolist() == [1, 3, 2]
    assert ds.train_flags.tolist() == [True, False, False] and ds.missing == []
    pdata = load_processed(spec, tmp_path, tmp_cache)
    assert pdata.data.shape == (3, 2, 9, 13, 1) and pdata.train_flags.tolist() == [True, False, False]
    # 2-D data is stored as the reader normalised it (not re-centred)
    np.testing.assert_array_equal(pdata.data[1], ds.sequences[1])
    again = load_processed(spec, tmp_path, tmp_cache)  # from the cache file
    assert np.array_equal(again.train_flags, pdata.train_flags) and again.layout == PENN_ACTION_13
    # an unknown action names the file; skip_bad lists it instead
    _write(labels / "0004.mat", action="dance")
    with pytest.raises(DataError, match=r"0004\.mat.*unknown action 'dance'"):
        read_penn_action(labels, spec.class_names, spec.file_actions)
    ds = read_penn_action(labels, spec.class_names, spec.file_actions, skip_bad=True)
    assert len(ds) == 3 and len(ds.skipped) == 1 and "0004.mat" in ds.skipped[0][0]
    shutil.rmtree(labels)
    with pytest.raises(DataError, match="labels"):
        read_penn_action(labels, spec.class_names, spec.file_actions)


# --------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("layout", [PENN_ACTION_13, COCO_17])
def test_2d_layouts_are_trees(layout):
    v = layout.num_joints
    assert v == {"penn_action_13": 13, "coco_17": 17}[layout.name] and LAYOUTS[layout.name] is layout
    assert len(set(layout.joint_names)) == v and len(layout.edges) == v - 1
    children = [c for c, _ in layout.edges]
    assert len(set(children)) == v - 1  # every joint but the root is a child exactly once
    assert all(0 <= c < v and 0 <= p < v and c != p for c, p in layout.edges)
    par = layout.parents()
    root = (set(range(v)) - set(children)).pop()
    for j in range(v):  # every joint reaches the root without a cycle
        seen = set()
        while j != root:
            assert j not in seen
            seen.add(j)
            j = int(par[j])
    assert [layout.joint_names[h] for h in layout.hips] == ["left_hip", "right_hip"]
    # left and right limbs mirror each other
    names = layout.joint_names
    for c, p in layout.edges:
        if names[c].startswith("left_") and names[p].startswith("left_"):
            mirror = (names.index(names[c].replace("left_", "right_")),
                      names.index(names[p].replace("left_", "right_")))
            assert mirror in layout.edges
    assert JointLayout.from_dict(layout.to_dict()) == layout


def test_penn_layout_order_is_the_release_order():
    assert PENN_ACTION_13.joint_names == (
        "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
        "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
    assert COCO_17.joint_names[:5] == ("nose", "left_eye", "right_eye", "left_ear", "right_ear")


# --------------------------------------------------------------------------- normalisation
def _pose(t=6, seed=0):
    rng = np.random.default_rng(seed)
    xy = np.stack([200 + 60 * rng.random((t, 13)), 100 + 180 * rng.random((t, 13))])[..., None]
    vis = rng.random((t, 13, 1)) > 0.2
    vis[:, [7, 8]] = True
    return xy, vis


def test_normalise_2d_units_and_origin():
    xy, vis = _pose()
    out = normalise_2d(xy, vis, PENN_ACTION_13.hips)
    assert out.shape == xy.shape and out.dtype == np.float32
    # origin: the median hip midpoint; y up; unit = median box size of the visible joints
    p = np.where(vis[None], xy, np.nan)[..., 0]
    size = np.nanmax(np.nanmax(p, 2) - np.nanmin(p, 2), 0)
    mid = p[:, :, [7, 8]].mean(2)
    s, o = np.median(size), np.median(mid, 1)
    expect = np.stack([(xy[0, ..., 0] - o[0]) / s, -(xy[1, ..., 0] - o[1]) / s])
    np.testing.assert_allclose(out[..., 0], np.where(vis[None, ..., 0], expect, 0), rtol=1e-5, atol=1e-6)
    box = out[..., 0]
    b = np.where(vis[None, ..., 0], box, np.nan)
    assert np.median(np.nanmax(np.nanmax(b, 2) - np.nanmin(b, 2), 0)) == pytest.approx(1.0, rel=1e-5)
    assert not out[:, ~vis].any()  # invisible joints zeroed


def test_normalise_2d_invariant_to_translation_and_scale():
    xy, vis = _pose(seed=3)
    ref = normalise_2d(xy, vis, PENN_ACTION_13.hips)
    moved = xy * 2.5 + np.array([37.0, -12.0])[:, None, None, None]
    np.testing.assert_allclose(normalise_2d(moved, vis, PENN_ACTION_13.hips), ref, atol=1e-5)
    # but not invariant to motion within the clip: a person moving right keeps the motion
    walk = xy + np.arange(xy.shape[1])[None, :, None, None] * np.array([10.0, 0])[:, None, None, None]
    assert not np.allclose(normalise_2d(walk, vis, PENN_ACTION_13.hips), ref)


def test_normalise_2d_invisible_positions_never_used():
    xy, vis = _pose(seed=4)
    junk = np.where(vis[None], xy, 1e9)
    np.testing.assert_array_equal(normalise_2d(junk, vis, PENN_ACTION_13.hips),
                                  normalise_2d(xy, vis, PENN_ACTION_13.hips))


def test_normalise_2d_without_hips_uses_box_centre():
    xy, vis = _pose(seed=5)
    vis[:, [7, 8]] = False
    out = normalise_2d(xy, vis, PENN_ACTION_13.hips)
    b = np.where(vis[None, ..., 0], out[..., 0], np.nan)
    centre = (np.nanmax(b, 2) + np.nanmin(b, 2)) / 2  # (2, T)
    np.testing.assert_allclose(np.median(centre, 1), 0, atol=1e-5)


def test_normalise_2d_errors():
    xy, vis = _pose()
    with pytest.raises(DataError, match="clip.mat"):
        normalise_2d(xy[:, :, :12], vis, (7, 8), "clip.mat")
    one = np.zeros_like(vis)
    one[:, 0] = True  # a single visible joint: no box, no scale
    with pytest.raises(DataError, match="clip.mat.*no frame with two distinct"):
        normalise_2d(xy, one, (7, 8), "clip.mat")
    assert not normalise_2d(xy, np.zeros_like(vis), (7, 8)).any()


def test_2d_rotation_and_streams_keep_shape_and_zeros():
    xy, vis = _pose()
    seq = normalise_2d(xy, vis, PENN_ACTION_13.hips)
    rot = random_rotate(seq, 30.0, np.random.default_rng(0))
    assert rot.shape == seq.shape and not rot[:, ~vis].any()
    np.testing.assert_allclose(np.linalg.norm(rot, axis=0), np.linalg.norm(seq, axis=0), atol=1e-5)
    assert not np.allclose(rot, seq)
    bone = to_stream(seq, "bone", PENN_ACTION_13.parents())
    assert bone.shape == seq.shape
    with pytest.raises(DataError):
        random_rotate(np.zeros((4, 3, 13, 1), np.float32), 10.0, np.random.default_rng(0))


def test_check_sequence_channels():
    assert check_sequence(np.zeros((2, 3, 13, 1)), "x", channels=2).shape == (2, 3, 13, 1)
    assert check_sequence(np.zeros((2, 3, 13, 1)), "x", channels=None).dtype == np.float32
    with pytest.raises(DataError, match=r"a \(3, T, V, M\) sequence"):
        check_sequence(np.zeros((2, 3, 13, 1)), "x")


# --------------------------------------------------------------------------- encoder with C = 2
def test_encoder_forward_with_two_channels():
    torch.manual_seed(0)
    pdata = SimpleNamespace(layout=PENN_ACTION_13, data=np.zeros((1, 2, 8, 13, 1), np.float32))
    enc = build_encoder(SimpleNamespace(pdata=pdata, spec=SimpleNamespace(num_person=1)), 12)
    assert enc.in_channels == 2 and enc.num_point == 13
    out = enc(torch.randn(3, 2, 16, 13, 1))
    assert out.logits.shape == (3, 12) and out.pooled.shape == (3, 256) and out.cube.shape == (3, 256, 4, 13)
    out.logits.sum().backward()
    with pytest.raises(ConfigError, match="C=2"):
        enc(torch.randn(1, 3, 16, 13, 1))
    assert isinstance(ShiftGCN(5, 17, 1, in_channels=2)(torch.randn(2, 2, 8, 17, 1)).logits, torch.Tensor)


def test_window_dataset_on_2d_data(tmp_path):
    xy, vis = _pose(t=20)
    seq = normalise_2d(xy, vis, PENN_ACTION_13.hips)
    pdata = SimpleNamespace(data=seq[None], lengths=np.array([20]), labels=np.array([0]),
                            layout=PENN_ACTION_13)
    for train in (True, False):
        x, y = WindowDataset(pdata, [0], window=8, train=train, rotation=10.0)[0]
        assert x.shape == (2, 8, 13, 1) and y == 0


# --------------------------------------------------------------------------- protocol and splits
def test_official_protocol_needs_train_flags():
    spec = config.load_dataset_spec("penn_action")
    assert spec.protocol == "official" and spec.layout == "penn_action_13"
    seq = [np.zeros((2, 3, 13, 1), np.float32)] * 3
    ds = SkeletonDataset("penn_action", seq, [0, 1, 1], [0] * 3, [1] * 3, [1, 2, 3], ["a", "b", "c"],
                         spec.class_names, PENN_ACTION_13, train_flags=[True, False, True])
    assert train_mask(ds, spec).tolist() == [True, False, True]
    assert ds.subset(np.array([1, 2])).train_flags.tolist() == [False, True]
    no_flags = dataclasses.replace(ds, train_flags=np.zeros(0, bool))
    with pytest.raises(ConfigError, match="official"):
        train_mask(no_flags, spec)
    with pytest.raises(DataError, match="train flags"):
        SkeletonDataset("penn_action", seq, [0, 1, 1], [0] * 3, [1] * 3, [1, 2, 3], ["a", "b", "c"],
                        spec.class_names, PENN_ACTION_13, train_flags=[True])


def test_committed_split_file():
    split = config.load_split_spec("penn_action_12_3")
    assert split.dataset == "penn_action" and "seed 12" in split.source and "0-based" in split.source
    assert len(split.unseen) >= 5
    sets = [tuple(u) for u in split.unseen]
    assert len(set(sets)) == len(sets)
    for i, u in enumerate(split.unseen):
        seen, unseen = split.seen_unseen(i, 15)
        assert len(unseen) == 3 and len(seen) == 12 and not set(seen) & set(unseen)
        assert sorted(seen + unseen) == list(range(15))
        assert all(0 <= c < 15 for c in u)


def test_run_and_study_files():
    run = config.load_run_config(config.PARAMS_DIR / "runs" / "penn_action.yaml")
    assert run.data.dataset == "penn_action" and run.data.split == "penn_action_12_3"
    assert run.data.protocol == "official" and run.side_info.source == "class_names"
    study = config.load_study_config(config.PARAMS_DIR / "studies" / "penn_action.yaml")
    assert study.seeds == [0, 1, 2] and study.splits == ["penn_action_12_3"]
