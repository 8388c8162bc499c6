"""The pipeline's stages as plain functions (the notebooks call these and plot the results).

Each stage is content-addressed: its outputs live in the cache under a key that hashes every
input that can change them, so a stage whose inputs are unchanged is skipped (loaded), and a
changed input recomputes it (keys: :mod:`neuron.keys`). Cache root: ``$NEURON_CACHE`` or
``<project>/runs/.cache``.

- data: processed dataset (``processed/``) + the zero-shot split of the run;
- side information: embeddings ``(classes, K, D)`` per round (``embeddings/``);
- encoder: Shift-GCN pre-trained on the seen classes (``encoders/<key>/``, resumable);
- features: frozen-encoder features of every sample (``encoders/<key>/features-*.pt``, float16);
- neuron: every method of :data:`METHODS` the run lists in ``methods`` (Neuron, the
  global-alignment baseline, the peer heads SMIE, SA-DVAE and STAR) with its calibration twin, trained on the frozen features and the class text embeddings by one shared
  function (:func:`fit_and_score`) and evaluated in the run folder.

At about 650 lines this module is longer than the others on purpose: it is the one place that
says what each stage computes from what, and the neuron stage's method registry, evaluation
variants and validation folds are parts of that stage.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from filelock import FileLock

from neuron import evaluate as ev
from neuron import stats
from neuron.analysis import compactness
from neuron.config import (PROJECT_ROOT, DatasetSpec, RunConfig, SplitSpec, data_root,
                           load_dataset_spec, load_split_spec, to_dict)
from neuron.data import ProcessedData, ZeroShotSplit, load_processed, make_split
from neuron.data.loader import WindowDataset
from neuron.distributed import is_distributed
from neuron.errors import SideInfoError
from neuron.io import sha256_obj, torch_load, torch_save, write_json
from neuron.keys import encoder_key, features_file, side_info_key, views_file, weights_fingerprint
from neuron.models import PEERS, FrozenEncoder, GlobalAlignment, Neuron, ShiftGCN, build
from neuron.models.peer_common import PeerInputs
from neuron.side_info import class_name_side_info, load_side_info
from neuron.side_info.embed import embed_side_info, load_paper_embeddings
from neuron.side_info.generate import generate_configured
from neuron.train import (Features, FitResult, Scores, batches_per_epoch, extract_features,
                          fused_final_round, label_map, pretrain_encoder, resolve_device, score_baseline,
                          score_neuron, seed_everything, train_baseline, train_neuron)


def cache_root() -> Path:
    """``$NEURON_CACHE`` or ``<project>/runs/.cache``."""
    return Path(os.environ.get("NEURON_CACHE") or PROJECT_ROOT / "runs" / ".cache").resolve()


def runtime(cfg: RunConfig) -> dict:
    """Training-loop runtime options of a run (mixed precision on CUDA, loader workers)."""
    return {"precision": cfg.precision, "num_workers": cfg.num_workers}


def setup_torch(cfg: RunConfig) -> torch.device:
    """Seed everything, set threads, pick the device; returns it."""
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    seed_everything(cfg.seed)
    torch.use_deterministic_algorithms(False)
    return resolve_device(cfg.device)


# --------------------------------------------------------------------------- data
@dataclass
class DataBundle:
    """The processed dataset and this run's zero-shot split."""

    spec: DatasetSpec
    split_spec: SplitSpec
    pdata: ProcessedData
    split: ZeroShotSplit
    root: Path
    protocol: str = ""

    @property
    def class_names(self) -> list[str]:
        return self.pdata.class_names

    def windows(self, cfg: RunConfig, indices, train: bool, classes=None) -> WindowDataset:
        """A :class:`WindowDataset` over ``indices`` (labels mapped to positions in ``classes``)."""
        d = cfg.data
        return WindowDataset(self.pdata, indices, d.window, train, d.p_interval,
                             d.random_rotation if train else 0.0, d.stream, cfg.seed,
                             label_map(classes) if classes is not None else None, d.min_crop_frames)


def stage_data(cfg: RunConfig) -> DataBundle:
    """Load (or build and cache) the processed dataset and make the run's split under the
    run's protocol (``data.protocol``; the bundle's ``spec`` has it applied).

    Raises:
        DataError: data missing (with where to get it) or a bad file.
        ConfigError: an unknown protocol.
    """
    spec = load_dataset_spec(cfg.data.dataset)
    split_spec = load_split_spec(cfg.data.split)
    root = data_root(cfg.data.data_root)
    pdata = load_processed(spec, root, cache_root() / "processed", cfg.data.skip_bad,
                           cfg.data.download)
    pspec = spec.for_protocol(cfg.data.protocol)
    split = make_split(pdata, pspec, split_spec, cfg.data.split_index, cfg.data.val_fraction,
                       cfg.data.pseudo_unseen, cfg.seed)
    return DataBundle(pspec, split_spec, pdata, split, root, cfg.data.protocol or spec.protocol)


