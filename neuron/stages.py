"""The pipeline's stages as plain functions (the notebooks call these and plot the results).

Each stage is content-addressed: its outputs live in the cache under a key that hashes every
input that can change them, so a stage whose inputs are unchanged is skipped (loaded), and a
changed input recomputes it. Cache root: ``$NEURON_CACHE`` or ``<project>/runs/.cache``.

- data: processed dataset (``processed/``) + the zero-shot split of the run;
- side information: embeddings ``(classes, K, D)`` per round (``embeddings/``);
- encoder: Shift-GCN pre-trained on the seen classes (``encoders/<key>/``, resumable);
- features: frozen-encoder features of every sample (``features/<key>.pt``, float16);
- neuron: Neuron, its calibration twin and the baseline, trained and evaluated in the run folder.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock

from neuron.config import (PROJECT_ROOT, DatasetSpec, RunConfig, SplitSpec, data_root,
                           load_dataset_spec, load_split_spec, to_dict)
from neuron.data import ProcessedData, ZeroShotSplit, load_processed, make_split
from neuron.data.loader import WindowDataset
from neuron.io import sha256_obj, torch_load, torch_save, write_json, write_text


def cache_root() -> Path:
    """``$NEURON_CACHE`` or ``<project>/runs/.cache``."""
    return Path(os.environ.get("NEURON_CACHE") or PROJECT_ROOT / "runs" / ".cache").resolve()


def runtime(cfg: RunConfig) -> dict:
    """Training-loop runtime options of a run (mixed precision on CUDA, loader workers)."""
    return {"precision": cfg.precision, "num_workers": cfg.num_workers}


def setup_torch(cfg: RunConfig) -> torch.device:
    """Seed everything, set threads, pick the device; returns it."""
    from neuron.train import resolve_device, seed_everything

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
        from neuron.train import label_map

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
        g = to_dict(cfg.side_info.generation)
        key = sha256_obj({"dataset": cfg.data.dataset, "generation": g, "k": cfg.side_info.k})[:12]
        return cache_root() / "side_info" / f"{cfg.data.dataset}-{key}"
    if src in ("paper", "paper_embeddings"):
        sub = {"ntu60": "ntu", "ntu120": "ntu", "pku_mmd1": "pku"}.get(cfg.data.dataset)
        if sub is None:
            from neuron.errors import SideInfoError
            raise SideInfoError(f"side_info.source={src}: the paper released side information for "
                                f"NTU and PKU-MMD only, not {cfg.data.dataset}")
        return root / "neuron_semantics" / sub
    path = Path(src)
    return path if path.is_absolute() else PROJECT_ROOT / path


def stage_side_info(cfg: RunConfig, bundle: DataBundle, device: str = "cpu") -> Semantics:
    """Descriptions -> embeddings per round, cached by encoder id and text hash."""
    from neuron import text
    from neuron.side_info import class_name_side_info, load_side_info

    names = bundle.class_names
    k = cfg.side_info.k
    folder = side_info_folder(cfg, bundle.root)
    cache = cache_root() / "embeddings"
    if cfg.side_info.source == "paper_embeddings":
        emb = text.load_paper_embeddings(folder, class_names=names)
    else:
        if cfg.side_info.source == "generated":
            generate(cfg, names, folder)
        if folder is None:
            info = class_name_side_info(names, k=k)
        else:
            info = load_side_info(folder, names, k=k)
        encoder = text.get_text_encoder(cfg.side_info.encoder, device=device)
        emb = text.embed_side_info(info, names, encoder, cache)
    return Semantics([x[:, :k].float() for x in emb.spatial], [x[:, :k].float() for x in emb.temporal],
                     emb.encoder_id, cfg.side_info.source, int(emb.spatial[0].shape[-1]))


def generate(cfg: RunConfig, class_names: list[str], out_dir: Path) -> Path:
    """Run (or resume) LLM generation of side information into ``out_dir``.

    Classes outside ``generation.classes`` (default: all) are not generated; a later load then
    fails naming the missing class, so restrict the run's classes accordingly.
    """
    from neuron.side_info import generate_side_info, get_backend

    g = cfg.side_info.generation
    if g.backend == "openai":
        backend = get_backend("openai", model=g.model, base_url=g.base_url, api_key_env=g.api_key_env,
                              require_key=g.require_key, timeout=g.timeout, max_retries=g.max_retries,
                              backoff_base=g.backoff_base, temperature=g.temperature,
                              max_tokens=g.max_new_tokens)
    elif g.backend == "transformers":
        backend = get_backend("transformers", model=g.model, max_new_tokens=g.max_new_tokens,
                              temperature=g.temperature)
    elif g.backend in ("llamacpp", "smollm2-llamacpp"):   # one CPU thread, JSON-schema replies
        kw = {"model_path": g.model} if g.backend == "llamacpp" else {}
        backend = get_backend(g.backend, max_tokens=g.max_new_tokens, temperature=g.temperature,
                              k=cfg.side_info.k, **kw)
    else:
        backend = get_backend("smollm2", max_new_tokens=g.max_new_tokens, temperature=g.temperature)
    names = class_names if g.classes is None else [class_names[c] for c in g.classes]
    generate_side_info(names, backend, out_dir, k=cfg.side_info.k, strategy=g.strategy,
                       max_attempts=g.max_attempts, max_calls=g.max_calls, num_samples=g.num_samples,
                       dataset=cfg.data.dataset)
    return out_dir


# --------------------------------------------------------------------------- encoder
def encoder_key(cfg: RunConfig, bundle: DataBundle) -> str:
    """Hash of everything the pre-trained encoder depends on."""
    d = cfg.data
    return sha256_obj({"processed": bundle.pdata.key, "split": bundle.split_spec.name,
                       "index": d.split_index, "seen": bundle.split.seen, "seed": cfg.seed,
                       "window": d.window, "p": d.p_interval, "rot": d.random_rotation,
                       "min_crop": d.min_crop_frames,
                       "stream": d.stream, "val": d.val_fraction, "train": bundle.split.train.tolist(),
                       "optim": _encoder_params(cfg)})[:16]


def _encoder_params(cfg: RunConfig) -> dict:
    """Encoder parameters for the key; ``shift_grad`` only when not the default ``exact`` (so
    encoders trained before the option existed keep their key)."""
    p = to_dict(cfg.encoder)
    if p.get("shift_grad") == "exact":
        del p["shift_grad"]
    return p


def build_encoder(bundle: DataBundle, num_classes: int, shift_grad: str = "exact"):
    from neuron.models import ShiftGCN

    return ShiftGCN(num_classes=num_classes, num_point=bundle.pdata.layout.num_joints,
                    num_person=bundle.spec.num_person, shift_grad=shift_grad)


def stage_encoder(cfg: RunConfig, bundle: DataBundle, device: torch.device, progress: bool = True,
                  stop_after: int | None = None) -> tuple[torch.nn.Module, list[dict], Path]:
    """Pre-train Shift-GCN on the seen classes (or load it when already trained).

    Returns (encoder in eval mode, per-epoch history, its folder). Training runs under a file
    lock in the encoder's cache folder, so concurrent runs sharing the encoder train it once
    (each training start is logged in ``train-events.log`` there).
    """
    from neuron.train import seed_everything

    key = encoder_key(cfg, bundle)
    folder = cache_root() / "encoders" / key
    seed_everything(cfg.seed)
    encoder = build_encoder(bundle, len(bundle.split.seen), cfg.encoder.shift_grad).to(device)
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".train.lock")):  # one process trains a shared encoder; others wait
        return _train_or_load_encoder(cfg, bundle, encoder, device, progress, stop_after, key, folder)


def _train_or_load_encoder(cfg, bundle, encoder, device, progress, stop_after, key, folder):
    from neuron.train import pretrain_encoder

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
    from neuron.models import FrozenEncoder
    from neuron.train import Features, extract_features

    sp = bundle.split
    idx = np.unique(np.concatenate([sp.train, sp.val, sp.test]))
    path = enc_folder / f"features-{cfg.data.window}-{sha256_obj(idx.tolist())[:12]}.pt"
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
    from neuron.models import FrozenEncoder
    from neuron.train import Features, extract_features

    d = cfg.data
    idx = np.asarray(bundle.split.train)
    key = sha256_obj({"idx": idx.tolist(), "window": d.window, "p": d.p_interval, "rot": d.random_rotation,
                      "min_crop": d.min_crop_frames, "stream": d.stream, "seed": cfg.seed,
                      "views": cfg.neuron_train.views})[:12]
    path = enc_folder / f"views-{key}.pt"
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


def weights_fingerprint(cfg: RunConfig, bundle: DataBundle, sem: Semantics, feats, kind: str,
                        classes: list[int]) -> dict:
    """Everything besides the optimiser recipe and seed (added by
    :func:`neuron.train.checkpoint_fingerprint`) that determines the weights of a trained Neuron
    or baseline model; a finished checkpoint is reused only when this matches.

    Covers: the features (encoder key + feature file, or a hash of their values), the processed
    data and training samples, the training classes, the side information (source, text encoder
    id, ``k`` and a hash of the embeddings, i.e. of the texts as encoded), the model config
    (``neuron`` or ``baseline``), the augmented views (``neuron_train.views``, data
    augmentation) and the numeric precision.

    Args:
        kind: ``"neuron"`` or ``"baseline"``.
        classes: the training classes (the twin's are the seen classes minus the pseudo-unseen).
    """
    d = cfg.data
    emb = _tensor_hash(list(sem.spatial) + list(sem.temporal))
    fp = {"kind": kind, "features": feats.key or feats.content_hash(), "processed": str(bundle.pdata.key),
          "train": sha256_obj(np.asarray(bundle.split.train).tolist()), "classes": list(classes),
          "side_info": {"source": cfg.side_info.source, "encoder": sem.encoder_id, "k": cfg.side_info.k,
                        "embeddings": emb},
          "precision": cfg.precision}
    if kind == "neuron":
        from neuron.config import unset_dropped

        fp["model"] = unset_dropped(to_dict(cfg.neuron))  # options added later count only when set
        if cfg.neuron_train.views:
            fp["views"] = {"n": cfg.neuron_train.views, "p": d.p_interval, "rot": d.random_rotation,
                           "min_crop": d.min_crop_frames, "key": feats.views[0].key if feats.views else None}
    else:
        fp["model"] = to_dict(cfg.baseline)
    return fp


def _tensor_hash(tensors: list) -> str:
    import hashlib

    h = hashlib.sha256()
    for t in tensors:
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- neuron + baseline
def new_neuron(cfg: RunConfig, sem: Semantics, feats, device: torch.device):
    """A freshly seeded :class:`neuron.models.Neuron` for the run (models and all their twins)."""
    from neuron.models import Neuron
    from neuron.train import seed_everything

    seed_everything(cfg.seed)
    return Neuron(text_dim=sem.dim, feat_dim=feats.f_s.shape[1], **to_dict(cfg.neuron)).to(device)


def new_baseline(cfg: RunConfig, sem: Semantics, feats, device: torch.device):
    """A freshly seeded :class:`neuron.models.GlobalAlignment` baseline for the run."""
    from neuron.models import GlobalAlignment
    from neuron.train import seed_everything

    seed_everything(cfg.seed)
    return GlobalAlignment(text_dim=sem.dim, feat_dim=feats.pooled.shape[1], hidden=cfg.baseline.hidden,
                           logit_scale=cfg.baseline.logit_scale).to(device)


def twin_steps(cfg: RunConfig, n_train: int, train_cfg) -> dict:
    """``fit`` keyword for a twin trained on fewer samples than its model (``n_train`` samples):
    as many optimiser steps per epoch as the model (``eval.twin_steps: match``), or ``{}`` (one
    pass over the twin's samples) for ``data`` and under torchrun (single-process option)."""
    from neuron.distributed import is_distributed
    from neuron.train import batches_per_epoch

    if cfg.eval.twin_steps == "data" or is_distributed():
        return {}
    return {"steps_per_epoch": batches_per_epoch(n_train, train_cfg.batch_size)}


def stage_neuron(cfg: RunConfig, bundle: DataBundle, sem: Semantics, feats, run_dir: Path,
                 device: torch.device, progress: bool = True, stop_after: int | None = None,
                 force: bool = False) -> dict:
    """Train and evaluate Neuron (and the baseline) for the run; write ``metrics.json``.

    Trains three models on frozen features of the training samples:
    the Neuron model on all seen classes, a calibration twin on the seen classes minus the
    pseudo-unseen ones (scored on the validation samples to choose the GZSL calibration
    constant: the honest protocol), and the global-alignment baseline (with its own twin).

    Returns the metrics dict (also written to ``run_dir/metrics.json``), including the
    per-epoch histories, scores for figures under ``run_dir/scores.pt``. With ``force``,
    checkpoints of other parameters in ``run_dir`` are overwritten instead of refused.
    """
    from neuron import evaluate as ev
    from neuron import stats
    from neuron.train import score_baseline, score_neuron, train_baseline, train_neuron

    run_dir = Path(run_dir)
    split = bundle.split
    seen, unseen, pseudo = split.seen, split.unseen, split.pseudo_unseen
    twin_seen = [c for c in seen if c not in pseudo]
    classes = sorted(seen + unseen)
    C = bundle.pdata.num_classes
    f_train, f_val, f_test = feats.take(split.train), feats.take(split.val), feats.take(split.test)
    twin_mask = torch.isin(f_train.labels, torch.as_tensor(twin_seen))
    f_train_twin = f_train.subset(twin_mask)
    rt = {**runtime(cfg), "restart": force}
    t0 = time.time()
    fp = weights_fingerprint(cfg, bundle, sem, feats, "neuron", seen)
    views = [v.take(split.train) for v in feats.views] if feats.views else None
    twin_views = [v.subset(twin_mask) for v in views] if views else None

    val_classes = sorted(seen)
    results: dict = {"run": cfg.name, "seed": cfg.seed, "split": f"{cfg.data.split}#{cfg.data.split_index}",
                     "seen": seen, "unseen": unseen, "pseudo_unseen": pseudo}
    # --- Neuron
    model = new_neuron(cfg, sem, feats, device)
    hist = train_neuron(model, f_train, seen, sem.spatial, sem.temporal, cfg.neuron_train, cfg.seed,
                        device, run_dir / "neuron.ckpt", progress, fp, stop_after=stop_after,
                        views=views, **rt)
    if len(hist.history) < cfg.neuron_train.epochs:
        return {"interrupted": True, "epochs_done": len(hist.history)}
    twin = new_neuron(cfg, sem, feats, device)
    train_neuron(twin, f_train_twin, twin_seen, sem.spatial, sem.temporal, cfg.neuron_train, cfg.seed,
                 device, run_dir / "neuron_twin.ckpt", progress,
                 weights_fingerprint(cfg, bundle, sem, feats, "neuron", twin_seen),
                 views=twin_views, **rt, **twin_steps(cfg, len(f_train), cfg.neuron_train))
    s_test = score_neuron(model, f_test, classes, sem.spatial, sem.temporal, device)
    s_val = score_neuron(twin, f_val, val_classes, sem.spatial, sem.temporal, device)
    labels = f_test.labels.numpy()
    rounds = {b: [s_test.full(x, C) for x in s_test.rounds[b]] for b in ("spatial", "temporal")}
    neuron_metrics = ev.evaluate_run(
        labels, seen, unseen, spatial=s_test.full(s_test.spatial, C),
        temporal=s_test.full(s_test.temporal, C), fused=_fused(s_test, cfg, C),
        rounds={k: v for k, v in rounds.items() if v},
        val=ev.ValidationScores(_fused(s_val, cfg, C), f_val.labels.numpy(), twin_seen, pseudo),
        grid=ev.default_gamma_grid(_fused(s_val, cfg, C), twin_seen, pseudo, n=cfg.eval.calibration_grid))
    val_fused = _fused(s_val, cfg, C)
    neuron_metrics.update(_val_metrics(val_fused, f_val.labels.numpy(), twin_seen, pseudo,
                                       neuron_metrics["honest/gamma"]))
    results["neuron"] = neuron_metrics
    results["neuron_history"] = hist.history
    results["neuron_seconds"] = time.time() - t0
    # compactness of unseen-class representations per round (paper Fig. 4d / 5d)
    from neuron.analysis import compactness

    um = np.isin(labels, unseen)
    results["compactness"] = {
        b: [compactness(r[um].numpy(), labels[um])["intra"] for r in reps]
        for b, reps in (("spatial", s_test.spatial_reps), ("temporal", s_test.temporal_reps)) if reps}
    torch_save({"labels": torch.as_tensor(labels), "classes": torch.as_tensor(classes),
                "fused": s_test.fused, "fusion": "mean_log_softmax", "spatial_reps": s_test.spatial_reps,
                "temporal_reps": s_test.temporal_reps, "temporal_prototypes": s_test.temporal_prototypes},
               run_dir / "scores.pt")
    # --- baseline
    if cfg.baseline.enabled:
        t1 = time.time()
        emb = sem.class_means()
        bfp = weights_fingerprint(cfg, bundle, sem, feats, "baseline", seen)

        base = new_baseline(cfg, sem, feats, device)
        bh = train_baseline(base, f_train, seen, emb, cfg.baseline_train, cfg.seed, device,
                            run_dir / "baseline.ckpt", progress, bfp, **rt)
        btwin = new_baseline(cfg, sem, feats, device)
        train_baseline(btwin, f_train_twin, twin_seen, emb, cfg.baseline_train, cfg.seed, device,
                       run_dir / "baseline_twin.ckpt", progress,
                       weights_fingerprint(cfg, bundle, sem, feats, "baseline", twin_seen),
                       **rt, **twin_steps(cfg, len(f_train), cfg.baseline_train))
        b_test = score_baseline(base, f_test, classes, emb, device)
        b_val = score_baseline(btwin, f_val, val_classes, emb, device)
        b_full = b_test.full(b_test.fused, C)
        results["baseline"] = ev.evaluate_run(
            labels, seen, unseen, spatial=b_full, fused=b_full,
            val=ev.ValidationScores(b_val.full(b_val.fused, C), f_val.labels.numpy(), twin_seen, pseudo),
            grid=ev.default_gamma_grid(b_val.full(b_val.fused, C), twin_seen, pseudo,
                                       n=cfg.eval.calibration_grid))
        results["baseline"].update(_val_metrics(b_val.full(b_val.fused, C), f_val.labels.numpy(),
                                                twin_seen, pseudo, results["baseline"]["honest/gamma"]))
        results["baseline_history"] = bh.history
        results["baseline_seconds"] = time.time() - t1
        torch_save({"fused": b_test.fused}, run_dir / "baseline_scores.pt")
    # --- named evaluation variants of the trained models (no extra training; see
    # neuron.evaluate.METHODS), calibrated like the models on the twins' validation scores
    val_labels = f_val.labels.numpy()
    base_test = b_test if cfg.baseline.enabled else None
    base_val = b_val if cfg.baseline.enabled else None
    variant_test = variant_scores(s_test, base_test, cfg, C)
    variant_val = variant_scores(s_val, base_val, cfg, C)
    for name, sc in variant_test.items():
        vs = variant_val[name]
        m = ev.evaluate_run(labels, seen, unseen, spatial=sc, fused=sc,
                            val=ev.ValidationScores(vs, val_labels, twin_seen, pseudo),
                            grid=ev.default_gamma_grid(vs, twin_seen, pseudo, n=cfg.eval.calibration_grid))
        m.update(_val_metrics(vs, val_labels, twin_seen, pseudo, m["honest/gamma"]))
        results[name] = m
    if cfg.eval.val_folds:
        for name, m in fold_validation(cfg, bundle, sem, feats, device, run_dir, progress, rt).items():
            if name in results:
                results[name].update(m)
    # per-sample predictions (ints) from which summaries recompute metrics and bootstrap them
    outcomes = {"labels": [int(v) for v in labels], "test_sha": sha256_obj(np.asarray(split.test).tolist())[:16],
                "neuron": stats.per_sample_predictions(
                    labels, seen, unseen, neuron_metrics, fused=_fused(s_test, cfg, C),
                    spatial=s_test.full(s_test.spatial, C), temporal=s_test.full(s_test.temporal, C))}
    if "baseline" in results:
        outcomes["baseline"] = stats.per_sample_predictions(labels, seen, unseen, results["baseline"],
                                                         fused=b_full, spatial=b_full)
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
    from neuron.evaluate import mean_log_softmax
    from neuron.train import fused_final_round

    rounds = [x for b in ("spatial", "temporal") for x in (neuron_scores.rounds or {}).get(b, [])]
    allrounds = mean_log_softmax(rounds)
    out = {"neuron_allrounds": neuron_scores.full(torch.as_tensor(allrounds, dtype=torch.float32), num_classes)}
    if baseline_scores is not None:
        if list(baseline_scores.classes) != list(neuron_scores.classes):
            raise ValueError("variant_scores: Neuron and baseline scores cover different classes")
        fused = fused_final_round(neuron_scores.spatial, neuron_scores.temporal, cfg.neuron.fusion)
        base = mean_log_softmax([baseline_scores.fused])
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

    For each fold (:func:`validation_folds`) a twin of Neuron and of the baseline is trained on
    the training samples of the other seen classes (as many optimiser steps as the full models)
    and scored over all seen classes on every training-subject sample of the fold's classes
    (training and validation parts: the twin never saw them) plus the validation samples of the
    other classes. Per method (:data:`neuron.evaluate.METHODS`): ``valfolds/zsl_top1`` (ZSL top-1
    among the fold's classes, pooled over folds: every seen class is pseudo-unseen once) and
    ``valfolds/gzsl_h`` (mean over folds of GZSL H with the calibration constant chosen on the
    fold itself, an optimistic figure for comparing methods, not a test estimate). Uses training
    subjects only, so it may select methods and hyperparameters. Checkpoints
    ``neuron_fold<i>.ckpt`` / ``baseline_fold<i>.ckpt`` in ``run_dir`` resume like the others.
    """
    from neuron import evaluate as ev
    from neuron.train import score_baseline, score_neuron, train_baseline, train_neuron

    split = bundle.split
    seen = split.seen
    C = bundle.pdata.num_classes
    f_train = feats.take(split.train)
    steps = twin_steps(cfg, len(f_train), cfg.neuron_train)
    bsteps = twin_steps(cfg, len(f_train), cfg.baseline_train)
    hits: dict[str, list[int]] = {}
    hs: dict[str, list[float]] = {}
    train_labels = f_train.labels.numpy()  # in split.train order
    for i, fold in enumerate(validation_folds(seen, cfg.eval.val_folds, cfg.seed)):
        rest = [c for c in seen if c not in fold]
        mask = torch.isin(f_train.labels, torch.as_tensor(rest))
        eval_idx = np.concatenate([split.val, split.train[np.isin(train_labels, fold)]])
        f_eval = feats.take(eval_idx)
        y = f_eval.labels.numpy()
        twin = new_neuron(cfg, sem, feats, device)
        train_neuron(twin, f_train.subset(mask), rest, sem.spatial, sem.temporal, cfg.neuron_train,
                     cfg.seed, device, run_dir / f"neuron_fold{i}.ckpt", progress,
                     weights_fingerprint(cfg, bundle, sem, feats, "neuron", rest), **rt, **steps)
        s = score_neuron(twin, f_eval, seen, sem.spatial, sem.temporal, device)
        scores = {"neuron": _fused(s, cfg, C)}
        b = None
        if cfg.baseline.enabled:
            emb = sem.class_means()
            btwin = new_baseline(cfg, sem, feats, device)
            train_baseline(btwin, f_train.subset(mask), rest, emb, cfg.baseline_train, cfg.seed,
                           device, run_dir / f"baseline_fold{i}.ckpt", progress,
                           weights_fingerprint(cfg, bundle, sem, feats, "baseline", rest), **rt,
                           **bsteps)
            b = score_baseline(btwin, f_eval, seen, emb, device)
            scores["baseline"] = b.full(b.fused, C)
        scores.update(variant_scores(s, b, cfg, C))
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
    from neuron.evaluate import gzsl_accuracy, zsl_accuracy

    z = zsl_accuracy(val_scores, val_labels, pseudo, topk=(1,))
    g = gzsl_accuracy(val_scores, val_labels, twin_seen, pseudo, gamma)
    return {"val/zsl_top1": z["top1"], "val/gzsl_h": g["h"]}


def _fused(scores, cfg: RunConfig, num_classes: int) -> np.ndarray:
    """Fused final-round scores for evaluation: the mean of the branches' log-softmax (over the
    scored classes) per ``neuron.fusion``. Unlike a sum of softmax probabilities, a log-softmax
    differs from the logits by a per-sample constant, so a calibration constant chosen on
    validation classes carries over to the test's class set."""
    from neuron.train import fused_final_round

    return scores.full(fused_final_round(scores.spatial, scores.temporal, cfg.neuron.fusion), num_classes)


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


def read_metrics(run_dir: Path) -> dict:
    """``run_dir/metrics.json`` as a dict."""
    return json.loads((Path(run_dir) / "metrics.json").read_text())


# --------------------------------------------------------------------------- report helpers
def side_info_examples(cfg: RunConfig, bundle: DataBundle, class_id: int, n: int = 3):
    """A table of the first ``n`` descriptions of one class at every level."""
    import pandas as pd

    from neuron.side_info import LEVELS, class_name_side_info, load_side_info

    folder = side_info_folder(cfg, bundle.root)
    names = bundle.class_names
    info = (class_name_side_info(names, k=cfg.side_info.k) if folder is None
            else load_side_info(folder, names, k=cfg.side_info.k))
    name = names[class_id]
    return pd.DataFrame([{"level": lv, "#": i + 1, "description": d}
                         for lv in LEVELS for i, d in enumerate(info[lv][name][:n])]).set_index(["level", "#"])


METRIC_COLUMNS = {
    "ZSL top-1": "zsl_top1", "ZSL top-5": "zsl_top5", "GZSL seen": "gzsl_seen",
    "GZSL unseen": "gzsl_unseen", "GZSL H": "gzsl_h",
}


def results_table(metrics: dict):
    """One run's results: rows method x protocol, columns ZSL / GZSL metrics (%)."""
    import pandas as pd

    rows = []
    for method in ("neuron", "baseline"):
        m = metrics.get(method)
        if not m:
            continue
        for proto in ("honest", "paper"):
            row = {"method": method, "protocol": proto}
            for col, key in METRIC_COLUMNS.items():
                row[col] = m.get(f"{proto}/{key}")
            if any(v is not None for k, v in row.items() if k not in ("method", "protocol")):
                rows.append(row)
    return pd.DataFrame(rows).set_index(["method", "protocol"]).astype(float).round(2)


def load_scores(run_dir: Path) -> dict:
    """The test scores and representations saved by :func:`stage_neuron`, as numpy."""
    s = torch_load(Path(run_dir) / "scores.pt")
    if s.get("fusion") != "mean_log_softmax":
        import warnings

        warnings.warn(f"{run_dir}/scores.pt predates the single fusion rule (its fused scores are a sum "
                      "of softmaxes, not the mean log-softmax of metrics.json); rerun the neuron stage",
                      stacklevel=2)
    labels = s["labels"].numpy()
    classes = s["classes"].numpy()
    return {"labels": labels, "classes": classes, "fused": s["fused"].numpy(),
            "unseen_mask": None, "spatial_reps": [r.numpy() for r in s["spatial_reps"]],
            "temporal_reps": [r.numpy() for r in s["temporal_reps"]],
            "temporal_prototypes": [q.numpy() for q in s["temporal_prototypes"]]}


def unseen_confusion(scores: dict, unseen: list[int]):
    """(confusion matrix over unseen classes, per-class ZSL accuracy dict); sets ``unseen_mask``.

    Uses ``scores["fused"]``, the same fused scores (mean final-round log-softmax) as the
    headline metrics, so the diagonal of the matrix over the sample count is the ZSL top-1."""
    from neuron.evaluate import confusion_matrix_unseen, per_class_accuracy

    C = int(max(scores["classes"].max(), scores["labels"].max())) + 1
    full = np.full((len(scores["labels"]), C), -1e4, dtype=np.float32)
    full[:, scores["classes"]] = scores["fused"]
    scores["unseen_mask"] = np.isin(scores["labels"], unseen)
    return (confusion_matrix_unseen(full, scores["labels"], unseen),
            per_class_accuracy(full, scores["labels"], unseen, candidates=unseen))


#: Numbers reported in the Neuron paper (ZSL top-1 and GZSL H, %), shown beside reproductions.
PAPER_REPORTED = {
    "ntu60_55_5": {"zsl_top1": 86.9, "gzsl_h": 71.4}, "ntu60_48_12": {"zsl_top1": 62.7, "gzsl_h": 59.1},
    "ntu120_110_10": {"zsl_top1": 71.5, "gzsl_h": 63.3}, "ntu120_96_24": {"zsl_top1": 57.1, "gzsl_h": 53.6},
}


def summarise_study(rows: list[dict], report_dir: Path, study_name: str,
                    study_dir: Path | None = None, outcomes: list[dict] | None = None,
                    n_boot: int = 2000, boot_seed: int = 0) -> dict:
    """Aggregate a study's result rows; write the compact table, results.csv / results.json /
    outcomes.json / figures.

    ``table`` is the compact table of :func:`neuron.summary.study_table` (method x protocol,
    mean ± std, runs, test samples, difference to the reference with its bootstrap 95 % interval
    and verdict), also written as ``summary_table.csv`` / ``.md``; ``results.csv`` holds every
    aggregated column; ``results.json`` is strict JSON (README, "results.json"). ``outcomes``
    (default: read from ``study_dir``, :func:`neuron.pipeline.collect_outcomes`) are the
    per-sample outcomes the intervals come from (``n_boot`` replicates, seed ``boot_seed``).
    Adds the paper's reported numbers for its NTU splits, sweep plots for ``k=v`` points, and,
    when the study has ``neuron`` and ``no_temporal_memory`` points, the temporal
    micro-prototypes of one test sequence per round with and without temporal memory (Fig. 5).
    Returns ``{"table": DataFrame, "files": [names], "figures": {name: Figure}}``.
    """
    import pandas as pd

    from neuron import summary as sm
    from neuron.analysis import plot_metric_vs_param, save_figure
    from neuron.evaluate import aggregate

    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    if not rows:
        raise FileNotFoundError(f"study {study_name}: no metrics.json found")
    rows = [{**r, "family": str(r["split"]).split("#")[0]} for r in rows]
    # one row per point and method; per split family too when a study mixes families
    # (e.g. UTD-MHAD 22/5 and 17/10): means over different class splits of one family only
    keys = ["point", "family", "method"] if len({r["family"] for r in rows}) > 1 else ["point", "method"]
    agg = aggregate(rows, by=keys)
    if outcomes is None and study_dir is not None:
        from neuron.pipeline import collect_outcomes

        outcomes = collect_outcomes(study_dir)
    table, records, comparisons = sm.study_table(rows, outcomes, "family" in keys, n_boot, boot_seed)
    per_run = pd.DataFrame(rows)
    splits = {str(r["split"]).split("#")[0] for r in rows}
    if len(splits) == 1 and (rep := PAPER_REPORTED.get(next(iter(splits)))):
        table = table.assign(**{"paper reported ZSL top-1": rep["zsl_top1"],
                                "paper reported GZSL H": rep["gzsl_h"]})
    per_run.to_csv(report_dir / "runs.csv", index=False)
    if per_run["split"].nunique() > 1:  # also per split (mean and std over seeds)
        aggregate(rows, by=["point", "split", "method"]).to_csv(report_dir / "results_by_split.csv",
                                                                index=False)
    agg.to_csv(report_dir / "results.csv", index=False)
    table.to_csv(report_dir / "summary_table.csv")
    write_text(report_dir / "summary_table.md", sm.to_markdown(table))
    if outcomes:
        sm.write_outcomes(report_dir / "outcomes.json", study_name, outcomes)
    import json as _json

    write_text(report_dir / "results.json", _json.dumps(sm.strict_json({
        "study": study_name,
        "bootstrap": {"n_boot": n_boot, "seed": boot_seed, "level": 0.95,
                      "scheme": "several splits: t-interval over split-level values; one split: "
                                "paired bootstrap of test samples (neuron.stats.bootstrap_compare)"},
        "table": records, "comparisons": comparisons,
        "summary": agg.to_dict("records"), "runs": rows}), indent=2, allow_nan=False) + "\n")
    figs = {}
    points = per_run["point"].unique()
    params = sorted({p.split("=")[0] for pt in points for p in pt.split(",") if "=" in p})
    for param in params:
        df = per_run.copy()
        df[param] = df["point"].map(lambda pt: dict(x.split("=", 1) for x in pt.split(",") if "=" in x).get(param))
        try:
            df[param] = pd.to_numeric(df[param])
        except (ValueError, TypeError):
            pass
        fig = plot_metric_vs_param(df[df["method"] == "neuron"], param)
        save_figure(fig, report_dir / f"sweep_{param}")
        figs[f"sweep_{param}"] = fig
    if study_dir is not None:
        runs = {pt: sorted(Path(study_dir).glob(f"{pt}/*/seed*/scores.pt"))
                for pt in ("neuron", "no_temporal_memory")}
        if runs["neuron"] and runs["no_temporal_memory"]:
            from neuron.analysis import plot_prototype_heatmaps

            w = torch_load(runs["neuron"][0])["temporal_prototypes"]
            wo = torch_load(runs["no_temporal_memory"][0])["temporal_prototypes"]
            fig = plot_prototype_heatmaps([q[0] for q in w], [q[0] for q in wo])
            save_figure(fig, report_dir / "temporal_prototypes_memory")
            figs["temporal_prototypes_memory"] = fig
    if "temporal_prototypes_memory" not in figs and (report_dir / "temporal_prototypes_memory.png").exists():
        # rebuilt without runs/ (their scores.pt): keep the figure those runs drew
        from IPython.display import Image

        figs["temporal_prototypes_memory"] = Image(filename=str(report_dir / "temporal_prototypes_memory.png"))
    files = sorted(p.name for p in report_dir.iterdir() if p.is_file() and p.suffix in (".csv", ".json"))
    return {"table": table, "files": files, "figures": figs}
