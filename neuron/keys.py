"""Every cache key and weights fingerprint of the pipeline, under one rule.

A key is the SHA-256 of the resolved parameters (and data identities) an output depends on,
after :func:`key_params`: an option added to the code after runs were committed is left out
while it holds the value that means "as before" (:data:`LATE_OPTIONS`), and a value renamed
after runs were committed is hashed under its old spelling (:data:`RENAMED_VALUES`). So growing
or renaming the parameter schema leaves the keys of earlier runs, and their caches, valid.

Keys (their users in brackets):

- :func:`stage_key`: what a stage notebook's outputs depend on (the study runner's stamps and
  the sharing of data / side-information / encoder stages between runs);
- :func:`encoder_key`: the pre-trained encoder's cache folder (``encoders/<key>/``);
- :func:`features_file` / :func:`views_file`: frozen-encoder feature files in that folder;
- :func:`side_info_key`: the folder of generated side information;
- :func:`weights_fingerprint` and :func:`checkpoint_fingerprint`: what a Neuron, baseline or
  encoder checkpoint must match to be resumed or reused.

Every key's value for the committed studies is pinned by ``tests/test_keys.py``.
"""
from __future__ import annotations

import hashlib
from typing import Any, Iterable

import numpy as np

from neuron.config import DEFAULT_METHODS, LEGACY_VALUES, OptimConfig, PeersConfig, RunConfig, to_dict
from neuron.io import sha256_obj
from neuron.manifest import RUNTIME_KEYS

#: Every key built here (the names :func:`key_params` takes).
KEYS = ("stage", "encoder", "weights", "checkpoint", "side_info")

#: Options added after runs were committed: ``"section.option": (value meaning "as before",
#: the keys that leave the option out while it has that value)``. ``encoder.shift_grad`` is left
#: out of the encoder's cache key only: stage keys and checkpoint fingerprints have hashed it
#: since it was introduced (it is part of the recipe they hash as a whole).
LATE_OPTIONS: dict[str, tuple[Any, frozenset[str]]] = {
    "data.protocol": ("", frozenset(KEYS)),
    "encoder.shift_grad": ("exact", frozenset({"encoder"})),
    "neuron.round_logit_scales": (None, frozenset(KEYS)),
    "neuron.round_weights": (None, frozenset(KEYS)),
    # top-level options (no section): the methods a run trains and the peers' settings
    "methods": (DEFAULT_METHODS, frozenset(KEYS)),
    "peers": (to_dict(PeersConfig()), frozenset(KEYS)),
}

#: Values renamed after runs were committed: ``"section.option": {current name: name hashed}``,
#: the inverse of :data:`neuron.config.LEGACY_VALUES` (e.g. ``neuron.fusion: mean_log_softmax``
#: is hashed as ``sum_softmax``, its former name).
RENAMED_VALUES: dict[str, dict[Any, Any]] = {
    opt: {new: old for old, new in names.items()} for opt, names in LEGACY_VALUES.items()}


def key_params(section: str, values: dict, key: str) -> dict:
    """``values`` (one resolved config section, e.g. ``to_dict(cfg.neuron)``) as the key ``key``
    hashes it: late options at their "as before" value dropped, renamed values in their old
    spelling (:data:`LATE_OPTIONS`, :data:`RENAMED_VALUES`).

    Raises:
        ValueError: ``key`` is not one of :data:`KEYS`.
    """
    if key not in KEYS:
        raise ValueError(f"key_params: unknown key {key!r}; keys: {KEYS}")
    out = {}
    for name, v in values.items():
        opt = f"{section}.{name}"
        late = LATE_OPTIONS.get(opt)
        if late is not None and key in late[1] and v == late[0]:
            continue
        out[name] = RENAMED_VALUES.get(opt, {}).get(v, v) if isinstance(v, str) else v
    return out


def _config_params(config: dict, key: str) -> dict:
    """A whole resolved run config (``to_dict(RunConfig)``) with :func:`key_params` applied to
    each section, and top-level late options (:data:`LATE_OPTIONS` without a section) at their
    "as before" value dropped."""
    out = {}
    for k, v in config.items():
        late = LATE_OPTIONS.get(k)
        if late is not None and key in late[1] and v == late[0]:
            continue
        out[k] = key_params(k, v, key) if isinstance(v, dict) and k != "peers" else v
    return out


# --------------------------------------------------------------------------- stage keys
def stage_key(stage: str, config: dict) -> str:
    """What a stage's output depends on (used to share and skip stage executions).

    ``config`` is a resolved run config (``to_dict(RunConfig)``). ``data``: the dataset, split,
    split index, data root, bad-file handling, protocol and seed; ``side_info``: the dataset and
    the ``side_info`` section; ``encoder``: the ``data`` section, seed and ``encoder`` section;
    ``neuron`` (any other stage): every parameter except :data:`neuron.manifest.RUNTIME_KEYS`.
    Returns 64 hex digits.
    """
    config = _config_params(config, "stage")
    d = config["data"]
    data_part = {k: d[k] for k in ("dataset", "split", "split_index", "data_root", "skip_bad",
                                   "protocol") if k in d}
    if stage == "data":
        return sha256_obj({"data": data_part, "seed": config["seed"]})
    if stage == "side_info":
        return sha256_obj({"dataset": d["dataset"], "side_info": config["side_info"]})
    if stage == "encoder":
        return sha256_obj({"data": d, "seed": config["seed"], "encoder": config["encoder"]})
    return sha256_obj({k: v for k, v in config.items() if k not in RUNTIME_KEYS})


