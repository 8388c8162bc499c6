"""Dialogue protocol for LLM side information (Neuron, CVPR 2025, Sec. 3.2 and supplementary).

For every action class two dialogues are held, each of three turns inside ONE conversation, so
every turn sees the answers accepted for the previous turns:

* spatial:  turn 1 coarse-grained (``spatial_cg``), turn 2 medium-grained (``spatial_mg``),
  turn 3 fine-grained, joint-level (``spatial_fg``);
* temporal: turn 1 first phase (``temporal_fp``), turn 2 second phase (``temporal_sp``),
  turn 3 third phase (``temporal_tp``).

Every turn asks for ``k`` (default 10) diverse descriptions as a strict JSON array of strings.
The system prompt carries an in-context example of one worked class ("drink water"; three
descriptions per level are shown to keep the prompt short; the instruction always asks for ``k``).
"""
from __future__ import annotations

import json

DIALOGUES: dict[str, tuple[str, str, str]] = {
    "spatial": ("spatial_cg", "spatial_mg", "spatial_fg"),
    "temporal": ("temporal_fp", "temporal_sp", "temporal_tp"),
}

#: In-context example (one worked class), shown in the system prompt of each dialogue.
EXAMPLE_CLASS = "drink water"
EXAMPLE: dict[str, list[str]] = {
    "spatial_cg": [
        "arm lifts to the mouth, head tilts back, hand grips a cup",
        "hand rises to the lips, elbow bends, head leans slightly back",
        "arm raises the cup, head tips back, torso stays still",
    ],
    "spatial_mg": [
        "right hand lifts the cup to the mouth, elbow bends, wrist tilts the cup, head tilts back, shoulders stay level",
        "forearm rises toward the face, fingers hold the cup, wrist rotates, neck extends, torso upright",
        "hand brings the cup to the lips, elbow flexes, head leans back, other arm hangs relaxed at the side",
    ],
    "spatial_fg": [
        "right elbow flexes to about 90 degrees, right wrist tilts the cup upward by 45 degrees, neck extends about 20 degrees backward, left arm hangs straight",
        "right shoulder flexes forward about 60 degrees, right wrist supinates, head tilts back 15 degrees, spine stays vertical, feet stay shoulder-width apart",
        "right hand rises from hip to mouth height, right elbow closes to 80 degrees, chin lifts, left hand stays at the left thigh",
    ],
    "temporal_fp": [
        "reaching for the cup and lifting it toward the mouth",
        "grasping the glass and raising it from the table",
        "bringing the cup up from waist height toward the lips",
    ],
    "temporal_sp": [
        "tilting the cup and taking several sips with the head tipped back",
        "holding the cup at the lips while swallowing the water",
        "drinking steadily as the wrist tilts the glass further",
    ],
    "temporal_tp": [
        "lowering the cup away from the mouth and setting it down",
        "bringing the glass back down and returning the arm to the side",
        "finishing the drink and placing the cup back on the table",
    ],
}

_SYSTEM = {
    "spatial": (
        "You are an expert in human body movement. You describe how a person's body parts move "
        "during an action, as seen by a 3D skeleton sensor (joints only, no objects or scene). "
        "Always answer with ONLY a JSON array of {k} distinct strings, no other text.\n\n"
        "Example for the action \"{ex_class}\" (only 3 shown here; you must always give {k}):\n"
        "Coarse-grained: {cg}\nMedium-grained: {mg}\nFine-grained: {fg}"
    ),
    "temporal": (
        "You are an expert in human body movement. You split an action into three consecutive "
        "phases (beginning, middle, end) and describe each phase. "
        "Always answer with ONLY a JSON array of {k} distinct strings, no other text.\n\n"
        "Example for the action \"{ex_class}\" (only 3 shown here; you must always give {k}):\n"
        "First phase: {fp}\nSecond phase: {sp}\nThird phase: {tp}"
    ),
}

_TURNS = {
    "spatial_cg": (
        "Action: \"{c}\". Give {k} different short coarse-grained descriptions of the main body "
        "parts and how they move during this action. Answer with a JSON array of {k} strings."
    ),
    "spatial_mg": (
        "Now refine your answer for \"{c}\": give {k} different medium-grained descriptions that "
        "mention more body parts (hands, elbows, shoulders, head, torso, legs) and how each moves. "
        "Answer with a JSON array of {k} strings."
    ),
    "spatial_fg": (
        "Now give {k} different fine-grained, joint-level descriptions of \"{c}\": joint angles, "
        "movement directions and which side (left or right) moves. "
        "Answer with a JSON array of {k} strings."
    ),
    "temporal_fp": (
        "Action: \"{c}\". Describe the FIRST phase (the beginning) of this action in {k} different "
        "short sentences. Answer with a JSON array of {k} strings."
    ),
    "temporal_sp": (
        "Now describe the SECOND phase (the middle, following the first phase) of \"{c}\" in {k} "
        "different short sentences. Answer with a JSON array of {k} strings."
    ),
    "temporal_tp": (
        "Now describe the THIRD phase (the end, following the second phase) of \"{c}\" in {k} "
        "different short sentences. Answer with a JSON array of {k} strings."
    ),
}


def system_prompt(dialogue: str, k: int = 10) -> str:
    """System prompt of ``dialogue`` ("spatial" or "temporal") with the in-context example."""
    if dialogue not in DIALOGUES:
        raise ValueError(f"unknown dialogue {dialogue!r}; expected one of {sorted(DIALOGUES)}")
    ex = {lv.split("_")[1]: json.dumps(EXAMPLE[lv]) for lv in DIALOGUES[dialogue]}
    return _SYSTEM[dialogue].format(k=k, ex_class=EXAMPLE_CLASS, **ex)


def turn_prompt(level: str, class_name: str, k: int = 10) -> str:
    """User message of the turn producing ``level`` for ``class_name``."""
    return _TURNS[level].format(c=class_name, k=k)


def build_messages(dialogue: str, class_name: str, turn: int, previous: list[list[str]],
                   k: int = 10) -> list[dict]:
    """Chat messages for turn ``turn`` (0-based) of ``dialogue`` for ``class_name``.

    ``previous`` holds the accepted answers of turns ``0..turn-1`` (each a list of ``k``
    strings); they are replayed as assistant messages (strict JSON) so the turn sees them.
    """
    levels = DIALOGUES[dialogue]
    if len(previous) != turn:
        raise ValueError(f"turn {turn} needs {turn} previous answers, got {len(previous)}")
    msgs = [{"role": "system", "content": system_prompt(dialogue, k)}]
    for t in range(turn):
        msgs.append({"role": "user", "content": turn_prompt(levels[t], class_name, k)})
        msgs.append({"role": "assistant", "content": json.dumps(previous[t], ensure_ascii=False)})
    msgs.append({"role": "user", "content": turn_prompt(levels[turn], class_name, k)})
    return msgs


def reask_message(reason: str, k: int = 10) -> dict:
    """User message sent after a malformed answer (the answer stays in the conversation)."""
    return {"role": "user", "content": (
        f"Your answer was not valid: {reason}. Answer again with ONLY a JSON array of exactly "
        f"{k} distinct, non-empty strings.")}