def data_summary(bundle: DataBundle) -> dict:
    """Counts for the manifest and the data report."""
    s = bundle.split
    out = {"dataset": bundle.spec.name, "samples": len(bundle.pdata), "processed_key": bundle.pdata.key,
           "seen": s.seen, "unseen": s.unseen, "pseudo_unseen": s.pseudo_unseen, **s.counts(),
           "skipped": bundle.pdata.skipped}
    if bundle.protocol:
        out["protocol"] = bundle.protocol
    if bundle.pdata.groups:  # samples per subject group (adult / child) in each part
        groups = np.array(bundle.pdata.groups)
        out["groups"] = {part: {str(g): int((groups[getattr(s, part)] == g).sum())
                                for g in sorted(set(groups.tolist()))}
                         for part in ("train", "val", "test", "test_unseen")}
    if bundle.pdata.missing:  # recordings the dataset lacks; ``unexpected`` = not documented
        out["missing"] = list(bundle.pdata.missing)
        out["missing_unexpected"] = sorted(set(bundle.pdata.missing) - set(bundle.spec.known_missing))
    return out


# --------------------------------------------------------------------------- side information
@dataclass
class Semantics:
    """Per-round class embeddings for the run: lists of ``(C_all, K, D)`` float32 tensors."""

    spatial: list[torch.Tensor]
    temporal: list[torch.Tensor]
    encoder_id: str
    source: str
    dim: int

    def class_means(self) -> torch.Tensor:
        """``(C_all, D)``: L2-normalised mean of every description embedding of each class
        (all spatial and temporal levels): the baseline's class embedding."""
        allv = torch.cat([torch.nn.functional.normalize(x, dim=-1) for x in self.spatial + self.temporal], 1)
        return torch.nn.functional.normalize(allv.mean(1), dim=-1)


def side_info_folder(cfg: RunConfig, root: Path) -> Path | None:
    """Folder of the six level JSON files for ``cfg.side_info.source`` (None for class names)."""
    src = cfg.side_info.source
    if src == "class_names":
        return None
    if src == "shipped":
        return PROJECT_ROOT / "params" / "side_info" / cfg.data.dataset
    if src == "generated":
        return cache_root() / "side_info" / f"{cfg.data.dataset}-{side_info_key(cfg)}"
    if src in ("paper", "paper_embeddings"):
        sub = {"ntu60": "ntu", "ntu120": "ntu", "pku_mmd1": "pku"}.get(cfg.data.dataset)
        if sub is None:
            raise SideInfoError(f"side_info.source={src}: the paper released side information for "
                                f"NTU and PKU-MMD only, not {cfg.data.dataset}")
        return root / "neuron_semantics" / sub
    path = Path(src)
    return path if path.is_absolute() else PROJECT_ROOT / path


def stage_side_info(cfg: RunConfig, bundle: DataBundle, device: str = "cpu") -> Semantics:
    """Descriptions -> embeddings per round, cached by encoder id and text hash."""
    from neuron import text  # imported on use: loading it takes seconds (sentence-transformers)

    names = bundle.class_names
    k = cfg.side_info.k
    folder = side_info_folder(cfg, bundle.root)
    cache = cache_root() / "embeddings"
    if cfg.side_info.source == "paper_embeddings":
        emb = load_paper_embeddings(folder, class_names=names)
    else:
        if cfg.side_info.source == "generated":
            generate_configured(cfg.side_info.generation, names, folder, k, cfg.data.dataset)
        if folder is None:
            info = class_name_side_info(names, k=k)
        else:
            info = load_side_info(folder, names, k=k)
        encoder = text.get_text_encoder(cfg.side_info.encoder, device=device)
        emb = embed_side_info(info, names, encoder, cache)
    return Semantics([x[:, :k].float() for x in emb.spatial], [x[:, :k].float() for x in emb.temporal],
                     emb.encoder_id, cfg.side_info.source, int(emb.spatial[0].shape[-1]))


# --------------------------------------------------------------------------- encoder
def build_encoder(bundle: DataBundle, num_classes: int, shift_grad: str = "exact"):
    return ShiftGCN(num_classes=num_classes, num_point=bundle.pdata.layout.num_joints,
                    num_person=bundle.spec.num_person, in_channels=bundle.pdata.data.shape[1],
                    shift_grad=shift_grad)


def stage_encoder(cfg: RunConfig, bundle: DataBundle, device: torch.device, progress: bool = True,
                  stop_after: int | None = None) -> tuple[torch.nn.Module, list[dict], Path]:
    """Pre-train Shift-GCN on the seen classes (or load it when already trained).

    Returns (encoder in eval mode, per-epoch history, its folder). Training runs under a file
    lock in the encoder's cache folder, so concurrent runs sharing the encoder train it once
    (each training start is logged in ``train-events.log`` there).
    """
    key = encoder_key(cfg, bundle)
    folder = cache_root() / "encoders" / key
    seed_everything(cfg.seed)
    encoder = build_encoder(bundle, len(bundle.split.seen), cfg.encoder.shift_grad).to(device)
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".train.lock")):  # one process trains a shared encoder; others wait
        return _train_or_load_encoder(cfg, bundle, encoder, device, progress, stop_after, key, folder)


