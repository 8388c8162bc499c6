"""Joint layouts (names, bone edges, centre joint) of the skeleton formats the readers support.

Indices are 0-based. ``edges`` are (child, parent) pairs along the kinematic tree, used for the
bone stream (bone = joint - parent) and for drawing skeletons.
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
        centre: index of the joint used to centre sequences (spine / hip centre).
    """

    name: str
    joint_names: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    centre: int

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
        return {"name": self.name, "joint_names": list(self.joint_names),
                "edges": [list(e) for e in self.edges], "centre": self.centre}

    @classmethod
    def from_dict(cls, d: dict) -> "JointLayout":
        return cls(d["name"], tuple(d["joint_names"]), tuple(tuple(e) for e in d["edges"]),
                   int(d["centre"]))


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

LAYOUTS = {lay.name: lay for lay in (KINECT_V1_20, NW_UCLA_20, NTU_25)}
