"""NTU RGB+D reader: tiny files in the official .skeleton format."""
from __future__ import annotations

import time

import numpy as np
import pytest

from neuron.data.ntu import (NTU60_XSUB_TRAIN, NTU120_XSUB_TRAIN, DenoiseInfo, load_missing_list,
                             load_ntu_sequence, ntu_setup, ntu_train_mask, parse_ntu_name,
                             read_ntu, read_ntu_skeleton)
from neuron.errors import ConfigError, DataError

CLASSES60 = [f"action {i}" for i in range(1, 61)]
CLASSES120 = [f"action {i}" for i in range(1, 121)]


def person(t: int, shift=(0.0, 0.0, 3.0), wobble: float = 0.0, wide: bool = False,
           seed: int = 0) -> np.ndarray:
    """(t, 25, 3) upright (y-span >> x-span) or wide (x-span >> y-span) skeletons."""
    rng = np.random.default_rng(seed)
    base = np.zeros((25, 3))
    base[:, 0] = np.linspace(-0.2, 0.2, 25)
    base[:, 1] = np.linspace(-0.8, 0.8, 25)
    if wide:
        base[:, 0], base[:, 1] = np.linspace(-1.0, 1.0, 25), np.linspace(-0.1, 0.1, 25)
    base[1] = (0.0, 0.1, 0.0)  # spine_mid
    out = base[None] + np.asarray(shift)[None, None]
    return out + wobble * rng.standard_normal((t, 1, 3))


def body_block(body_id: str, joints: np.ndarray) -> list[str]:
    lines = [f"{body_id} 0 1 1 1 1 0 0.05 0.02 2", "25"]
    for x, y, z in joints:
        lines.append(f"{x:.7f} {y:.7f} {z:.7f} 250.1 190.2 950.3 520.4 0.1 0.2 0.3 0.9 2")
    return lines


