"""Training: Shift-GCN pre-training on seen classes, frozen-feature extraction, Neuron and the
global-alignment baseline, with resumable checkpoints.

Every loop is deterministic on CPU for a given seed: model initialisation is seeded, the batch
order of epoch ``e`` comes from a generator seeded with ``(seed, e)`` and the augmentation of
sample ``j`` in epoch ``e`` from ``(seed, e, j)`` (see :class:`neuron.data.loader.WindowDataset`).
A checkpoint holds model, optimizer, scheduler, RNG state and history after each epoch, written
atomically; a run restarted with the same checkpoint path continues from the last finished epoch
and ends with the same weights as an uninterrupted run.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from neuron import progress as progress_
from neuron.config import OptimConfig
from neuron.errors import NeuronError
from neuron.io import torch_load, torch_save
from neuron.keys import checkpoint_fingerprint


# --------------------------------------------------------------------------- utilities
def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; otherwise ``torch.device(name)``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def make_optimizer(params, cfg: OptimConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD (momentum, Nesterov, weight decay) with linear warm-up and step decay per epoch."""
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                          weight_decay=cfg.weight_decay)

    def factor(epoch: int) -> float:
        warm = (epoch + 1) / cfg.warmup_epochs if epoch < cfg.warmup_epochs else 1.0
        return warm * cfg.gamma ** sum(epoch >= s for s in cfg.steps)

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


@dataclass
class FitResult:
    """What a training loop returns: per-epoch history and the epoch it resumed from (0 = fresh)."""

    history: list[dict]
    resumed_from: int


