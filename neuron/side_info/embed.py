"""Embedding of side information per level and round (Neuron, CVPR 2025, Sec. 3.2 and 4.1).

The top layer of side information: descriptions (:mod:`neuron.side_info.store`) go through a
text encoder (:mod:`neuron.text`) into :class:`SemanticEmbeddings`: spatial levels cg/mg/fg and
temporal rounds fp, fp+sp, fp+sp+tp (concatenated text), each a float32 tensor (C, K, D).

* :func:`embed_side_info`: encode the six levels with any text encoder (vectors cached on disk
  by encoder id and text hash).
* :func:`load_paper_embeddings`: the paper's released CLIP ViT-L/14@336px tensors.
* :func:`import_paper_semantics`: the paper's released descriptions and tensors together.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from neuron.errors import SideInfoError
from neuron.io import sha256_obj, torch_save
from neuron.side_info.store import (LEVELS, SPATIAL_LEVELS, level_file, load_side_info,
                                    save_side_info, temporal_round_texts, validate_level)
from neuron.text import PAPER_CLIP, TextEncoder, cached_encode, safe_name

#: Encoder id of the paper's released embeddings (CLIP ViT-L/14@336px text tower).
PAPER_ENCODER_ID = f"paper:{PAPER_CLIP}"


@dataclass
class SemanticEmbeddings:
    """Embedded side information for C classes, K descriptions each, width D.

    ``spatial``: [cg, mg, fg], ``temporal``: [fp, fp+sp, fp+sp+tp], each a float32 tensor
    (C, K, D); ``class_names`` (C); ``encoder_id``; ``dim`` = D.
    """

    spatial: list[torch.Tensor]
    temporal: list[torch.Tensor]
    encoder_id: str
    class_names: list[str]
    dim: int
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        for name, ts in (("spatial", self.spatial), ("temporal", self.temporal)):
            if len(ts) != 3:
                raise SideInfoError(f"{name}: expected 3 tensors, got {len(ts)}")
            for i, t in enumerate(ts):
                if t.ndim != 3 or t.shape[0] != len(self.class_names) or t.shape[2] != self.dim:
                    raise SideInfoError(f"{name}[{i}]: shape {tuple(t.shape)}, expected "
                                        f"({len(self.class_names)}, K, {self.dim})")

    def to_dict(self) -> dict:
        """Plain dict (tensors, lists of str, str, int) safe for ``torch.load(weights_only=True)``."""
        return {"spatial": [t.contiguous() for t in self.spatial],
                "temporal": [t.contiguous() for t in self.temporal],
                "encoder_id": self.encoder_id, "class_names": list(self.class_names),
                "dim": int(self.dim), "meta": {str(k): str(v) for k, v in self.meta.items()}}

    def save(self, path: str | Path) -> None:
        """``torch.save`` of :meth:`to_dict` to one ``.pt`` file (atomic)."""
        torch_save(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path) -> "SemanticEmbeddings":
        """Load a file written by :meth:`save`; SideInfoError when unreadable or malformed."""
        try:
            d = torch.load(path, map_location="cpu", weights_only=True)
            return cls(spatial=list(d["spatial"]), temporal=list(d["temporal"]),
                       encoder_id=d["encoder_id"], class_names=list(d["class_names"]),
                       dim=int(d["dim"]), meta=dict(d.get("meta", {})))
        except SideInfoError as exc:
            raise SideInfoError(f"file {path}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - any unpickling/IO problem
            raise SideInfoError(f"embedding file {path} is unreadable: {exc}") from exc


def embed_side_info(side_info: dict[str, dict[str, list[str]]], class_names: list[str],
                    encoder: TextEncoder, cache_dir: str | Path | None = None,
                    k: int | None = None) -> SemanticEmbeddings:
    """Embed the six levels of ``side_info`` for ``class_names`` (in that order).

    Temporal round r embeds description i as ``phase1[i] + " " + ... + phase_r[i]``.
    ``k`` defaults to the count of the first class's ``spatial_cg`` list. Raises SideInfoError
    for a missing level or class, wrong k, empty strings, or an encoder width mismatch.
    """
    missing = [lv for lv in LEVELS if lv not in side_info]
    if missing:
        raise SideInfoError(f"side information lacks levels {missing}")
    if k is None:
        first = side_info["spatial_cg"].get(class_names[0]) if class_names else None
        k = len(first) if isinstance(first, list) else 10
    side = {lv: validate_level(side_info[lv], class_names, k, lv, file="<side_info dict>",
                               check_duplicates=False) for lv in LEVELS}
    texts: list[str] = []
    for lv in SPATIAL_LEVELS:
        for c in class_names:
            texts += side[lv][c]
    for r in (1, 2, 3):
        for c in class_names:
            texts += temporal_round_texts(side, c, r)
    vecs = torch.from_numpy(cached_encode(encoder, texts, cache_dir))
    C, D = len(class_names), encoder.dim
    blocks = vecs.reshape(6, C, k, D).unbind(0)
    return SemanticEmbeddings(spatial=[b.clone() for b in blocks[:3]],
                              temporal=[b.clone() for b in blocks[3:]],
                              encoder_id=encoder.model_id, class_names=list(class_names), dim=D)


PAPER_FILES = {"spatial": ("spatial_cg", "spatial_mg", "spatial_fg"),
               "temporal": ("temporal_fp", "temporal_fsp", "temporal_fstp")}


def load_paper_embeddings(folder: str | Path, prefix: str | None = None,
                          class_names: list[str] | None = None) -> SemanticEmbeddings:
    """Load the paper's released CLIP ViT-L/14@336px text embeddings (Neuron release, ``semantics/``).

    Reads ``<prefix>_spatial_{cg,mg,fg}.tar`` and ``<prefix>_temporal_{fp,fsp,fstp}.tar`` from
    ``folder`` or its ``spatial/``, ``temporal/`` sub-folders; each a tensor (C, 10, 768) float32.
    ``prefix`` (e.g. ``ntu120_gpt4omini_incontext``) is detected when None. Rows follow the
    release's class order (the keys of ``spatial_cg.json``); with ``class_names`` given, rows are
    re-ordered to it (names must be keys of that JSON). Raises SideInfoError naming the file.
    """
    folder = Path(folder)

    def find(stem: str) -> Path:
        pats = [f"{prefix}_{stem}.tar"] if prefix else [f"*_{stem}.tar"]
        for sub in ("", stem.split("_")[0]):
            for pat in pats:
                hits = sorted((folder / sub).glob(pat))
                if hits:
                    return hits[0]
        raise SideInfoError(f"level {stem}: no embedding file {pats[0]} in {folder} "
                            f"or {folder / stem.split('_')[0]}")

    tensors = {}
    for group, stems in PAPER_FILES.items():
        for stem in stems:
            p = find(stem)
            try:
                t = torch.load(p, map_location="cpu", weights_only=True)
            except Exception as exc:  # noqa: BLE001
                raise SideInfoError(f"level {stem}: embedding file {p} is unreadable: {exc}") from exc
            if not isinstance(t, torch.Tensor) or t.ndim != 3:
                raise SideInfoError(f"level {stem}: file {p} holds {type(t).__name__} "
                                    f"{tuple(getattr(t, 'shape', ()))}, expected a (C, K, D) tensor")
            tensors[stem] = (t.float(), p)
    shapes = {tuple(t.shape) for t, _ in tensors.values()}
    if len(shapes) != 1:
        raise SideInfoError(f"paper embeddings in {folder} disagree in shape: {sorted(shapes)}")
    C, K, D = shapes.pop()
    order = None
    js = [folder / "spatial_cg.json", folder / "spatial" / "spatial_cg.json"]
    released = None
    for j in js:
        if j.exists():
            released = list(json.loads(j.read_text(encoding="utf-8")))
            break
    if class_names is None:
        class_names = released or [str(i) for i in range(C)]
    elif released is not None:
        pos = {c: i for i, c in enumerate(released)}
        for c in class_names:
            if c not in pos:
                raise SideInfoError(f"class {c!r} not in the released class list ({j})")
        order = torch.tensor([pos[c] for c in class_names])
    elif len(class_names) != C:
        raise SideInfoError(f"{len(class_names)} class names for tensors with {C} rows in {folder}")
    if released is not None and len(released) != C:
        raise SideInfoError(f"{j} lists {len(released)} classes, tensors have {C} rows")

    def pick(stem):
        t = tensors[stem][0]
        return (t[order] if order is not None else t).contiguous()

    return SemanticEmbeddings(spatial=[pick(s) for s in PAPER_FILES["spatial"]],
                              temporal=[pick(s) for s in PAPER_FILES["temporal"]],
                              encoder_id=PAPER_ENCODER_ID, class_names=list(class_names), dim=D,
                              meta={"source": str(folder), "k": K})


def import_paper_semantics(folder: str | Path, class_names: list[str] | None = None,
                           k: int = 10, prefix: str | None = None,
                           out_folder: str | Path | None = None, cache_dir: str | Path | None = None):
    """Import the paper's released side information and CLIP embeddings (NTU-120, PKU-MMD I).

    Args:
        folder: ``neuron_semantics/ntu`` or ``neuron_semantics/pku`` (``spatial/``, ``temporal/``).
        class_names: class order (default: the key order of ``spatial_cg.json``, which is the
            order of the tensors' rows). Names must match the JSON keys exactly.
        prefix: tensor file prefix (default: detected, e.g. ``ntu120_gpt4omini_incontext``).
        out_folder: if given, the six level JSONs are written there (flat layout).
        cache_dir: if given, the embeddings are saved as
            ``<cache_dir>/<encoder_id>/<sha>.pt`` (see :meth:`SemanticEmbeddings.save`).
    Returns ``(side_info, SemanticEmbeddings)``; tensors are (C, 10, 768) float32 (CLIP
    ViT-L/14@336px text features, not normalised), rows re-ordered to ``class_names``.
    Raises SideInfoError on a missing class/file, wrong k or wrong tensor shape.
    """
    folder = Path(folder)
    if class_names is None:
        p = level_file(folder, "spatial_cg")
        try:
            class_names = list(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise SideInfoError(f"level spatial_cg: file {p} is unreadable: {exc}") from exc
    # The released files contain a few near-duplicate descriptions; accept them as released.
    side = load_side_info(folder, class_names, k, check_duplicates=False)
    emb = load_paper_embeddings(folder, prefix, class_names=class_names)
    if out_folder is not None:
        save_side_info(out_folder, side)
    if cache_dir is not None:
        key = sha256_obj({"side_info": side, "encoder": emb.encoder_id})[:16]
        emb.save(Path(cache_dir).expanduser() / safe_name(emb.encoder_id) / f"{key}.pt")
    return side, emb