def skeleton_text(frames: list[list[tuple[str, np.ndarray]]]) -> str:
    """frames[f] = [(bodyID, (25, 3) joints), ...]."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for bid, j in bodies:
            lines += body_block(bid, j)
    return "\r\n".join(lines) + "\r\n"


def write(tmp_path, name, frames):
    path = tmp_path / f"{name}.skeleton"
    path.write_text(skeleton_text(frames))
    return path


IDS = {"A": "72057594037927101", "B": "72057594037927102", "N": "72057594037927103",
       "W": "72057594037927104"}


def tracks(t, **bodies):
    """frames from {A/B/N/W: (first_frame, joints (n, 25, 3))}; bodyIDs are IDS[key]."""
    frames = [[] for _ in range(t)]
    for key, (start, joints) in bodies.items():
        for k, j in enumerate(joints):
            frames[start + k].append((IDS[key], j))
    return frames


def test_parse_name_and_setup():
    n = parse_ntu_name("S018C002P045R001A094.skeleton")
    assert (n.setup, n.camera, n.subject, n.replication, n.action) == (18, 2, 45, 1, 94)
    assert ntu_setup("S018C002P045R001A094") == 18
    with pytest.raises(DataError, match="bad_name"):
        parse_ntu_name("bad_name.skeleton")


def test_missing_lists_shipped():
    m60, m120 = load_missing_list(60), load_missing_list(120)
    assert len(m60) == 302 and len(m120) == 535 and m60 <= m120
    assert "S001C002P005R002A008" in m60 and "S032C003P067R002A077" in m120


def test_single_body_with_empty_frame(tmp_path):
    joints = person(20, shift=(0.5, 0.2, 3.0), wobble=0.01)
    frames = [[("72057594037927936", j)] for j in joints]
    frames.insert(7, [])  # a frame with no body is dropped
    path = write(tmp_path, "S001C002P003R002A013", frames)
    seq = load_ntu_sequence(path)
    assert seq.shape == (3, 20, 25, 2) and seq.dtype == np.float32
    np.testing.assert_allclose(seq[:, 0, 1, 0], 0.0, atol=1e-6)  # centred on spine_mid, frame 0
    expect = joints - joints[0, 1]
    np.testing.assert_allclose(seq[..., 0].transpose(1, 2, 0), expect, atol=1e-5)
    assert not seq[..., 1].any()  # no second person: zeros


def test_two_actors_noise_by_length_and_overlap(tmp_path):
    a = person(30, shift=(0.0, 0.0, 3.0), wobble=0.05, seed=1)   # larger motion -> actor 1
    b = person(30, shift=(1.0, 0.0, 3.5), wobble=0.01, seed=2)
    noise = person(5, shift=(-1.0, 0.0, 2.0), wobble=0.3, seed=3)  # <= 11 frames -> noise
    frames = tracks(30, A=(0, a), B=(0, b), N=(10, noise))
    path = write(tmp_path, "S002C001P004R001A050", frames)
    info = DenoiseInfo()
    seq = load_ntu_sequence(path, info)
    assert info.removed_by_length == [IDS["N"]]
    assert info.actor1 == [IDS["A"]] and info.actor2 == [IDS["B"]]
    assert seq.shape == (3, 30, 25, 2)
    origin = a[0, 1]
    np.testing.assert_allclose(seq[..., 0].transpose(1, 2, 0), a - origin, atol=1e-5)
    np.testing.assert_allclose(seq[..., 1].transpose(1, 2, 0), b - origin, atol=1e-5)


def test_noise_by_spread_removed(tmp_path):
    a = person(30, wobble=0.02, seed=1)
    wide = person(30, shift=(0.5, 0.0, 3.0), wobble=0.2, wide=True, seed=4)  # big motion
    path = write(tmp_path, "S003C003P005R001A010", tracks(30, W=(0, wide), A=(0, a)))
    info = DenoiseInfo()
    seq = load_ntu_sequence(path, info)
    assert info.removed_by_spread == [IDS["W"]] and info.actor1 == [IDS["A"]]
    assert not seq[..., 1].any()
    np.testing.assert_allclose(seq[..., 0].transpose(1, 2, 0), a - a[0, 1], atol=1e-5)


def test_sequential_bodies_share_actor1_and_zero_frames_removed(tmp_path):
    a = person(15, wobble=0.05, seed=1)
    b = person(15, shift=(0.2, 0.0, 3.0), wobble=0.01, seed=2)
    frames = tracks(30, A=(0, a), B=(15, b))
    path = write(tmp_path, "S004C002P006R002A001", frames)
    info = DenoiseInfo()
    seq = load_ntu_sequence(path, info)
    assert info.actor1 == [IDS["A"], IDS["B"]] and info.actor2 == [] and info.frames_removed == 0
    assert seq.shape[1] == 30 and not seq[..., 1].any()

    # all-zero joints in both bodies at one frame: that frame is removed (two-body case)
    a2 = person(30, wobble=0.05, seed=1).copy()
    b2 = person(30, shift=(1.0, 0.0, 3.0), wobble=0.01, seed=2).copy()
    a2[6] = 0.0
    b2[6] = 0.0
    path = write(tmp_path, "S004C002P006R002A002", tracks(30, A=(0, a2), B=(0, b2)))
    info = DenoiseInfo()
    seq = load_ntu_sequence(path, info)
    assert info.frames_removed == 1 and seq.shape[1] == 29


def test_actor_missing_frames_stay_zero_after_centring(tmp_path):
    a = person(30, wobble=0.05, seed=1)
    b = person(20, shift=(1.0, 0.0, 3.0), wobble=0.01, seed=2)
    path = write(tmp_path, "S005C001P007R001A055", tracks(30, A=(0, a), B=(10, b)))
    seq = load_ntu_sequence(path)
    assert not seq[:, :10, :, 1].any() and seq[:, 10:, :, 1].any()


def _make_tree(tmp_path):
    d = tmp_path / "ntu" / "nturgb+d_skeletons"
    d.mkdir(parents=True)
    one = lambda s: [[("1", j)] for j in person(15, wobble=0.01, seed=s)]  # noqa: E731
    names = ["S001C001P001R001A001", "S001C002P003R002A002", "S002C003P002R001A060",
             "S018C002P045R001A094", "S019C001P050R002A061", "S001C002P005R002A008"]
    for i, n in enumerate(names):
        write(d, n, one(i))
    return tmp_path, names


def test_read_ntu60_and_120_metadata_and_splits(tmp_path):
    root, _ = _make_tree(tmp_path)
    ds = read_ntu(root, 60, CLASSES60)
    assert ds.name == "ntu60"
    assert ds.sample_names == ["S001C001P001R001A001", "S001C002P003R002A002",
                               "S002C003P002R001A060"]
    assert ds.labels.tolist() == [0, 1, 59]
    assert ds.subjects.tolist() == [1, 3, 2] and ds.views.tolist() == [1, 2, 3]
    assert ds.trials.tolist() == [1, 2, 1]
    assert [s.shape for s in ds.sequences] == [(3, 15, 25, 2)] * 3
    # the missing-list sample is recorded, never silent
    assert [p.endswith("S001C002P005R002A008.skeleton") for p, _ in ds.skipped] == [True]
    assert ntu_train_mask(ds, "xsub").tolist() == [True, False, True]
    assert ntu_train_mask(ds, "xview").tolist() == [False, True, True]

    ds = read_ntu(root / "ntu", 120, CLASSES120, missing_list=())
    assert len(ds) == 6 and ds.name == "ntu120"
    assert ds.labels.tolist()[-2:] == [93, 60]
    xs = ntu_train_mask(ds, "xsub")
    assert xs.tolist() == [s in NTU120_XSUB_TRAIN for s in ds.subjects]
    assert ntu_train_mask(ds, "xset").tolist() == [ntu_setup(n) % 2 == 0 for n in ds.sample_names]
    assert 45 in NTU120_XSUB_TRAIN and 45 not in NTU60_XSUB_TRAIN
    with pytest.raises(ConfigError):
        ntu_train_mask(ds, "xbogus")


def test_read_ntu_files_and_user_missing_list(tmp_path):
    root, names = _make_tree(tmp_path)
    lst = tmp_path / "missing.txt"
    lst.write_text("header line\nS001C001P001R001A001\n")
    ds = read_ntu(root, 60, CLASSES60, missing_list=lst,
                  files=[n + ".skeleton" for n in names[:3]])
    assert ds.sample_names == names[1:3] and len(ds.skipped) == 1


def test_config_errors(tmp_path):
    root, _ = _make_tree(tmp_path)
    with pytest.raises(ConfigError):
        read_ntu(root, 61, CLASSES60)
    with pytest.raises(ConfigError):
        read_ntu(root, 60, CLASSES60[:10])


BAD_CASES = {
    "empty": "",
    "non_number_header": "abc\n",
    "truncated": None,  # built below
    "huge_frames": "1000000000\n1\n",
    "huge_bodies": "1\n100000000\n",
    "wrong_joint_count": None,
    "nan": None,
    "inf": None,
    "non_number_joint": None,
    "short_info": None,
    "trailing": None,
}


def _bad_text(kind: str) -> str:
    good = skeleton_text([[("1", j)] for j in person(3)])
    lines = good.split("\r\n")
    if BAD_CASES.get(kind) is not None or kind in ("empty",):
        return BAD_CASES[kind]
    if kind == "truncated":
        return "\n".join(lines[:40])
    if kind == "wrong_joint_count":
        lines[3] = "24"
    elif kind == "nan":
        lines[10] = "nan " + " ".join(lines[10].split()[1:])
    elif kind == "inf":
        lines[10] = "inf " + " ".join(lines[10].split()[1:])
    elif kind == "non_number_joint":
        lines[10] = "x1 " + " ".join(lines[10].split()[1:])
    elif kind == "short_info":
        lines[2] = "1 0 1"
    elif kind == "trailing":
        lines.append("42")
    return "\r\n".join(lines)


@pytest.mark.parametrize("kind", sorted(BAD_CASES))
def test_bad_files_raise_naming_file_and_line(tmp_path, kind):
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text(_bad_text(kind))
    t0 = time.perf_counter()
    with pytest.raises(DataError) as exc:
        read_ntu_skeleton(path)
    assert time.perf_counter() - t0 < 1.0
    assert "S001C001P001R001A001.skeleton" in str(exc.value)
    if kind not in ("empty",):
        assert "line" in str(exc.value)


def test_skip_bad_records_and_unknown_class(tmp_path):
    d = tmp_path / "nturgb+d_skeletons"
    d.mkdir()
    write(d, "S001C001P001R001A001", [[("1", j)] for j in person(12)])
    (d / "S001C001P001R001A002.skeleton").write_text("5\n1\n")
    (d / "junk.skeleton").write_text("1\n")
    with pytest.raises(DataError, match="S001C001P001R001A002.skeleton"):
        read_ntu(tmp_path, 60, CLASSES60, missing_list=())
    ds = read_ntu(tmp_path, 60, CLASSES60, missing_list=(), skip_bad=True)
    assert len(ds) == 1 and len(ds.skipped) == 2
    assert all(reason for _, reason in ds.skipped)
    # every file bad -> error even with skip_bad
    (d / "S001C001P001R001A001.skeleton").write_text("")
    with pytest.raises(DataError, match="no readable"):
        read_ntu(tmp_path, 60, CLASSES60, missing_list=(), skip_bad=True)