# --------------------------------------------------------------------------- cache files
def encoder_key(cfg: RunConfig, bundle) -> str:
    """Cache key (16 hex digits) of the pre-trained encoder: the processed data, split (name,
    index, seen classes, training samples), seed, augmentation and window, stream, validation
    fraction and the ``encoder`` recipe. ``bundle``: a :class:`neuron.stages.DataBundle` (only
    ``pdata.key``, ``split_spec.name``, ``split.seen`` and ``split.train`` are read)."""
    d = cfg.data
    return sha256_obj({"processed": bundle.pdata.key, "split": bundle.split_spec.name,
                       "index": d.split_index, "seen": bundle.split.seen, "seed": cfg.seed,
                       "window": d.window, "p": d.p_interval, "rot": d.random_rotation,
                       "min_crop": d.min_crop_frames,
                       "stream": d.stream, "val": d.val_fraction, "train": bundle.split.train.tolist(),
                       "optim": key_params("encoder", to_dict(cfg.encoder), "encoder")})[:16]


def features_file(window: int, indices: np.ndarray) -> str:
    """File name of the frozen-encoder features of the samples ``indices`` (sorted unique
    dataset indices) with centred windows of ``window`` frames, in the encoder's folder."""
    return f"features-{window}-{sha256_obj(np.asarray(indices).tolist())[:12]}.pt"


def views_file(cfg: RunConfig, indices: np.ndarray) -> str:
    """File name of the ``neuron_train.views`` augmented feature views of the training samples
    ``indices``: hashes the samples, window, augmentation, stream, seed and view count."""
    d = cfg.data
    key = sha256_obj({"idx": np.asarray(indices).tolist(), "window": d.window, "p": d.p_interval,
                      "rot": d.random_rotation, "min_crop": d.min_crop_frames, "stream": d.stream,
                      "seed": cfg.seed, "views": cfg.neuron_train.views})[:12]
    return f"views-{key}.pt"


def side_info_key(cfg: RunConfig) -> str:
    """Key (12 hex digits) of generated side information: the dataset, the ``generation``
    section and ``k`` (descriptions per level)."""
    g = key_params("side_info.generation", to_dict(cfg.side_info.generation), "side_info")
    return sha256_obj({"dataset": cfg.data.dataset, "generation": g, "k": cfg.side_info.k})[:12]


# --------------------------------------------------------------------------- checkpoints
def tensor_hash(tensors: Iterable) -> str:
    """SHA-256 (hex) of tensors' shapes and float32 values, in order."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def weights_fingerprint(cfg: RunConfig, bundle, sem, feats, kind: str, classes: list[int],
                        section: str | None = None) -> dict:
    """Everything besides the optimiser recipe and seed (added by :func:`checkpoint_fingerprint`)
    that determines the weights of a trained Neuron or baseline model; a finished checkpoint is
    reused only when this matches.

    Covers: the features (encoder key + feature file, or a hash of their values), the processed
    data and training samples, the training classes, the side information (source, text encoder
    id, ``k`` and a hash of the embeddings, i.e. of the texts as encoded), the model config
    (``neuron`` or ``baseline``), the augmented views (``neuron_train.views``, data
    augmentation) and the numeric precision.

    Args:
        bundle: a :class:`neuron.stages.DataBundle` (``pdata.key``, ``split.train`` are read).
        sem: a :class:`neuron.stages.Semantics` (``spatial``, ``temporal``, ``encoder_id``).
        feats: :class:`neuron.train.Features` (``key``, ``content_hash()``, ``views``).
        kind: the method (``"neuron"``, ``"baseline"``, a name of :data:`neuron.stages.METHODS`).
        classes: the training classes (the twin's are the seen classes minus the pseudo-unseen).
        section: the ``cfg`` section of the method's model (default: ``kind``; dotted for a
            peer's settings, e.g. ``peers.star``).
    """
    d = cfg.data
    emb = tensor_hash(list(sem.spatial) + list(sem.temporal))
    fp = {"kind": kind, "features": feats.key or feats.content_hash(), "processed": str(bundle.pdata.key),
          "train": sha256_obj(np.asarray(bundle.split.train).tolist()), "classes": list(classes),
          "side_info": {"source": cfg.side_info.source, "encoder": sem.encoder_id, "k": cfg.side_info.k,
                        "embeddings": emb},
          "precision": cfg.precision}
    section = section or kind
    part = cfg
    for name in section.split("."):  # a dotted section: e.g. ``peers.star``
        part = getattr(part, name)
    fp["model"] = key_params(section, to_dict(part), "weights")
    if kind == "neuron" and cfg.neuron_train.views:
        fp["views"] = {"n": cfg.neuron_train.views, "p": d.p_interval, "rot": d.random_rotation,
                       "min_crop": d.min_crop_frames, "key": feats.views[0].key if feats.views else None}
    return fp


def checkpoint_fingerprint(cfg: OptimConfig, seed: int, fingerprint: dict | None = None, **extra) -> str:
    """The hash a checkpoint must carry to be resumed (or reused when finished): the training
    recipe ``cfg`` (every optimiser field, incl. epochs and batch size), the ``seed``, the
    caller's ``fingerprint`` (for Neuron and the baseline: :func:`weights_fingerprint`; for the
    encoder: its :func:`encoder_key`) and ``extra`` (e.g. a twin's ``steps_per_epoch``)."""
    return sha256_obj({"optim": to_dict(cfg), "seed": seed, **(fingerprint or {}), **extra})
