"""STAR's body-part partitions per skeleton layout: valid joints, the paper's six parts mapped by
joint name, automatic choice from the layout / joint count, clear errors, and training on V = 20
and V = 13 features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuron.data.layouts import LAYOUTS
from neuron.errors import ConfigError
from neuron.models.star import STAR
from neuron.models.star_parts import (DEFAULT_LAYOUT_FOR_V, LAYOUT_JOINTS, PART_NAMES, PARTITIONS, SHARED_PARTS,
                                      body_parts)

#: Penn Action's joint order (dataset documentation) and COCO-17's keypoint order
PENN_JOINTS = ("head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
               "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
COCO_JOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
               "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
               "right_knee", "left_ankle", "right_ankle")
JOINT_NAMES = {**{k: v.joint_names for k, v in LAYOUTS.items()}, "penn_action_13": PENN_JOINTS,
               "coco_17": COCO_JOINTS}

LR = ("left_", "right_")
ARM = {s + j for s in LR for j in ("shoulder", "elbow", "wrist")}
LEG = {s + j for s in LR for j in ("hip", "knee")}
#: expected joint names of each part, per layout (official NTU-25 list: cseeyangchen/STAR @ 917ca67,
#: model/shiftgcn_match_ntu.py, body_part_index_list)
EXPECTED = {
    "ntu_25": {"head": {"neck", "head", "spine_shoulder"},
               "hand": {s + j for s in LR for j in ("hand", "hand_tip", "thumb")}, "arm": ARM,
               "hip": {"spine_base", "spine_mid"}, "leg": LEG, "foot": {s + j for s in LR for j in ("ankle", "foot")}},
    "kinect_v1_20": {"head": {"head", "shoulder_center"}, "hand": {"left_hand", "right_hand"}, "arm": ARM,
                     "hip": {"hip_center", "spine"}, "leg": LEG,
                     "foot": {s + j for s in LR for j in ("ankle", "foot")}},
    "penn_action_13": {"head": {"head"}, "hand": {"left_wrist", "right_wrist"}, "arm": ARM,
                       "hip": {"left_hip", "right_hip"}, "leg": LEG, "foot": {"left_ankle", "right_ankle"}},
    "coco_17": {"head": {"nose", "left_eye", "right_eye", "left_ear", "right_ear"},
                "hand": {"left_wrist", "right_wrist"}, "arm": ARM, "hip": {"left_hip", "right_hip"}, "leg": LEG,
                "foot": {"left_ankle", "right_ankle"}},
}
EXPECTED["nw_ucla_20"] = EXPECTED["kinect_v1_20"]


def test_official_ntu25_partition():
    assert PARTITIONS["ntu_25"] == [[2, 3, 20], [7, 11, 21, 22, 23, 24], [4, 5, 6, 8, 9, 10], [0, 1],
                                    [12, 13, 16, 17], [14, 15, 18, 19]]


@pytest.mark.parametrize("layout", sorted(PARTITIONS))
def test_partition_valid_and_covers_every_joint(layout):
    V = LAYOUT_JOINTS[layout]
    parts = PARTITIONS[layout]
    assert len(parts) == len(PART_NAMES) == 6
    for name, p in zip(PART_NAMES, parts):
        assert p, f"{layout}: empty part {name}"
        assert len(set(p)) == len(p) and all(isinstance(j, int) and 0 <= j < V for j in p), (layout, name, p)
    assert set().union(*map(set, parts)) == set(range(V)), f"{layout}: a joint belongs to no part"
    shared = SHARED_PARTS.get(layout, {})
    for i, a in enumerate(PART_NAMES):
        for b in PART_NAMES[i + 1:]:
            overlap = set(parts[i]) & set(parts[PART_NAMES.index(b)])
            if shared.get(a) == b or shared.get(b) == a:
                guest, host = (a, b) if shared.get(a) == b else (b, a)
                assert set(parts[PART_NAMES.index(guest)]) <= set(parts[PART_NAMES.index(host)])
            else:
                assert not overlap, f"{layout}: {a} and {b} share joints {overlap}"


@pytest.mark.parametrize("layout", sorted(PARTITIONS))
def test_partition_matches_joint_names(layout):
    names = JOINT_NAMES[layout]
    assert len(names) == LAYOUT_JOINTS[layout]
    got = {part: {names[j] for j in joints} for part, joints in zip(PART_NAMES, PARTITIONS[layout])}
    assert got == EXPECTED[layout]


def test_layout_joint_counts_agree_with_data_layouts():
    for name, lay in LAYOUTS.items():
        if name in LAYOUT_JOINTS:
            assert lay.num_joints == LAYOUT_JOINTS[name]
    assert {"kinect_v1_20", "nw_ucla_20", "ntu_25"} <= set(LAYOUTS)


def test_body_parts_selection_and_errors():
    for V, name in DEFAULT_LAYOUT_FOR_V.items():
        assert body_parts(V) == PARTITIONS[name]
    assert body_parts(20) == PARTITIONS["kinect_v1_20"]
    assert body_parts(20, "nw_ucla_20") == PARTITIONS["nw_ucla_20"] != PARTITIONS["kinect_v1_20"]
    with pytest.raises(ConfigError, match="V=18.*kinect_v1_20.*'parts'"):
        body_parts(18)
    with pytest.raises(ConfigError, match="layout 'mpii_16'"):
        body_parts(16, "mpii_16")
    with pytest.raises(ConfigError, match="'ntu_25' has 25 joints.*V=20"):
        body_parts(20, "ntu_25")
    with pytest.raises(ConfigError, match="layout 'openpose'"):
        STAR(8, 4, {"layout": "openpose"})


def random_problem(V: int, n_per=6, C=5, F=8, E=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(C).repeat_interleave(n_per)
    f_s = torch.randn(len(y), F, V, generator=g)

    class Feats:
        pass

    feats = Feats()
    feats.f_s, feats.pooled, feats.f_t = f_s, f_s.mean(-1), None
    return feats, y, torch.randn(C, E, generator=g)


SMALL = {"prompts": 4, "heads": 2, "text_hidden": 8, "epochs": 2, "batch_size": 8}


@pytest.mark.parametrize("V,layout,expected", [(20, None, "kinect_v1_20"), (20, "nw_ucla_20", "nw_ucla_20"),
                                               (13, None, "penn_action_13"), (17, None, "coco_17")])
def test_star_fits_on_other_layouts(V, layout, expected):
    feats, y, emb = random_problem(V)
    if layout is not None:
        feats.layout = layout
    seen = [0, 1, 2]
    m = STAR(emb.shape[1], feats.f_s.shape[1], SMALL)
    tr = type(feats)()
    tr.f_s, tr.pooled, tr.f_t = feats.f_s[y < 3], feats.pooled[y < 3], None
    if layout is not None:
        tr.layout = layout
    hist = m.fit(tr, y[y < 3], emb, seen, seed=0)
    assert m.parts == PARTITIONS[expected]
    assert len(hist["losses"]) == 2 and np.all(np.isfinite(hist["losses"]))
    s = m.scores(feats, emb, classes=[3, 4])
    assert s.shape == (len(y), 2) and np.isfinite(s).all()


def test_star_unknown_joint_count_is_a_clear_error():
    feats, y, emb = random_problem(18)
    m = STAR(emb.shape[1], feats.f_s.shape[1], SMALL)
    with pytest.raises(ConfigError, match="no body-part partition for V=18"):
        m.fit(feats, y, emb, list(range(5)))
    m = STAR(emb.shape[1], feats.f_s.shape[1], {**SMALL, "layout": "penn_action_13"})
    with pytest.raises(ConfigError, match="need more than V=12|more than V"):
        m.scores(type("F", (), {"f_s": feats.f_s[..., :12], "pooled": feats.pooled})(), emb)
