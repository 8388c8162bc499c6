"""PKU-MMD phase I reader: skeleton + label files cut into clips, cross-subject split."""
from __future__ import annotations

import numpy as np
import pytest

from neuron.data.pku import (SUBJECT_TEST, SUBJECT_TRAIN, SUBJECT_UNKNOWN, pku_train_mask,
                             read_pku_labels, read_pku_mmd1, read_pku_skeleton, read_pku_split)
from neuron.errors import ConfigError, DataError

CLASSES = [f"pku {i}" for i in range(1, 52)]


def video(t: int, two: bool = False, seed: int = 0) -> np.ndarray:
    """(t, 150): frame f, body b, joint j, coord c at [f, b*75 + j*3 + c]."""
    rng = np.random.default_rng(seed)
    arr = rng.uniform(-1, 1, (t, 150)).round(4)
    if not two:
        arr[:, 75:] = 0.0
    return arr


def write_video(root, stem, arr, labels):
    (root / "skeleton").mkdir(parents=True, exist_ok=True)
    (root / "label").mkdir(parents=True, exist_ok=True)
    (root / "skeleton" / f"{stem}.txt").write_text(
        "\n".join(" ".join(f"{v:g}" for v in row) for row in arr) + "\n")
    (root / "label" / f"{stem}.txt").write_text(
        "\n".join(",".join(str(x) for x in lab) for lab in labels) + "\n")


SPLIT = ("Training videos: \n0002-L, 0002-M, 0002-R\n\n"
         "Validataion videos: \n0291-L, 0291-M, 0291-R\n")


def test_clips_labels_views_and_split(tmp_path):
    a = video(40, two=False, seed=1)
    b = video(30, two=True, seed=2)
    write_video(tmp_path, "0002-L", a, [(3, 1, 10, 1), (51, 11, 40, 0.5)])
    write_video(tmp_path, "0291-R", b, [(1, 5, 5, 1)])
    (tmp_path / "cross-subject.txt").write_text(SPLIT)
    ds = read_pku_mmd1(tmp_path, CLASSES)
    assert ds.name == "pku_mmd1" and len(ds) == 3
    assert ds.labels.tolist() == [2, 50, 0]
    assert ds.sample_names == ["0002-L_1-10", "0002-L_11-40", "0291-R_5-5"]
    assert ds.views.tolist() == [1, 1, 3] and ds.trials.tolist() == [2, 2, 291]
    assert ds.subjects.tolist() == [SUBJECT_TRAIN, SUBJECT_TRAIN, SUBJECT_TEST]
    assert pku_train_mask(ds).tolist() == [True, True, False]
    # clip 1 = rows 1..10 (1-based inclusive); body 1 joint j coord c = col j*3 + c
    s = ds.sequences[0]
    assert s.shape == (3, 10, 25, 2) and s.dtype == np.float32
    np.testing.assert_allclose(s[:, :, :, 0].transpose(1, 2, 0), a[:10, :75].reshape(10, 25, 3),
                               atol=1e-6)
    assert not s[..., 1].any()  # one person: second body zeros kept, M = 2
    np.testing.assert_allclose(ds.sequences[2][:, 0, :, 1].T, b[4, 75:].reshape(25, 3), atol=1e-6)
    with pytest.raises(ConfigError):
        pku_train_mask(ds, "xview")


def test_zero_based_and_no_split(tmp_path):
    write_video(tmp_path, "0005-M", video(20), [(2, 0, 10, 1)])
    ds = read_pku_mmd1(tmp_path, CLASSES, one_based=False)
    assert ds.sequences[0].shape[1] == 10 and ds.sample_names == ["0005-M_0-9"]
    assert ds.subjects.tolist() == [SUBJECT_UNKNOWN]
    with pytest.raises(DataError, match="split"):
        pku_train_mask(ds)
    with pytest.raises(DataError, match="0005-M.txt"):
        read_pku_mmd1(tmp_path, CLASSES)  # start 0 is invalid 1-based


def test_plain_split_list(tmp_path):
    p = tmp_path / "test_videos.txt"
    p.write_text("0291-L 0291-M\n0292-R")
    train, test = read_pku_split(p)
    assert train == set() and test == {"0291-L", "0291-M", "0292-R"}
    p.write_text("nonsense")
    with pytest.raises(DataError, match="test_videos.txt"):
        read_pku_split(p)


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("1 2 3\n", "line 1"),
    (" ".join(["0.1"] * 149 + ["abc"]) + "\n", "line 1: non-numeric"),
    (" ".join(["0.1"] * 150) + "\n" + " ".join(["nan"] * 150) + "\n", "line 2: non-finite"),
    (" ".join(["inf"] * 150) + "\n", "line 1: non-finite"),
])
def test_bad_skeleton(tmp_path, text, match):
    p = tmp_path / "0002-L.txt"
    p.write_text(text)
    with pytest.raises(DataError, match=match) as exc:
        read_pku_skeleton(p)
    assert "0002-L.txt" in str(exc.value)


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("52,1,5,1\n", "line 1: unknown class 52"),
    ("1,1,5,1\n0,1,5,1\n", "line 2: unknown class 0"),
    ("1,5,100,1\n", "outside"),
    ("1,6,5,1\n", "outside"),
    ("a,1,5,1\n", "non-integer"),
    ("1,5\n", "values"),
])
def test_bad_labels(tmp_path, text, match):
    p = tmp_path / "0002-L.txt"
    p.write_text(text)
    with pytest.raises(DataError, match=match) as exc:
        read_pku_labels(p, 50, 51)
    assert "0002-L.txt" in str(exc.value)


def test_skip_bad_and_missing_partner(tmp_path):
    write_video(tmp_path, "0002-L", video(20), [(1, 1, 20, 1)])
    write_video(tmp_path, "0003-L", video(20), [(99, 1, 20, 1)])
    (tmp_path / "skeleton" / "0004-M.txt").write_text("")
    with pytest.raises(DataError, match="0003-L.txt"):
        read_pku_mmd1(tmp_path, CLASSES)
    ds = read_pku_mmd1(tmp_path, CLASSES, skip_bad=True)
    assert len(ds) == 1
    reasons = dict(ds.skipped)
    assert len(reasons) == 2 and any("no label file" in r for r in reasons.values())
