"""The Neuron stage on real UTD-MHAD: seconds per epoch with the frozen encoder recomputed per
batch (the official design) vs. from cached float16 features, and the ZSL accuracy of both."""
from __future__ import annotations

import dataclasses
import statistics
import time

import torch
from torch import nn

from benchmarks import ROOT
from benchmarks.timing import cpu_time
from neuron import stages
from neuron.config import load_run_config
from neuron.io import torch_load
from neuron.models import FrozenEncoder, Neuron, neuron_loss, split_cube
from neuron.train import (Features, accuracy, extract_features, fit, score_neuron, seed_everything,
                          select_semantics, train_neuron)

class RecomputeNeuron(nn.Module):
    """The official design: the frozen encoder runs on every training batch."""

    def __init__(self, encoder: nn.Module, neuron: nn.Module) -> None:
        super().__init__()
        self.encoder = FrozenEncoder(encoder)
        self.neuron = neuron

    def forward(self, x, sp, tp):
        f_s, f_t = split_cube(self.encoder(x).cube)
        return self.neuron(f_s, f_t, sp, tp)


def bench_neuron_stage(epochs: int, progress: bool = False) -> dict:
    cfg = load_run_config(ROOT / "params/runs/utd_mhad_quick.yaml")
    device = torch.device("cpu")
    bundle = stages.stage_data(cfg)
    sem = stages.stage_side_info(cfg, bundle)
    split = bundle.split
    seen, unseen = split.seen, split.unseen
    # Encoder: the cached pre-trained one of this config if present (else a partial checkpoint,
    # else random weights -- the speed comparison is unaffected; accuracy then is near chance).
    seed_everything(cfg.seed)
    encoder = stages.build_encoder(bundle, len(seen))
    folder = stages.cache_root() / "encoders" / stages.encoder_key(cfg, bundle)
    enc_src = "random init"
    for name, label in (("encoder.pt", "pre-trained (cache)"), ("checkpoint.pt", "partially pre-trained checkpoint (cache)")):
        if (folder / name).exists():
            encoder.load_state_dict(torch_load(folder / name)["model"])
            enc_src = f"{label} {folder.name}/{name}"
            break
    encoder.eval()

    idx_train = split.train
    test_idx = split.test[torch.isin(torch.as_tensor(bundle.pdata.labels[split.test]),
                                     torch.as_tensor(unseen)).numpy()]
    t0 = time.perf_counter()
    f_train32 = extract_features(FrozenEncoder(encoder), bundle.windows(cfg, idx_train, False), device, 128)
    extract_s = time.perf_counter() - t0
    f_test32 = extract_features(FrozenEncoder(encoder), bundle.windows(cfg, test_idx, False), device, 128)
    state = f_train32.to_state()
    nbytes = sum(v.numel() * v.element_size() for v in state.values() if isinstance(v, torch.Tensor))
    f_train = Features.from_state(state)
    f_test = Features.from_state(f_test32.to_state())
    ocfg = dataclasses.replace(cfg.neuron_train, epochs=epochs)
    ncfg = dataclasses.asdict(cfg.neuron)

    def new_neuron():
        seed_everything(cfg.seed)
        return Neuron(text_dim=sem.dim, feat_dim=f_train.f_s.shape[1], **ncfg)

    def zsl(model, feats):
        s = score_neuron(model, feats, unseen, sem.spatial, sem.temporal, device)
        return accuracy(s.fused, feats.labels, unseen)

    durations: list[list[float]] = []

    def epoch_clock():
        """(evaluate callback recording per-epoch end times, -> (wall, cpu) s/epoch: the median
        over epochs after the first, which carries one-off warm-up costs)."""
        stamps = [(time.perf_counter(), cpu_time())]

        def cb(_model):
            stamps.append((time.perf_counter(), cpu_time()))
            return {}

        def per_epoch():
            d = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(stamps, stamps[1:])]
            durations.append([round(x[0], 3) for x in d])
            d = d[1:] if len(d) > 1 else d
            return (statistics.median(x[0] for x in d), statistics.median(x[1] for x in d))

        return cb, per_epoch

    # cached features
    cached = new_neuron()
    cb, per_epoch = epoch_clock()
    h_cached = train_neuron(cached, f_train, seen, sem.spatial, sem.temporal, ocfg, cfg.seed, device,
                            progress=progress, evaluate=cb)
    cached_wall, cached_cpu = per_epoch()
    acc_cached = zsl(cached, f_test)

    # recomputed per batch (same seed, same batch order: fit() seeds the order by (seed, epoch))
    rec = RecomputeNeuron(encoder, new_neuron())
    sp = select_semantics(sem.spatial, seen)
    tp = select_semantics(sem.temporal, seen)
    windows = bundle.windows(cfg, idx_train, False, seen)

    def step(m, batch):
        x, y = batch
        return neuron_loss(m(x, sp, tp), y)

    cb, per_epoch = epoch_clock()
    h_rec = fit(rec, windows, ocfg, step, cfg.seed, device, evaluate=cb, desc="neuron-recompute",
                progress=progress)
    rec_wall, rec_cpu = per_epoch()
    acc_rec = zsl(rec.neuron, f_test32)
    return {
        "data": "real UTD-MHAD (utd_mhad_22_5 #0, seed 0), centred 64-frame windows",
        "encoder": enc_src, "train_samples": len(f_train), "test_unseen_samples": len(f_test),
        "epochs": epochs, "batch_size": ocfg.batch_size,
        "feature_extraction_s": extract_s,
        "cache_bytes_per_sample_fp16": nbytes / len(f_train),
        "cache_bytes_per_sample_breakdown": {k: v[0].numel() * v.element_size()
                                             for k, v in state.items() if isinstance(v, torch.Tensor)},
        "cached_s_per_epoch": cached_wall, "recompute_s_per_epoch": rec_wall,
        "cached_cpu_s_per_epoch": cached_cpu, "recompute_cpu_s_per_epoch": rec_cpu,
        "speedup_wall": rec_wall / cached_wall, "speedup_cpu": rec_cpu / cached_cpu,
        "zsl_acc_cached": acc_cached, "zsl_acc_recompute": acc_rec,
        "zsl_acc_diff_points": acc_cached - acc_rec,
        "epoch_wall_s": {"cached": durations[0], "recompute": durations[1]},
        "final_loss_cached": h_cached.history[-1]["loss"], "final_loss_recompute": h_rec.history[-1]["loss"],
    }
