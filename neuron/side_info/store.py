"""Description levels of side information: load, validate and save (Neuron, CVPR 2025, Sec. 3.2).

Side information is, per level, a JSON object ``{class name: [k strings]}`` (the schema of the
paper's released ``semantics/`` files). The six levels are :data:`LEVELS`; a folder holds one
``<level>.json`` per level (the paper's release puts them under ``spatial/`` and ``temporal/``
sub-folders; both layouts are read). Their embedding is :mod:`neuron.side_info.embed`.

Every problem raises :class:`neuron.errors.SideInfoError` naming the class, level and file.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

from neuron.errors import SideInfoError
from neuron.io import write_json

LEVELS: tuple[str, ...] = ("spatial_cg", "spatial_mg", "spatial_fg",
                           "temporal_fp", "temporal_sp", "temporal_tp")
SPATIAL_LEVELS = LEVELS[:3]
TEMPORAL_LEVELS = LEVELS[3:]

#: Default bounds on one description, in characters (after stripping).
MIN_CHARS = 10
MAX_CHARS = 400

#: Templates of class-name-only semantics (no LLM); see :func:`class_name_side_info`.
CLASS_NAME_TEMPLATES: tuple[str, ...] = (
    "a person {}",
    "a person is {}",
    "a person doing the action: {}",
    "a human performing {}",
    "someone {}",
    "a skeleton of a person {}",
    "the action of {}",
    "a person performs {}",
    "a body moving: {}",
    "a man or woman {}",
)


def normalise(text: str) -> str:
    """Key used for duplicate detection: lower case, punctuation and extra spaces removed."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def check_description(item, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS) -> str | None:
    """Return why one description is invalid (None when valid): type, emptiness, length."""
    if not isinstance(item, str):
        return f"not a string ({type(item).__name__})"
    s = item.strip()
    if not s:
        return "empty string"
    if len(s) < min_chars:
        return f"too short ({len(s)} < {min_chars} characters): {s!r}"
    if len(s) > max_chars:
        return f"too long ({len(s)} > {max_chars} characters)"
    return None


def validate_descriptions(items, k: int, where: str, min_chars: int = 1,
                          max_chars: int = 100_000) -> list[str]:
    """Validate one class's list of descriptions; return it with items stripped.

    Checks: a list, exactly ``k`` items, strings, non-empty, length bounds, no duplicates
    (after :func:`normalise`). ``where`` (e.g. "class 'x', level spatial_cg, file f.json") is put
    in the SideInfoError message.
    """
    if not isinstance(items, list):
        raise SideInfoError(f"{where}: expected a list of {k} strings, got {type(items).__name__}")
    if len(items) != k:
        raise SideInfoError(f"{where}: expected {k} descriptions, got {len(items)}")
    out, seen = [], set()
    for i, it in enumerate(items):
        why = check_description(it, min_chars, max_chars)
        if why:
            raise SideInfoError(f"{where}: description {i}: {why}")
        key = normalise(it)
        if key in seen:
            raise SideInfoError(f"{where}: description {i} duplicates an earlier one: {it.strip()!r}")
        seen.add(key)
        out.append(it.strip())
    return out


def validate_level(data, class_names: list[str], k: int, level: str, file: str = "<memory>",
                   check_duplicates: bool = True) -> dict[str, list[str]]:
    """Validate one level ``{class: [k strings]}`` against ``class_names``; return it in class order.

    Raises SideInfoError for a non-object, a missing class (extra classes are ignored), a wrong
    count, a non-string or empty item, or duplicates.
    """
    if not isinstance(data, dict):
        raise SideInfoError(f"level {level}, file {file}: expected a JSON object {{class: [strings]}}")
    out = {}
    for c in class_names:
        if c not in data:
            raise SideInfoError(f"class {c!r} missing from level {level}, file {file}")
        where = f"class {c!r}, level {level}, file {file}"
        if check_duplicates:
            out[c] = validate_descriptions(data[c], k, where)
        else:
            items = data[c]
            if not isinstance(items, list) or len(items) != k:
                raise SideInfoError(f"{where}: expected {k} descriptions, got "
                                    f"{len(items) if isinstance(items, list) else type(items).__name__}")
            for i, it in enumerate(items):
                if not isinstance(it, str) or not it.strip():
                    raise SideInfoError(f"{where}: description {i} is empty or not a string")
            out[c] = [s.strip() for s in items]
    return out