def _train_or_load_encoder(cfg, bundle, encoder, device, progress, stop_after, key, folder):
    final = folder / "encoder.pt"
    seen = bundle.split.seen
    if final.exists():
        state = torch_load(final)
        encoder.load_state_dict(state["model"])
        encoder.eval()
        return encoder, list(state["history"]), folder
    ckpt = folder / "checkpoint.pt"
    resume = torch_load(ckpt).get("epoch") if ckpt.exists() else None
    with open(folder / "train-events.log", "a") as fh:  # one line per training start (audit)
        # CPU results are bit-identical per thread count (neuron.manifest); a resumed training
        # may mix counts, which this line makes visible (checkpoint_epoch: epochs already in a checkpoint)
        fh.write(f"train {key} pid={os.getpid()} threads={torch.get_num_threads()} "
                 f"checkpoint_epoch={resume or 0}\n")
    train_set = bundle.windows(cfg, bundle.split.train, True, seen)
    val_set = bundle.windows(cfg, bundle.split.val, False, seen)
    res = pretrain_encoder(encoder, train_set, val_set, cfg.encoder, cfg.seed, device,
                           folder / "checkpoint.pt", progress, {"key": key}, stop_after,
                           **runtime(cfg))
    if len(res.history) == cfg.encoder.epochs:
        torch_save({"model": encoder.state_dict(), "history": res.history, "key": key}, final)
        write_json(folder / "history.json", res.history)
    return encoder, res.history, folder


def stage_features(cfg: RunConfig, bundle: DataBundle, encoder: torch.nn.Module, enc_folder: Path,
                   device: torch.device, progress: bool = True):
    """Frozen-encoder features of the split's samples (centred windows), cached as float16.

    Returns a :class:`neuron.train.Features` with ``index`` = dataset sample indices.
    """
    sp = bundle.split
    idx = np.unique(np.concatenate([sp.train, sp.val, sp.test]))
    path = enc_folder / features_file(cfg.data.window, idx)
    with FileLock(str(path) + ".lock"):  # runs sharing an encoder extract its features once
        if path.exists():
            feats = Features.from_state(torch_load(path))
        else:
            frozen = FrozenEncoder(encoder)
            state = extract_features(frozen, bundle.windows(cfg, idx, False), device, 128, progress).to_state()
            torch_save(state, path)
            feats = Features.from_state(state)  # the same float16-rounded values a later run loads
    feats.key = f"{enc_folder.name}/{path.name}"
    if cfg.neuron_train.views > 0:
        feats.views = augmented_views(cfg, bundle, encoder, enc_folder, device, progress)
    return feats


def augmented_views(cfg: RunConfig, bundle: DataBundle, encoder: torch.nn.Module, enc_folder: Path,
                    device: torch.device, progress: bool = True) -> list:
    """``neuron_train.views`` augmented feature views of every training sample (float16 cache).

    View ``v`` of sample ``j`` is the frozen encoder's output on the training augmentation
    (random crop of ``data.p_interval`` with at least ``data.min_crop_frames`` frames, rotation
    ``data.random_rotation``) drawn from a generator seeded by ``(seed + 7919 (v + 1), 0, j)``,
    so the views differ from each other and from the encoder's own training epochs. The cache
    file's name hashes everything the views depend on (encoder folder = encoder key, samples,
    augmentation, window, stream, seed, view count). Returns a list of :class:`Features`
    (rows = ``bundle.split.train``).
    """
    idx = np.asarray(bundle.split.train)
    path = enc_folder / views_file(cfg, idx)
    if path.exists():
        states = torch_load(path)["views"]
    else:
        frozen = FrozenEncoder(encoder)
        states = []
        for v in range(cfg.neuron_train.views):
            ds = bundle.windows(cfg, idx, True)
            ds.seed = cfg.seed + 7919 * (v + 1)
            ds.set_epoch(0)
            states.append(extract_features(frozen, ds, device, 128, progress).to_state())
        torch_save({"views": states}, path)
    views = [Features.from_state(st) for st in states]
    for v in views:
        v.key = f"{enc_folder.name}/{path.name}"
    return views


# --------------------------------------------------------------------------- methods
def new_neuron(cfg: RunConfig, sem: Semantics, feats: Features, device: torch.device) -> Neuron:
    """A freshly seeded :class:`neuron.models.Neuron` for the run (models and all their twins)."""
    seed_everything(cfg.seed)
    return Neuron(text_dim=sem.dim, feat_dim=feats.f_s.shape[1], **to_dict(cfg.neuron)).to(device)


def new_baseline(cfg: RunConfig, sem: Semantics, feats: Features, device: torch.device) -> GlobalAlignment:
    """A freshly seeded :class:`neuron.models.GlobalAlignment` baseline for the run."""
    seed_everything(cfg.seed)
    return GlobalAlignment(text_dim=sem.dim, feat_dim=feats.pooled.shape[1], hidden=cfg.baseline.hidden,
                           logit_scale=cfg.baseline.logit_scale).to(device)


def _fit_neuron(model, feats, classes, cfg, sem, device, checkpoint, progress, fingerprint, **kw) -> FitResult:
    return train_neuron(model, feats, classes, sem.spatial, sem.temporal, cfg.neuron_train, cfg.seed,
                        device, checkpoint, progress, fingerprint, **kw)


