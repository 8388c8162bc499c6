"""Joint layouts (names, bone edges, centre joint) of the skeleton formats the readers support.

Indices are 0-based. ``edges`` are (child, parent) pairs along the kinematic tree, used for the
bone stream (bone = joint - parent) and for drawing skeletons. 3-D layouts (Kinect v1 and v2,
metres) and 2-D layouts (Penn Action's 13 joints and COCO-17 keypoints, pixels) share the type;
the 2-D ones name their ``hips``, the joints :func:`neuron.data.transforms.normalise_2d` centres on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JointLayout:
    """A skeleton's joint layout.

    Attributes:
        name: layout id (``kinect_v1_20``, ``ntu_25`` or a user-supplied name).
        joint_names: V joint names.
        edges: (child, parent) 0-based pairs; every joint but the root appears once as a child.
        centre: index of the joint used to centre 3-D sequences (spine / hip centre).
        hips: indices of the left and right hips of a 2-D layout, whose midpoint is the origin of
            :func:`neuron.data.transforms.normalise_2d`; empty for 3-D layouts.
    """

    name: str
    joint_names: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    centre: int
    hips: tuple[int, ...] = ()

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def parents(self) -> np.ndarray:
        """(V,) parent index per joint; the root is its own parent."""
        par = np.arange(self.num_joints)
        for child, parent in self.edges:
            par[child] = parent
        return par

    def to_dict(self) -> dict:
        """The layout as plain data (``hips`` only when set, so 3-D layouts keep their form)."""
        d = {"name": self.name, "joint_names": list(self.joint_names),
             "edges": [list(e) for e in self.edges], "centre": self.centre}
        if self.hips:
            d["hips"] = list(self.hips)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "JointLayout":
        return cls(d["name"], tuple(d["joint_names"]), tuple(tuple(e) for e in d["edges"]),
                   int(d["centre"]), tuple(int(h) for h in d.get("hips", ())))


# Kinect v1 (20 joints), the order of UTD-MHAD's Skeleton_joint_order.txt.
KINECT_V1_20 = JointLayout(
    name="kinect_v1_20",
    joint_names=(
        "head", "shoulder_center", "spine", "hip_center",
        "left_shoulder", "left_elbow", "left_wrist", "left_hand",
        "right_shoulder", "right_elbow", "right_wrist", "right_hand",
        "left_hip", "left_knee", "left_ankle", "left_foot",
        "right_hip", "right_knee", "right_ankle", "right_foot",
    ),
    edges=(
        (0, 1), (1, 2), (2, 3),
        (4, 1), (5, 4), (6, 5), (7, 6),
        (8, 1), (9, 8), (10, 9), (11, 10),
        (12, 3), (13, 12), (14, 13), (15, 14),
        (16, 3), (17, 16), (18, 17), (19, 18),
    ),
    centre=2,
)

# NW-UCLA (Kinect v1, 20 joints) as packaged in CTR-GCN's all_sqe JSON: the Kinect SDK order
# (hip_center first), which differs from UTD-MHAD's file order.
NW_UCLA_20 = JointLayout(
    name="nw_ucla_20",
    joint_names=(
        "hip_center", "spine", "shoulder_center", "head",
        "left_shoulder", "left_elbow", "left_wrist", "left_hand",
        "right_shoulder", "right_elbow", "right_wrist", "right_hand",
        "left_hip", "left_knee", "left_ankle", "left_foot",
        "right_hip", "right_knee", "right_ankle", "right_foot",
    ),
    edges=(
        (1, 0), (2, 1), (3, 2),
        (4, 2), (5, 4), (6, 5), (7, 6),
        (8, 2), (9, 8), (10, 9), (11, 10),
        (12, 0), (13, 12), (14, 13), (15, 14),
        (16, 0), (17, 16), (18, 17), (19, 18),
    ),
    centre=1,
)

# NTU RGB+D (Kinect v2, 25 joints), 0-based version of the dataset's 1-based joint list.
NTU_25 = JointLayout(
    name="ntu_25",
    joint_names=(
        "spine_base", "spine_mid", "neck", "head",
        "left_shoulder", "left_elbow", "left_wrist", "left_hand",
        "right_shoulder", "right_elbow", "right_wrist", "right_hand",
        "left_hip", "left_knee", "left_ankle", "left_foot",
        "right_hip", "right_knee", "right_ankle", "right_foot",
        "spine_shoulder", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb",
    ),
    edges=(
        (1, 0), (20, 1), (2, 20), (3, 2),
        (4, 20), (5, 4), (6, 5), (7, 6), (21, 7), (22, 6),
        (8, 20), (9, 8), (10, 9), (11, 10), (23, 11), (24, 10),
        (12, 0), (13, 12), (14, 13), (15, 14),
        (16, 0), (17, 16), (18, 17), (19, 18),
    ),
    centre=1,
)

# Penn Action (2-D, pixels): the 13 joints in the order of the release's x / y / visibility
# columns (Zhang, Zhu, Derpanis, ICCV 2013; dataset README). The tree is rooted at the head (the
# dataset has no neck or hip-centre joint): head -> shoulders -> elbows -> wrists, and
# shoulders -> hips -> knees -> ankles on each side, the links of COCO's skeleton with the head
# standing in for the face keypoints. ``centre`` (left hip) is unused: 2-D sequences are centred
# on the midpoint of ``hips`` by normalise_2d.
PENN_ACTION_13 = JointLayout(
    name="penn_action_13",
    joint_names=(
        "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
        "left_ankle", "right_ankle",
    ),
    edges=(
        (1, 0), (2, 0),
        (3, 1), (5, 3), (4, 2), (6, 4),
        (7, 1), (9, 7), (11, 9), (8, 2), (10, 8), (12, 10),
    ),
    centre=7,
    hips=(7, 8),
)

# COCO-17 keypoints (2-D, pixels), the order of the COCO keypoint annotations (Lin et al., ECCV
# 2014; ``person_keypoints`` categories), the output of most 2-D pose estimators. The tree uses
# only links of COCO's own ``skeleton`` list, rooted at the nose: nose -> eyes -> ears ->
# shoulders -> elbows -> wrists, and shoulders -> hips -> knees -> ankles.
COCO_17 = JointLayout(
    name="coco_17",
    joint_names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    edges=(
        (1, 0), (2, 0), (3, 1), (4, 2),
        (5, 3), (7, 5), (9, 7), (6, 4), (8, 6), (10, 8),
        (11, 5), (13, 11), (15, 13), (12, 6), (14, 12), (16, 14),
    ),
    centre=11,
    hips=(11, 12),
)

LAYOUTS = {lay.name: lay for lay in (KINECT_V1_20, NW_UCLA_20, NTU_25, PENN_ACTION_13, COCO_17)}
