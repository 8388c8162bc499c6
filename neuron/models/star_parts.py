"""STAR's six body parts (head, hand, arm, hip, leg, foot) for each skeleton layout.

Source: STAR (Chen et al., ACM MM 2024, arXiv 2404.07487), Sec. 3.2, and its official code
``cseeyangchen/STAR`` @ 917ca67, ``model/shiftgcn_match_ntu.py`` (``body_part_index_list``),
which defines the partition for NTU RGB+D's 25 joints only (1-based joint numbers in the NTU
documentation; 0-based here):

=====  ===================================================================================
part   NTU-25 joints (official)
=====  ===================================================================================
head   neck, head, spine_shoulder
hand   left/right hand, left/right hand tip, left/right thumb
arm    left/right shoulder, elbow, wrist
hip    spine_base, spine_mid
leg    left/right hip, knee
foot   left/right ankle, foot
=====  ===================================================================================

The other layouts map each official joint to its counterpart (joint orders:
:mod:`neuron.data.layouts`; Penn Action: the dataset's ``labels`` documentation; COCO-17: the
COCO keypoint order nose, left/right eye, left/right ear, left/right shoulder, elbow, wrist,
hip, knee, ankle):

* Kinect v1, 20 joints (``kinect_v1_20``: UTD-MHAD's file order, also used for Kinder-Gator;
  ``nw_ucla_20``: the Kinect SDK order of NW-UCLA's JSON files). Kinect v1 has one
  ``shoulder_center`` where Kinect v2 has ``neck`` and ``spine_shoulder``, ``hip_center`` for
  ``spine_base`` and ``spine`` for ``spine_mid``, and no hand tips or thumbs: head = head,
  shoulder_center; hand = left/right hand; hip = hip_center, spine; arm, leg and foot as NTU.
* Penn Action, 13 joints (``penn_action_13``: head, l/r shoulder, l/r elbow, l/r wrist, l/r hip,
  l/r knee, l/r ankle) and COCO-17 (``coco_17``): head = the head joint (Penn) or the five face
  keypoints (COCO); arm = shoulders, elbows, wrists; leg = hips, knees; foot = ankles (the
  official foot part also holds the ankles). Two parts have no joint of their own:
  **hand** (no hand joint) takes the wrists, and **hip** (no spine or pelvis joint) takes the
  two hip joints. Such a part shares its tokens with a neighbour (arm, leg) but keeps its own
  prompts, attention, mappings and part description, so every layout has the paper's six parts
  and accepts six part descriptions. No part is empty in any layout here.

Selection (:func:`body_parts`): by layout name when one is known; otherwise by the joint count
V (25 -> ``ntu_25``, 20 -> ``kinect_v1_20``, 17 -> ``coco_17``, 13 -> ``penn_action_13``).
V = 20 is ambiguous: NW-UCLA's order needs the name ``nw_ucla_20`` (head and hip parts swap
joints 0-3 otherwise).
"""

from __future__ import annotations

from neuron.errors import ConfigError

__all__ = ["PART_NAMES", "PARTITIONS", "LAYOUT_JOINTS", "DEFAULT_LAYOUT_FOR_V", "SHARED_PARTS", "body_parts"]

#: STAR's parts in the official order (also the order of the six part descriptions)
PART_NAMES: tuple[str, ...] = ("head", "hand", "arm", "hip", "leg", "foot")

#: layout name -> six lists of 0-based joints, in :data:`PART_NAMES` order
PARTITIONS: dict[str, list[list[int]]] = {
    "ntu_25": [[2, 3, 20], [7, 11, 21, 22, 23, 24], [4, 5, 6, 8, 9, 10], [0, 1], [12, 13, 16, 17],
               [14, 15, 18, 19]],
    "kinect_v1_20": [[0, 1], [7, 11], [4, 5, 6, 8, 9, 10], [2, 3], [12, 13, 16, 17], [14, 15, 18, 19]],
    "nw_ucla_20": [[2, 3], [7, 11], [4, 5, 6, 8, 9, 10], [0, 1], [12, 13, 16, 17], [14, 15, 18, 19]],
    "penn_action_13": [[0], [5, 6], [1, 2, 3, 4, 5, 6], [7, 8], [7, 8, 9, 10], [11, 12]],
    "coco_17": [[0, 1, 2, 3, 4], [9, 10], [5, 6, 7, 8, 9, 10], [11, 12], [11, 12, 13, 14], [15, 16]],
}

#: layout name -> number of joints V
LAYOUT_JOINTS: dict[str, int] = {"ntu_25": 25, "kinect_v1_20": 20, "nw_ucla_20": 20, "penn_action_13": 13,
                                 "coco_17": 17}

#: joint count -> layout used when no layout name is given
DEFAULT_LAYOUT_FOR_V: dict[int, str] = {25: "ntu_25", 20: "kinect_v1_20", 17: "coco_17", 13: "penn_action_13"}

#: layout -> {part: the part whose joints it borrows} (parts without joints of their own)
SHARED_PARTS: dict[str, dict[str, str]] = {"penn_action_13": {"hand": "arm", "hip": "leg"},
                                           "coco_17": {"hand": "arm", "hip": "leg"}}


def body_parts(num_joints: int, layout: str | None = None) -> list[list[int]]:
    """STAR's six body parts (lists of 0-based joints, :data:`PART_NAMES` order) for a layout.

    Args:
        num_joints: V, the joint count of the features ``f_s (N, F, V)``.
        layout: layout name (a key of :data:`PARTITIONS`); ``None``: chosen from V by
            :data:`DEFAULT_LAYOUT_FOR_V`.

    Raises:
        ConfigError: an unknown layout name, a layout whose joint count is not V, or no default
            partition for V (the message lists the known layouts and the ``parts`` setting).
    """
    known = ", ".join(f"{k} (V={v})" for k, v in LAYOUT_JOINTS.items())
    if layout is None:
        if num_joints not in DEFAULT_LAYOUT_FOR_V:
            raise ConfigError(f"STAR: no body-part partition for V={num_joints} joints (known layouts: {known}); "
                              "give the setting 'parts' (six lists of 0-based joints: "
                              f"{', '.join(PART_NAMES)})")
        layout = DEFAULT_LAYOUT_FOR_V[num_joints]
    if layout not in PARTITIONS:
        raise ConfigError(f"STAR: no body-part partition for layout '{layout}' (known layouts: {known}); "
                          "give the setting 'parts'")
    if LAYOUT_JOINTS[layout] != num_joints:
        raise ConfigError(f"STAR: layout '{layout}' has {LAYOUT_JOINTS[layout]} joints, the features have "
                          f"V={num_joints}")
    return [list(p) for p in PARTITIONS[layout]]