def _fit_baseline(model, feats, classes, cfg, sem, device, checkpoint, progress, fingerprint,
                  views=None, **kw) -> FitResult:
    """Train the baseline on pooled features (it takes no augmented ``views``)."""
    return train_baseline(model, feats, classes, sem.class_means(), cfg.baseline_train, cfg.seed, device,
                          checkpoint, progress, fingerprint, **kw)


def _save_neuron(scores: Scores, labels: np.ndarray, unseen: list[int], run_dir: Path) -> dict:
    """``scores.pt`` (fused test scores, representations and temporal prototypes, for figures)
    and the compactness of unseen-class representations per round (paper Fig. 4d / 5d)."""
    um = np.isin(labels, unseen)
    extra = {"compactness": {
        b: [compactness(r[um].numpy(), labels[um])["intra"] for r in reps]
        for b, reps in (("spatial", scores.spatial_reps), ("temporal", scores.temporal_reps)) if reps}}
    torch_save({"labels": torch.as_tensor(labels), "classes": torch.as_tensor(scores.classes),
                "fused": scores.fused, "fusion": "mean_log_softmax", "spatial_reps": scores.spatial_reps,
                "temporal_reps": scores.temporal_reps, "temporal_prototypes": scores.temporal_prototypes},
               run_dir / "scores.pt")
    return extra


def _save_baseline(scores: Scores, labels: np.ndarray, unseen: list[int], run_dir: Path) -> dict:
    torch_save({"fused": scores.fused}, run_dir / "baseline_scores.pt")
    return {}


def new_peer(name: str) -> Callable[..., torch.nn.Module]:
    """The ``new`` of peer ``name`` (:data:`neuron.models.PEERS`): a freshly seeded head with the
    run's ``peers.<name>`` settings over the paper recipe (docs/peers.md), text size
    ``sem.dim``, feature size ``F`` of ``feats.pooled (N, F)``. The head remembers the data
    bundle's joint layout (``bundle.pdata.layout.name``, e.g. ``nw_ucla_20``), which STAR's body
    parts follow unless ``peers.star.parts`` / ``layout`` are given.

    Raises:
        ConfigError: settings the peer does not know.
    """
    def new(cfg: RunConfig, sem: Semantics, feats: Features, device: torch.device,
            bundle: DataBundle | None = None) -> torch.nn.Module:
        seed_everything(cfg.seed)
        model = build(name, sem.dim, int(feats.pooled.shape[1]), cfg.peers.settings(name))
        model.layout_name = bundle.pdata.layout.name if bundle is not None else None
        return model
    return new


def _peer_inputs(model, feats: Features) -> PeerInputs:
    """The feature views of ``feats`` as a peer reads them (pooled ``(N, F)``, ``f_t (N, F, T')``,
    ``f_s (N, F, V)``, the data's layout name)."""
    return PeerInputs(feats.pooled.float(), feats.f_t.float(), feats.f_s.float(), getattr(model, "layout_name", None))


def _fit_peer(model, feats, classes, cfg, sem, device, checkpoint, progress, fingerprint, **kw) -> FitResult:
    """Train a peer head with its own recipe (``model.fit``) on ``feats`` of ``classes`` against
    the class-mean text embeddings (:meth:`Semantics.class_means`, as the baseline), on the CPU,
    seeded by ``cfg.seed``. Peers keep no checkpoint (they retrain in seconds to minutes) and
    ignore the harness's runtime options (``kw``: precision, ``steps_per_epoch``, ``views``,
    ``stop_after``...). Returns the per-epoch (SA-DVAE: per-cycle) mean losses as history."""
    out = model.fit(_peer_inputs(model, feats), feats.labels, sem.class_means(), list(classes), seed=cfg.seed)
    return FitResult([{"epoch": i + 1, "loss": float(v)} for i, v in enumerate(out["losses"])], 0)


def _score_peer(model, feats, classes, sem, device) -> Scores:
    """A peer's ``(N, len(classes))`` scores (``model.scores``) as :class:`neuron.train.Scores`;
    a peer has one score, so ``fused`` is also its one head in the official-code protocol."""
    sc = model.scores(_peer_inputs(model, feats), classes=list(classes))
    return Scores(list(classes), torch.as_tensor(np.asarray(sc), dtype=torch.float32))


def _save_peer(name: str) -> Callable[[Scores, np.ndarray, list[int], Path], dict]:
    def save(scores: Scores, labels: np.ndarray, unseen: list[int], run_dir: Path) -> dict:
        torch_save({"fused": scores.fused, "classes": torch.as_tensor(scores.classes)},
                   run_dir / f"{name}_scores.pt")
        return {}
    return save