def fit(model: nn.Module, train_set: Dataset, cfg: OptimConfig, step: Callable[[nn.Module, tuple], Tensor],
        seed: int, device: torch.device, checkpoint: Path | None = None,
        evaluate: Callable[[nn.Module], dict] | None = None, desc: str = "train",
        fingerprint: dict | None = None, progress: bool = True,
        stop_after: int | None = None, precision: str = "fp32", num_workers: int = 0,
        restart: bool = False, steps_per_epoch: int | None = None) -> FitResult:
    """Train ``model`` for ``cfg.epochs`` epochs with resumable checkpoints.

    Args:
        model: the module to train (already on ``device``).
        train_set: a map-style dataset; if it has ``set_epoch`` it is called every epoch.
        cfg: optimiser settings.
        step: ``step(model, batch) -> loss`` (batch already on ``device``).
        seed: seeds the epoch's batch order.
        checkpoint: where to save after every epoch and resume from.
        evaluate: ``evaluate(model) -> dict`` of metrics added to the epoch's history.
        fingerprint: parameters the checkpoint must match to be resumed (else NeuronError).
        stop_after: stop after this many epochs in this call (tests of resume).
        precision: ``fp32``, or ``bf16`` / ``fp16`` autocast on CUDA (ignored on CPU; see
            :mod:`neuron.accel`). num_workers: DataLoader worker processes.
        restart: a checkpoint of other parameters is ignored and overwritten (``--force``)
            instead of being an error.
        steps_per_epoch: ``None`` (default): one pass over ``train_set`` per epoch (shuffled,
            last partial batch dropped when there is more than one batch). An integer: exactly
            this many full batches per epoch, drawn from consecutive seeded permutations of
            ``train_set`` (each sample used equally often up to one pass); used to give a
            calibration twin as many optimiser steps as the model it calibrates. Single process
            only.

    Distributed (a ``torch.distributed`` process group of > 1 ranks, e.g. under ``torchrun``; see
    :mod:`neuron.distributed`): the model is wrapped in DistributedDataParallel, ``cfg.batch_size``
    is the global batch split evenly across ranks (same seeded batches as one process), the
    logged loss is all-reduced, and only rank 0 writes the checkpoint.  ``evaluate`` runs on
    every rank on the unwrapped model.  Single-process behaviour is unchanged.

    Raises:
        NeuronError: a checkpoint exists for different parameters (delete it or use --force), or
            the loss became NaN (naming the epoch).
    """
    # tqdm.autonotebook: a widget bar in Jupyter, a text bar elsewhere. (Not tqdm.auto, whose
    # asyncio wrapper calls iter() on the loader when the bar is made: a second DataLoader
    # iterator per epoch that draws from the shuffling generator, i.e. other batches.)
    from tqdm.autonotebook import tqdm

    from neuron import accel
    from neuron import distributed as dist_

    scaler = accel.grad_scaler(device, precision)

    # Under torchrun (a process group of > 1 ranks): DDP-wrapped model, global batch split
    # across ranks, loss log all-reduced, checkpoints written by rank 0 only.
    ddp = dist_.is_distributed()
    main = dist_.is_main()
    net = dist_.wrap_ddp(model, device) if ddp else model
    progress = progress and main
    opt, sched = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
    history: list[dict] = []
    start = 0
    fp = checkpoint_fingerprint(cfg, seed, fingerprint,
                                **({"steps_per_epoch": steps_per_epoch} if steps_per_epoch else {}))
    if checkpoint is not None and Path(checkpoint).exists():
        state = torch_load(checkpoint)
        if state.get("fingerprint") != fp and restart:
            state = None
        elif state.get("fingerprint") != fp:
            raise NeuronError(f"{checkpoint}: checkpoint was made with different parameters; "
                              "delete it or rerun with --force")
    if checkpoint is not None and Path(checkpoint).exists() and state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        history = list(state["history"])
        start = int(state["epoch"])
    resumed_from = start
    done_here = 0
    for epoch in range(start, cfg.epochs):
        if stop_after is not None and done_here >= stop_after:
            break
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)
        gen_seed = seed * 100003 + epoch
        drop_last = len(train_set) > cfg.batch_size
        if steps_per_epoch is not None:
            if ddp:
                raise NeuronError(f"{desc}: steps_per_epoch is not supported under torchrun")
            sampler = torch.utils.data.RandomSampler(
                train_set, replacement=False, num_samples=steps_per_epoch * cfg.batch_size,
                generator=torch.Generator().manual_seed(gen_seed))
            loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, drop_last=True,
                                **accel.loader_kwargs(device, num_workers))
        elif ddp:  # same seeded global batches as one process, each split across the ranks
            loader = DataLoader(train_set, batch_sampler=dist_.distributed_sampler(
                len(train_set), cfg.batch_size, gen_seed, drop_last),
                **accel.loader_kwargs(device, num_workers))
        else:
            loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True,
                                generator=torch.Generator().manual_seed(gen_seed),
                                drop_last=drop_last, **accel.loader_kwargs(device, num_workers))
        model.train()
        total, count = 0.0, 0
        bar = tqdm(loader, desc=f"{desc} epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=not progress)
        # the terminal of `python -m neuron run` follows the batches too (neuron.progress)
        task = f"{desc} epoch {epoch + 1}/{cfg.epochs}"
        for batch in (progress_.track(bar, task, len(loader), "batch") if main else bar):
            batch = tuple(b.to(device, non_blocking=True) if isinstance(b, Tensor) else b for b in batch)
            with accel.autocast(device, precision):
                loss = step(net, batch)
            if not torch.isfinite(loss):
                raise NeuronError(f"{desc}: loss became {loss.item()} in epoch {epoch + 1}; "
                                  "lower the learning rate")
            accel.backward_step(loss, opt, scaler)
            n = len(batch[-1])
            total += loss.item() * n
            count += n
            bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
        if ddp:
            total, count = (float(v) for v in dist_.all_reduce_sum([total, count]))
        record = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "loss": total / max(count, 1)}
        sched.step()
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                record.update(evaluate(model))
        history.append(record)
        done_here += 1
        if checkpoint is not None and main:
            torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(), "torch_rng": torch.get_rng_state(),
                        "history": history, "epoch": epoch + 1, "fingerprint": fp}, checkpoint)
        if ddp and checkpoint is not None:
            dist_.barrier()  # the other ranks wait for rank 0's checkpoint
    model.eval()
    return FitResult(history, resumed_from)