def level_file(folder: str | Path, level: str) -> Path:
    """Path of ``<level>.json`` in ``folder`` or in its ``spatial/``/``temporal/`` sub-folder."""
    folder = Path(folder)
    flat = folder / f"{level}.json"
    nested = folder / level.split("_")[0] / f"{level}.json"
    return flat if flat.exists() or not nested.exists() else nested


def load_side_info(folder: str | Path, class_names: list[str], k: int = 10,
                   levels: Iterable[str] = LEVELS,
                   check_duplicates: bool = True) -> dict[str, dict[str, list[str]]]:
    """Load and validate all levels from ``folder``: ``{level: {class: [k strings]}}``.

    Classes come out in ``class_names`` order. Raises SideInfoError (missing/unreadable file,
    missing class, wrong k, empty string, duplicates), naming class, level and file.
    ``check_duplicates=False`` accepts repeated descriptions (class-name-only files have none,
    but third-party files might).
    """
    out = {}
    for level in levels:
        if level not in LEVELS:
            raise SideInfoError(f"unknown level {level!r}; expected one of {LEVELS}")
        path = level_file(folder, level)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SideInfoError(f"level {level}: file {path} not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SideInfoError(f"level {level}: file {path} is unreadable: {exc}") from exc
        out[level] = validate_level(data, class_names, k, level, str(path), check_duplicates)
    return out


def save_side_info(folder: str | Path, side_info: dict[str, dict[str, list[str]]]) -> list[Path]:
    """Write each level to ``folder/<level>.json`` atomically; return the paths."""
    paths = []
    for level, data in side_info.items():
        if level not in LEVELS:
            raise SideInfoError(f"unknown level {level!r}; expected one of {LEVELS}")
        p = Path(folder) / f"{level}.json"
        write_json(p, data)
        paths.append(p)
    return paths


def temporal_round_texts(side_info: dict[str, dict[str, list[str]]], class_name: str,
                         round_: int) -> list[str]:
    """Texts of temporal round ``round_`` (1..3) for one class.

    Description i of round r is ``phase1[i] + " " + ... + phase_r[i]`` (the paper embeds the
    concatenated phases; its files are named ``fp``, ``fsp``, ``fstp``).
    """
    if round_ not in (1, 2, 3):
        raise SideInfoError(f"temporal round must be 1, 2 or 3, got {round_}")
    phases = [side_info[lv][class_name] for lv in TEMPORAL_LEVELS[:round_]]
    return [" ".join(p[i] for p in phases) for i in range(len(phases[0]))]


def class_name_side_info(class_names: list[str], k: int = 10,
                         mode: str = "templates") -> dict[str, dict[str, list[str]]]:
    """Class-name-only semantics (ablation without an LLM), same schema as generated files.

    ``mode="templates"``: the k first :data:`CLASS_NAME_TEMPLATES` filled with the class name
    ("a person {class}", "a person is {class}", ...), k <= 10. ``mode="copies"``: k copies of
    ``"a person {class}"``. All six levels get the same texts; temporal rounds then embed the
    concatenation of identical phases, as the pipeline does for generated text.
    """
    if mode == "templates":
        if k > len(CLASS_NAME_TEMPLATES):
            raise SideInfoError(f"only {len(CLASS_NAME_TEMPLATES)} templates, k={k} requested")
        per = {c: [t.format(c) for t in CLASS_NAME_TEMPLATES[:k]] for c in class_names}
    elif mode == "copies":
        per = {c: [f"a person {c}"] * k for c in class_names}
    else:
        raise SideInfoError(f"unknown class-name mode {mode!r}; expected templates or copies")
    return {lv: {c: list(v) for c, v in per.items()} for lv in LEVELS}