@dataclass(frozen=True)
class Method:
    """A zero-shot method the neuron stage fits and scores on the run's frozen features and class
    text embeddings (an entry of :data:`METHODS`).

    - ``new(cfg, sem, feats, device, bundle)``: a freshly seeded model (``bundle``: the run's
      :class:`DataBundle`);
    - ``fit(model, feats, classes, cfg, sem, device, checkpoint, progress, fingerprint, **kw)``:
      trains it on ``feats`` of ``classes`` (``kw``: runtime options of :func:`neuron.train.fit`,
      ``stop_after``, ``steps_per_epoch``, ``views``) and returns a :class:`neuron.train.FitResult`;
    - ``score(model, feats, classes, sem, device)``: a :class:`neuron.train.Scores` over
      ``classes`` whose ``fused`` is the method's single prediction (validation-calibrated
      protocol) and ``spatial`` / ``temporal`` its heads, if it has two (official-code protocol;
      without heads ``fused`` is its one head);
    - ``train_config`` / ``model_config``: the run sections of its optimiser (e.g.
      ``"neuron_train"``) and of its model (e.g. ``"neuron"``; hashed into its weights
      fingerprint, :func:`neuron.keys.weights_fingerprint`);
    - ``enabled(cfg)``: whether the run trains it (listed in the run's ``methods``);
      ``uses_views``: trains on the augmented views (``neuron_train.views``);
    - ``peer``: a peer head (:data:`neuron.models.PEERS`) trained with its own recipe
      (``train_config`` names no optimiser section; no checkpoint, no interruption, its twins
      take one pass of that recipe over their samples);
    - ``save(test_scores, labels, unseen, run_dir)``: writes its test scores for the figures and
      returns extra top-level entries of ``metrics.json``.
    """

    new: Callable[[RunConfig, Semantics, Features, torch.device], torch.nn.Module]
    fit: Callable[..., FitResult]
    score: Callable[[torch.nn.Module, Features, list[int], Semantics, torch.device], Scores]
    train_config: str
    model_config: str
    enabled: Callable[[RunConfig], bool] = lambda cfg: True
    uses_views: bool = False
    save: Callable[[Scores, np.ndarray, list[int], Path], dict] = lambda *a: {}
    peer: bool = False


#: The methods the neuron stage can train, in training order: name -> :class:`Method`; a run
#: trains those in its ``methods`` (default ``[neuron, baseline]``). A method's metrics, history
#: and per-sample outcomes are stored under its name in ``metrics.json``; a name the study
#: summaries should report is also listed in :data:`neuron.evaluate.METHODS`.
METHODS: dict[str, Method] = {
    "neuron": Method(lambda cfg, sem, feats, dev, bundle=None: new_neuron(cfg, sem, feats, dev), _fit_neuron,
                     lambda m, f, c, sem, dev: score_neuron(m, f, c, sem.spatial, sem.temporal, dev),
                     "neuron_train", "neuron", uses_views=True, save=_save_neuron),
    "baseline": Method(lambda cfg, sem, feats, dev, bundle=None: new_baseline(cfg, sem, feats, dev),
                       _fit_baseline,
                       lambda m, f, c, sem, dev: score_baseline(m, f, c, sem.class_means(), dev),
                       "baseline_train", "baseline",
                       enabled=lambda cfg: cfg.baseline.enabled and "baseline" in cfg.methods,
                       save=_save_baseline),
    **{name: Method(new_peer(name), _fit_peer, _score_peer, "peers", f"peers.{name}",
                    enabled=lambda cfg, name=name: name in cfg.methods, save=_save_peer(name), peer=True)
       for name in ("smie", "sadvae", "star")},
}
assert set(METHODS) - {"neuron", "baseline"} == set(PEERS)


def twin_steps(cfg: RunConfig, n_train: int, train_cfg) -> dict:
    """``fit`` keyword for a twin trained on fewer samples than its model (``n_train`` samples):
    as many optimiser steps per epoch as the model (``eval.twin_steps: match``), or ``{}`` (one
    pass over the twin's samples) for ``data`` and under torchrun (single-process option)."""
    if cfg.eval.twin_steps == "data" or is_distributed():
        return {}
    return {"steps_per_epoch": batches_per_epoch(n_train, train_cfg.batch_size)}


def method_twin_steps(cfg: RunConfig, method: Method, n_train: int) -> dict:
    """:func:`twin_steps` of ``method`` (``{}`` for a peer: its own recipe, one pass per epoch)."""
    return {} if method.peer else twin_steps(cfg, n_train, getattr(cfg, method.train_config))


@dataclass
class Fitted:
    """One method fitted for a run: its :class:`neuron.train.Scores` on the test samples and its
    calibration twin's on the validation samples (both None when ``stop_after`` interrupted the
    training), its metrics (:func:`method_metrics`), training history and wall time (s)."""

    test: Scores | None
    val: Scores | None
    metrics: dict
    history: list[dict]
    seconds: float