def batches_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps of one :func:`fit` epoch over ``n`` samples (the last partial batch is
    dropped when there is more than one batch)."""
    return n // batch_size if n > batch_size else 1


# --------------------------------------------------------------------------- encoder
def label_map(classes: Sequence[int]) -> dict[int, int]:
    """Dataset class id -> position in ``classes`` (the target index of a classifier)."""
    return {int(c): i for i, c in enumerate(classes)}


def pretrain_encoder(encoder: nn.Module, train_set: Dataset, val_set: Dataset | None, cfg: OptimConfig,
                     seed: int, device: torch.device, checkpoint: Path | None = None,
                     progress: bool = True, fingerprint: dict | None = None,
                     stop_after: int | None = None, **runtime) -> FitResult:
    """Pre-train Shift-GCN with cross-entropy on seen classes (labels already mapped to 0..S-1).

    ``val_set`` (held-out seen-class samples) gives ``val_acc`` (%) per epoch.
    """
    ce = nn.CrossEntropyLoss()

    def step(model, batch):
        x, y = batch
        return ce(model(x).logits, y)

    def evaluate(model):
        if val_set is None:
            return {}
        logits, labels = predict_logits(model, val_set, device, cfg.batch_size)
        return {"val_acc": float((logits.argmax(1) == labels).float().mean() * 100)}

    return fit(encoder, train_set, cfg, step, seed, device, checkpoint, evaluate, "encoder",
               fingerprint, progress, stop_after, **runtime)


@torch.no_grad()
def predict_logits(encoder: nn.Module, dataset: Dataset, device: torch.device,
                   batch_size: int = 64) -> tuple[Tensor, Tensor]:
    """Encoder logits ``(N, classes)`` and labels ``(N,)`` over ``dataset`` (eval mode)."""
    encoder.eval()
    outs, labels = [], []
    for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        outs.append(encoder(x.to(device)).logits.float().cpu())
        labels.append(torch.as_tensor(y))
    return torch.cat(outs), torch.cat(labels)


@dataclass
class Features:
    """Frozen-encoder features of a set of samples (what Neuron and the baseline need).

    Attributes:
        f_s: ``(N, 256, V)`` spatial features (cube mean over time).
        f_t: ``(N, 256, T')`` temporal features (cube mean over joints).
        pooled: ``(N, 256)`` global feature.
        labels: ``(N,)`` dataset class ids.
    Stored as float16 on disk (bytes per sample: ``2 * 256 * (V + T' + 1)``; 21.5 KB for
    V = 25, T' = 16), float32 in memory.
    """

    f_s: Tensor
    f_t: Tensor
    pooled: Tensor
    labels: Tensor
    index: Tensor | None = None
    #: identity of the features (encoder key + feature file; set by ``stages.stage_features``)
    key: str | None = None
    #: optional augmented views of the training samples (``stages.stage_features`` with
    #: ``neuron_train.views > 0``): a list of :class:`Features`
    views: list | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: Tensor | np.ndarray) -> "Features":
        """Rows selected by a boolean mask or positions."""
        mask = torch.as_tensor(mask)
        idx = None if self.index is None else self.index[mask]
        return Features(self.f_s[mask], self.f_t[mask], self.pooled[mask], self.labels[mask], idx)

    def take(self, dataset_indices: np.ndarray | Tensor) -> "Features":
        """Rows of the given dataset sample indices (requires ``index``).

        Raises:
            KeyError: a requested sample has no features.
        """
        pos = {int(j): i for i, j in enumerate(self.index.tolist())}
        try:
            rows = [pos[int(j)] for j in torch.as_tensor(dataset_indices).tolist()]
        except KeyError as e:
            raise KeyError(f"no cached features for sample {e.args[0]}") from None
        return self.subset(torch.as_tensor(rows, dtype=torch.long))

    def content_hash(self) -> str:
        """sha256 of the feature values and labels (identity when ``key`` is not set)."""
        import hashlib

        h = hashlib.sha256()
        for t in (self.f_s, self.f_t, self.pooled, self.labels):
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    def to_state(self) -> dict:
        return {"f_s": self.f_s.half(), "f_t": self.f_t.half(), "pooled": self.pooled.half(),
                "labels": self.labels, "index": self.index}

    @classmethod
    def from_state(cls, state: dict) -> "Features":
        return cls(state["f_s"].float(), state["f_t"].float(), state["pooled"].float(),
                   state["labels"].long(), state.get("index"))


@torch.no_grad()
def extract_features(encoder: nn.Module, dataset: Dataset, device: torch.device,
                     batch_size: int = 64, progress: bool = False) -> Features:
    """Run the frozen encoder (eval mode, BatchNorm statistics untouched) over ``dataset``.

    Items of ``dataset`` are ``(x (3, T, V, M), dataset label)``.
    """
    from tqdm.autonotebook import tqdm

    from neuron.models import split_cube

    encoder.eval()
    fs, ft, pooled, labels = [], [], [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for x, y in progress_.track(tqdm(loader, desc="features", leave=False, disable=not progress),
                                "features", len(loader), "batch"):
        out = encoder(x.to(device))
        s, t = split_cube(out.cube)
        fs.append(s.float().cpu())
        ft.append(t.float().cpu())
        pooled.append(out.pooled.float().cpu())
        labels.append(torch.as_tensor(y))
    index = getattr(dataset, "indices", None)
    return Features(torch.cat(fs), torch.cat(ft), torch.cat(pooled), torch.cat(labels),
                    None if index is None else torch.as_tensor(index, dtype=torch.long))


# --------------------------------------------------------------------------- Neuron / baseline
def _targets(labels: Tensor, classes: Sequence[int]) -> Tensor:
    lut = torch.full((int(max(max(classes), int(labels.max())) + 1),), -1, dtype=torch.long)
    lut[torch.as_tensor(list(classes))] = torch.arange(len(classes))
    t = lut[labels]
    if (t < 0).any():
        bad = int(labels[t < 0][0])
        raise NeuronError(f"label {bad} is not among the training classes {list(classes)}")
    return t


def select_semantics(levels: Sequence[Tensor], classes: Sequence[int]) -> list[Tensor]:
    """Rows ``classes`` of each level tensor ``(C_all, K, D)`` -> list of ``(len(classes), K, D)``."""
    idx = torch.as_tensor(list(classes))
    return [lv[idx] for lv in levels]


def train_neuron(model: nn.Module, feats: Features, classes: Sequence[int], spatial_sem: Sequence[Tensor],
                 temporal_sem: Sequence[Tensor], cfg: OptimConfig, seed: int, device: torch.device,
                 checkpoint: Path | None = None, progress: bool = True, fingerprint: dict | None = None,
                 evaluate: Callable[[nn.Module], dict] | None = None,
                 stop_after: int | None = None, views: Sequence[Features] | None = None,
                 **runtime) -> FitResult:
    """Train Neuron on cached frozen features of seen-class samples.

    Args:
        feats: features of the training samples; labels are dataset class ids in ``classes``.
        classes: the training (seen) classes; targets are positions in this list.
        spatial_sem, temporal_sem: per-round ``(C_all, K, D)`` embeddings of all classes.
        views: optional augmented views of the same samples (each a :class:`Features` with the
            rows of ``feats``); each epoch trains on one view per sample (:class:`ViewChoice`)
            instead of ``feats``.
    Loss: :func:`neuron.models.neuron_loss` (mean CE over rounds and branches, paper Sec. 3.4).
    """
    from neuron.models import neuron_loss

    sp = [s.to(device) for s in select_semantics(spatial_sem, classes)]
    tp = [t.to(device) for t in select_semantics(temporal_sem, classes)]
    if views:
        for v in views:
            if not torch.equal(v.labels, feats.labels):
                raise NeuronError("train_neuron: a view's samples differ from the training samples")
        data = ViewChoice(torch.stack([v.f_s for v in views]), torch.stack([v.f_t for v in views]),
                          _targets(feats.labels, classes), seed)
    else:
        data = TensorDataset(feats.f_s, feats.f_t, _targets(feats.labels, classes))

    round_weights = getattr(model, "round_weights", None)  # a named variant of the loss (None: mean)

    def step(m, batch):
        f_s, f_t, y = batch
        return neuron_loss(m(f_s, f_t, sp, tp), y, round_weights)

    return fit(model, data, cfg, step, seed, device, checkpoint, evaluate, "neuron", fingerprint,
               progress, stop_after, **runtime)


class ViewChoice(Dataset):
    """One of ``V`` cached feature views per sample, chosen anew each epoch.

    Args:
        f_s: ``(V, N, F, J)`` spatial features of ``V`` views of ``N`` samples.
        f_t: ``(V, N, F, T')`` temporal features.
        targets: ``(N,)`` target indices.
        seed: the choice of epoch ``e`` is ``randint(V, (N,))`` from a generator seeded with
            ``(seed, e)`` (reproducible whatever the batch order).
    Items: ``(f_s (F, J), f_t (F, T'), target)``.
    """

    def __init__(self, f_s: Tensor, f_t: Tensor, targets: Tensor, seed: int) -> None:
        if f_s.shape[:2] != f_t.shape[:2] or f_s.shape[1] != len(targets):
            raise NeuronError(f"ViewChoice: shapes {tuple(f_s.shape)}, {tuple(f_t.shape)}, {len(targets)} disagree")
        self.f_s, self.f_t, self.targets, self.seed = f_s, f_t, targets, seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        g = torch.Generator().manual_seed(self.seed * 1000003 + 7919 * epoch + 1)
        self.choice = torch.randint(self.f_s.shape[0], (self.f_s.shape[1],), generator=g)

    def __len__(self) -> int:
        return self.f_s.shape[1]

    def __getitem__(self, i: int):
        v = int(self.choice[i])
        return self.f_s[v, i], self.f_t[v, i], self.targets[i]


def train_baseline(model: nn.Module, feats: Features, classes: Sequence[int], class_emb: Tensor,
                   cfg: OptimConfig, seed: int, device: torch.device, checkpoint: Path | None = None,
                   progress: bool = True, fingerprint: dict | None = None, **runtime) -> FitResult:
    """Train the global-alignment baseline on pooled features; ``class_emb`` is ``(C_all, D)``."""
    emb = class_emb[torch.as_tensor(list(classes))].to(device)
    data = TensorDataset(feats.pooled, _targets(feats.labels, classes))
    ce = nn.CrossEntropyLoss()

    def step(m, batch):
        x, y = batch
        return ce(m(x, emb), y)

    return fit(model, data, cfg, step, seed, device, checkpoint, None, "baseline", fingerprint,
               progress, **runtime)


@dataclass
class Scores:
    """Scores of a model over ``classes`` (column j = dataset class ``classes[j]``).

    ``fused`` ``(N, C)`` (Neuron: :func:`fused_final_round`, the rule every metric and report
    uses; baseline: its logits); ``spatial`` / ``temporal`` final-round logits (or None);
    ``rounds`` = {"spatial": [(N, C)] per round, "temporal": [...]};
    ``spatial_reps`` / ``temporal_reps``: per-round representations ``(N, D)``;
    ``temporal_prototypes``: per-round ``(N, P, 256)`` (first 16 samples only, for figures).
    """

    classes: list[int]
    fused: Tensor
    spatial: Tensor | None = None
    temporal: Tensor | None = None
    rounds: dict | None = None
    spatial_reps: list[Tensor] | None = None
    temporal_reps: list[Tensor] | None = None
    temporal_prototypes: list[Tensor] | None = None

    def full(self, x: Tensor | None, num_classes: int, fill: float = -1e4) -> np.ndarray | None:
        """Scatter ``(N, C)`` scores into ``(N, num_classes)`` (absent classes = ``fill``)."""
        if x is None:
            return None
        out = np.full((x.shape[0], num_classes), fill, dtype=np.float32)
        out[:, self.classes] = x.numpy()
        return out


def fused_final_round(spatial: Tensor | None, temporal: Tensor | None,
                      fusion: str = "mean_log_softmax") -> Tensor:
    """The one fusion rule of evaluation (headline metrics, confusion matrix, per-class accuracy):
    the mean of the final-round branches' log-softmax over the scored classes
    (:func:`neuron.evaluate.fuse_scores`); ``fusion`` ``"spatial"`` / ``"temporal"`` keeps that
    branch only (its log-softmax). ``spatial`` / ``temporal``: ``(N, C)`` logits or None.
    Returns ``(N, C)`` float32. (The model's own ``NeuronOutput.scores``, a sum of softmaxes as
    in the official code, is not used for evaluation.)"""
    from neuron.evaluate import fuse_scores

    both = ("mean_log_softmax", "sum_softmax")  # sum_softmax: the former name (config.LEGACY_VALUES)
    sp = spatial if fusion in both + ("spatial",) else None
    tp = temporal if fusion in both + ("temporal",) else None
    return torch.as_tensor(fuse_scores(sp, tp), dtype=torch.float32)


@torch.no_grad()
def score_neuron(model: nn.Module, feats: Features, classes: Sequence[int], spatial_sem: Sequence[Tensor],
                 temporal_sem: Sequence[Tensor], device: torch.device, batch_size: int = 256) -> Scores:
    """Score ``feats`` against ``classes`` with a trained Neuron (eval mode)."""
    model.eval()
    sp = [s.to(device) for s in select_semantics(spatial_sem, classes)]
    tp = [t.to(device) for t in select_semantics(temporal_sem, classes)]
    acc: dict[str, list] = {k: [] for k in ("sr", "tr", "srep", "trep")}
    protos = None
    for i in range(0, len(feats), batch_size):
        out = model(feats.f_s[i:i + batch_size].to(device), feats.f_t[i:i + batch_size].to(device), sp, tp)
        acc["sr"].append([x.float().cpu() for x in out.spatial_logits])
        acc["tr"].append([x.float().cpu() for x in out.temporal_logits])
        acc["srep"].append([x.float().cpu() for x in out.spatial_reps])
        acc["trep"].append([x.float().cpu() for x in out.temporal_reps])
        if protos is None:
            protos = [q[:16].float().cpu() for q in out.temporal_prototypes]

    def cat_rounds(key):
        parts = acc[key]
        if not parts or not parts[0]:
            return []
        return [torch.cat([p[r] for p in parts]) for r in range(len(parts[0]))]

    sr, tr = cat_rounds("sr"), cat_rounds("tr")
    return Scores(list(classes), fused_final_round(sr[-1] if sr else None, tr[-1] if tr else None,
                                                   getattr(model, "fusion", "mean_log_softmax")),
                  sr[-1] if sr else None,
                  tr[-1] if tr else None, {"spatial": sr, "temporal": tr}, cat_rounds("srep"),
                  cat_rounds("trep"), protos or [])


@torch.no_grad()
def score_baseline(model: nn.Module, feats: Features, classes: Sequence[int], class_emb: Tensor,
                   device: torch.device) -> Scores:
    """Score ``feats`` against ``classes`` with the trained baseline."""
    model.eval()
    emb = class_emb[torch.as_tensor(list(classes))].to(device)
    return Scores(list(classes), model(feats.pooled.to(device), emb).float().cpu())


def accuracy(scores: Tensor, labels: Tensor, classes: Sequence[int]) -> float:
    """Top-1 accuracy (%) of ``scores (N, len(classes))`` against dataset labels."""
    pred = torch.as_tensor(list(classes))[scores.argmax(1)]
    return float((pred == labels).float().mean() * 100) if len(labels) else math.nan