def fit_and_score(name: str, cfg: RunConfig, bundle: DataBundle, sem: Semantics, feats: Features,
                  run_dir: Path, device: torch.device, progress: bool = True, rt: dict | None = None,
                  stop_after: int | None = None) -> Fitted:
    """Fit the method ``name`` of :data:`METHODS` for the run and score it.

    Trains the model on the training samples of every seen class (checkpoint
    ``run_dir/<name>.ckpt``) and its calibration twin on those of the seen classes minus the
    pseudo-unseen ones (``<name>_twin.ckpt``, as many optimiser steps as the model:
    :func:`twin_steps`); scores the model on the test samples (all classes) and the twin on the
    validation samples (seen classes), whose scores choose the calibration constant of the
    validation-calibrated protocol (:func:`method_metrics`). ``rt``: runtime options of
    :func:`neuron.train.fit`. Checkpoints resume and are reused only when their fingerprint
    (:func:`neuron.keys.weights_fingerprint`) matches.

    Raises:
        KeyError: an unknown method name.
        NeuronError: a checkpoint of other parameters in ``run_dir`` (unless ``rt["restart"]``).
    """
    m = METHODS[name]
    rt = rt or {}
    split = bundle.split
    seen, unseen, pseudo = split.seen, split.unseen, split.pseudo_unseen
    twin_seen = [c for c in seen if c not in pseudo]
    f_train, f_val, f_test = feats.take(split.train), feats.take(split.val), feats.take(split.test)
    twin_mask = torch.isin(f_train.labels, torch.as_tensor(twin_seen))
    views = [v.take(split.train) for v in feats.views] if m.uses_views and feats.views else None
    t0 = time.time()
    model = m.new(cfg, sem, feats, device, bundle)
    hist = m.fit(model, f_train, seen, cfg, sem, device, run_dir / f"{name}.ckpt", progress,
                 weights_fingerprint(cfg, bundle, sem, feats, name, seen, m.model_config),
                 stop_after=stop_after, views=views, **rt)
    if not m.peer and len(hist.history) < getattr(cfg, m.train_config).epochs:
        return Fitted(None, None, {}, hist.history, time.time() - t0)
    twin = m.new(cfg, sem, feats, device, bundle)
    m.fit(twin, f_train.subset(twin_mask), twin_seen, cfg, sem, device, run_dir / f"{name}_twin.ckpt",
          progress, weights_fingerprint(cfg, bundle, sem, feats, name, twin_seen, m.model_config),
          views=[v.subset(twin_mask) for v in views] if views else None, **rt,
          **method_twin_steps(cfg, m, len(f_train)))
    s_test = m.score(model, f_test, sorted(seen + unseen), sem, device)
    s_val = m.score(twin, f_val, sorted(seen), sem, device)
    C = bundle.pdata.num_classes
    metrics = method_metrics(cfg, split, f_test.labels.numpy(), f_val.labels.numpy(),
                             s_test.full(s_test.fused, C), s_val.full(s_val.fused, C), heads(s_test, C),
                             {b: [s_test.full(x, C) for x in r] for b, r in (s_test.rounds or {}).items() if r})
    return Fitted(s_test, s_val, metrics, hist.history, time.time() - t0)


def heads(scores: Scores, num_classes: int) -> dict:
    """``{"spatial", "temporal"}`` ``(N, num_classes)`` head scores the official-code protocol
    scores: a two-branch method's final-round logits, else its fused scores as the one head."""
    if scores.spatial is None and scores.temporal is None:
        return {"spatial": scores.full(scores.fused, num_classes), "temporal": None}
    return {"spatial": scores.full(scores.spatial, num_classes),
            "temporal": scores.full(scores.temporal, num_classes)}


def method_metrics(cfg: RunConfig, split: ZeroShotSplit, labels: np.ndarray, val_labels: np.ndarray,
                   fused: np.ndarray, val_fused: np.ndarray, head_scores: dict,
                   rounds: dict | None = None) -> dict:
    """Metrics of one method's ``(N, C_all)`` test scores (:func:`neuron.evaluate.evaluate_run`)
    with the validation-calibrated protocol's constant chosen on its twin's ``(N_val, C_all)``
    validation scores ``val_fused`` (grid of ``eval.calibration_grid`` points), plus the twin's
    own validation metrics (``val/*``). ``head_scores``: :func:`heads`; ``rounds``: per-branch
    lists of per-round ``(N, C_all)`` scores."""
    seen, unseen, pseudo = split.seen, split.unseen, split.pseudo_unseen
    twin_seen = [c for c in seen if c not in pseudo]
    m = ev.evaluate_run(labels, seen, unseen, **head_scores, fused=fused, rounds=rounds,
                        val=ev.ValidationScores(val_fused, val_labels, twin_seen, pseudo),
                        grid=ev.default_gamma_grid(val_fused, twin_seen, pseudo, n=cfg.eval.calibration_grid))
    m.update(_val_metrics(val_fused, val_labels, twin_seen, pseudo, m["honest/gamma"]))
    return m


def stage_neuron(cfg: RunConfig, bundle: DataBundle, sem: Semantics, feats: Features, run_dir: Path,
                 device: torch.device, progress: bool = True, stop_after: int | None = None,
                 force: bool = False) -> dict:
    """Train and evaluate every method of :data:`METHODS` for the run; write ``metrics.json``.

    Each method is fitted by :func:`fit_and_score` (the model on all seen classes and a
    calibration twin without the pseudo-unseen classes, whose validation scores choose the GZSL
    calibration constant of the validation-calibrated protocol); then the named evaluation
    variants (:func:`variant_scores`), the pseudo-unseen validation folds (``eval.val_folds``)
    and the per-sample outcomes of every method and variant.

    Returns the metrics dict (also written to ``run_dir/metrics.json``), including the
    per-epoch histories, scores for figures under ``run_dir/scores.pt``; ``{"interrupted":
    True, "epochs_done": n}`` when ``stop_after`` stopped a training. With ``force``,
    checkpoints of other parameters in ``run_dir`` are overwritten instead of refused.
    """
    run_dir = Path(run_dir)
    split = bundle.split
    seen, unseen = split.seen, split.unseen
    C = bundle.pdata.num_classes
    labels = feats.take(split.test).labels.numpy()
    val_labels = feats.take(split.val).labels.numpy()
    rt = {**runtime(cfg), "restart": force}
    results: dict = {"run": cfg.name, "seed": cfg.seed, "split": f"{cfg.data.split}#{cfg.data.split_index}",
                     "seen": seen, "unseen": unseen, "pseudo_unseen": split.pseudo_unseen}
    fits: dict[str, Fitted] = {}
    for name, method in METHODS.items():
        if not method.enabled(cfg):
            continue
        fit = fit_and_score(name, cfg, bundle, sem, feats, run_dir, device, progress, rt, stop_after)
        if fit.test is None:
            return {"interrupted": True, "epochs_done": len(fit.history)}
        fits[name] = fit
        results[name] = fit.metrics
        results[f"{name}_history"] = fit.history
        results[f"{name}_seconds"] = fit.seconds
        results.update(method.save(fit.test, labels, unseen, run_dir))
    # named evaluation variants of the trained models (no extra training; see
    # neuron.evaluate.METHODS), calibrated like the models on the twins' validation scores
    base = fits.get("baseline")
    variant_test = variant_scores(fits["neuron"].test, base.test if base else None, cfg, C)
    variant_val = variant_scores(fits["neuron"].val, base.val if base else None, cfg, C)
    for name, sc in variant_test.items():
        results[name] = method_metrics(cfg, split, labels, val_labels, sc, variant_val[name],
                                       {"spatial": sc, "temporal": None})
    if cfg.eval.val_folds:
        for name, m in fold_validation(cfg, bundle, sem, feats, device, run_dir, progress, rt).items():
            if name in results:
                results[name].update(m)
    # per-sample predictions (ints) from which summaries recompute metrics and bootstrap them
    outcomes = {"labels": [int(v) for v in labels], "test_sha": sha256_obj(np.asarray(split.test).tolist())[:16]}
    for name, fit in fits.items():
        outcomes[name] = stats.per_sample_predictions(labels, seen, unseen, results[name],
                                                      fused=fit.test.full(fit.test.fused, C), **heads(fit.test, C))
    for name, sc in variant_test.items():
        outcomes[name] = stats.per_sample_predictions(labels, seen, unseen, results[name], fused=sc, spatial=sc)
    results["outcomes"] = outcomes
    write_json(run_dir / "metrics.json", results)
    return results


def variant_scores(neuron_scores, baseline_scores, cfg: RunConfig, num_classes: int) -> dict:
    """``(N, num_classes)`` scores of the named evaluation variants (:data:`neuron.evaluate.METHODS`):

    - ``neuron_allrounds``: mean log-softmax over every round of both branches (the paper scores
      the final round only; earlier rounds score higher on small data, see the README);
    - ``ensemble`` (when the baseline is trained): Neuron's fused final-round score (mean
      log-softmax) plus the baseline's log-softmax, averaged with equal weights;
    - ``ensemble_allrounds`` (when the baseline is trained): ``neuron_allrounds`` plus the
      baseline's log-softmax, equal weights (the two variants that scored highest on the
      pseudo-unseen validation folds of ``why_neuron_trails``, combined).

    Both :class:`neuron.train.Scores` must cover the same classes.
    """
    rounds = [x for b in ("spatial", "temporal") for x in (neuron_scores.rounds or {}).get(b, [])]
    allrounds = ev.mean_log_softmax(rounds)
    out = {"neuron_allrounds": neuron_scores.full(torch.as_tensor(allrounds, dtype=torch.float32), num_classes)}
    if baseline_scores is not None:
        if list(baseline_scores.classes) != list(neuron_scores.classes):
            raise ValueError("variant_scores: Neuron and baseline scores cover different classes")
        fused = fused_final_round(neuron_scores.spatial, neuron_scores.temporal, cfg.neuron.fusion)
        base = ev.mean_log_softmax([baseline_scores.fused])
        ens = (fused.numpy().astype(np.float64) + base) / 2
        out["ensemble"] = neuron_scores.full(torch.as_tensor(ens, dtype=torch.float32), num_classes)
        ens_all = (allrounds + base) / 2
        out["ensemble_allrounds"] = neuron_scores.full(torch.as_tensor(ens_all, dtype=torch.float32),
                                                       num_classes)
    return out


def validation_folds(seen: list[int], folds: int, seed: int) -> list[list[int]]:
    """Partition of the seen classes into ``folds`` pseudo-unseen folds (seeded permutation,
    round-robin; fold sizes differ by at most one).

    Raises:
        ValueError: fewer than two seen classes would remain outside a fold.
    """
    perm = np.random.default_rng(10_007 + seed).permutation(np.asarray(seen))
    out = [sorted(int(c) for c in perm[i::folds]) for i in range(folds)]
    if any(len(seen) - len(f) < 2 for f in out):
        raise ValueError(f"{folds} validation folds leave fewer than 2 seen classes to train on")
    return out


def fold_validation(cfg: RunConfig, bundle: DataBundle, sem: Semantics, feats, device: torch.device,
                    run_dir: Path, progress: bool, rt: dict) -> dict:
    """Pseudo-unseen validation over ``cfg.eval.val_folds`` folds of the seen classes.

    For each fold (:func:`validation_folds`) a twin of every method of :data:`METHODS` is trained on
    the training samples of the other seen classes (as many optimiser steps as the full models)
    and scored over all seen classes on every training-subject sample of the fold's classes
    (training and validation parts: the twin never saw them) plus the validation samples of the
    other classes. Per method (:data:`neuron.evaluate.METHODS`): ``valfolds/zsl_top1`` (ZSL top-1
    among the fold's classes, pooled over folds: every seen class is pseudo-unseen once) and
    ``valfolds/gzsl_h`` (mean over folds of GZSL H with the calibration constant chosen on the
    fold itself, an optimistic figure for comparing methods, not a test estimate). Uses training
    subjects only, so it may select methods and hyperparameters. Checkpoints
    ``<method>_fold<i>.ckpt`` in ``run_dir`` resume like the others.
    """
    split = bundle.split
    seen = split.seen
    C = bundle.pdata.num_classes
    f_train = feats.take(split.train)
    hits: dict[str, list[int]] = {}
    hs: dict[str, list[float]] = {}
    train_labels = f_train.labels.numpy()  # in split.train order
    for i, fold in enumerate(validation_folds(seen, cfg.eval.val_folds, cfg.seed)):
        rest = [c for c in seen if c not in fold]
        mask = torch.isin(f_train.labels, torch.as_tensor(rest))
        eval_idx = np.concatenate([split.val, split.train[np.isin(train_labels, fold)]])
        f_eval = feats.take(eval_idx)
        y = f_eval.labels.numpy()
        fold_scores: dict[str, Scores] = {}
        for name, method in METHODS.items():
            if not method.enabled(cfg):
                continue
            twin = method.new(cfg, sem, feats, device, bundle)
            fp = weights_fingerprint(cfg, bundle, sem, feats, name, rest, method.model_config)
            method.fit(twin, f_train.subset(mask), rest, cfg, sem, device, run_dir / f"{name}_fold{i}.ckpt",
                       progress, fp, **rt, **method_twin_steps(cfg, method, len(f_train)))
            fold_scores[name] = method.score(twin, f_eval, seen, sem, device)
        scores = {name: sc.full(sc.fused, C) for name, sc in fold_scores.items()}
        scores.update(variant_scores(fold_scores["neuron"], fold_scores.get("baseline"), cfg, C))
        um = np.isin(y, fold)
        for name, sc in scores.items():
            pred = np.asarray(fold)[sc[um][:, fold].argmax(1)]
            hits.setdefault(name, []).extend([int((pred == y[um]).sum()), int(um.sum())])
            gamma, _ = ev.choose_calibration(sc, y, rest, fold,
                                             ev.default_gamma_grid(sc, rest, fold, n=cfg.eval.calibration_grid))
            hs.setdefault(name, []).append(ev.gzsl_accuracy(sc, y, rest, fold, gamma)["h"])
    out = {}
    for name in hits:
        right, total = sum(hits[name][0::2]), sum(hits[name][1::2])
        out[name] = {"valfolds/zsl_top1": 100.0 * right / total, "valfolds/gzsl_h": float(np.mean(hs[name])),
                     "valfolds/samples": total}
    return out


def _val_metrics(val_scores: np.ndarray, val_labels: np.ndarray, twin_seen: list[int],
                 pseudo: list[int], gamma: float) -> dict:
    """Validation metrics of the calibration twin (trained without the pseudo-unseen classes):
    ZSL top-1 on the pseudo-unseen validation samples and GZSL H at the chosen constant. These
    use training subjects only, so they may select hyperparameters (the test split may not)."""
    z = ev.zsl_accuracy(val_scores, val_labels, pseudo, topk=(1,))
    g = ev.gzsl_accuracy(val_scores, val_labels, twin_seen, pseudo, gamma)
    return {"val/zsl_top1": z["top1"], "val/gzsl_h": g["h"]}


def run_all(cfg: RunConfig, run_dir: Path, progress: bool = True) -> dict:
    """Every stage in order for one run, in-process (what the notebooks do, without plots)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = setup_torch(cfg)
    bundle = stage_data(cfg)
    sem = stage_side_info(cfg, bundle, device=str(device))
    encoder, _, folder = stage_encoder(cfg, bundle, device, progress)
    feats = stage_features(cfg, bundle, encoder, folder, device, progress)
    return stage_neuron(cfg, bundle, sem, feats, run_dir, device, progress)
