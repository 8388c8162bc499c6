"""One row of the encoder table: Shift-GCN inference and training-step speed, FLOPs per sample,
achieved GFLOP/s against the matmul bound; and the encoder of another git revision to measure
alongside (``--ref``)."""
from __future__ import annotations

import importlib.util
import subprocess
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks import ROOT
from benchmarks.flops import encoder_flop_counter, matrix_product_flops
from benchmarks.timing import set_fractions, timed_reps
from neuron.accel import maybe_compile


def reference_module(ref: str = "HEAD"):
    """The ``git ref`` version of ``neuron/models/shift_gcn.py`` as a module (None if
    unavailable or identical to the working tree)."""
    try:
        src = subprocess.run(["git", "show", f"{ref}:neuron/models/shift_gcn.py"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    if src == (ROOT / "neuron/models/shift_gcn.py").read_text():
        return None
    path = Path(tempfile.mkdtemp()) / "shift_gcn_head.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("shift_gcn_head", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@torch.no_grad()
def calibrate_bn(model: nn.Module, x: torch.Tensor) -> None:
    """Set BatchNorm running statistics to those of ``x`` (one train-mode pass, cumulative).

    A freshly initialised model in eval mode normalises with mean 0 / var 1; through ten blocks
    the activations then drift into float32 denormals, which are ~10x slower on x86 and would
    make the inference figure meaningless.  A trained encoder has calibrated statistics.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    model(x)
    for m, mom in zip(bns, saved):
        m.momentum = mom


def bench_encoder(mod, V: int, M: int, batch: int, T: int, reps: int, bound: dict,
                  compile_mode: str = "off") -> dict:
    torch.manual_seed(0)
    model = mod.ShiftGCN(num_classes=20, num_point=V, num_person=M)
    x = torch.randn(batch, 3, T, V, M)
    y = torch.randint(0, 20, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True)
    net = maybe_compile(model, compile_mode)

    def train_step():
        loss = F.cross_entropy(net(x).logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def forward():
        net(x)

    calibrate_bn(model, x)
    with encoder_flop_counter() as fc:
        model.eval()
        with torch.no_grad():
            model(x)
    f_fwd = matrix_product_flops(fc) / batch
    model.train()
    with encoder_flop_counter() as fc:
        F.cross_entropy(model(x).logits, y).backward()
    f_train = matrix_product_flops(fc) / batch
    opt.zero_grad(set_to_none=True)

    model.train()
    tt = timed_reps(train_step, reps)
    tw, tc = tt["best_wall"], tt["best_cpu"]
    model.eval()
    ft = timed_reps(forward, reps)
    fw, fcpu = ft["best_wall"], ft["best_cpu"]
    row = {"V": V, "M": M, "batch": batch, "T": T, "reps": reps, "timing": "best of reps (mean alongside)",
           "train_samples_per_s_mean": batch / tt["mean_wall"],
           "train_samples_per_cpu_s_mean": batch / tt["mean_cpu"],
           "train_gflops_wall_mean": f_train * batch / tt["mean_wall"] / 1e9,
           "gflop_per_sample_fwd": f_fwd / 1e9, "gflop_per_sample_train": f_train / 1e9,
           "fwd_samples_per_s": batch / fw, "train_samples_per_s": batch / tw,
           "fwd_samples_per_cpu_s": batch / fcpu, "train_samples_per_cpu_s": batch / tc,
           "train_gflops_wall": f_train * batch / tw / 1e9, "train_gflops_per_cpu_s": f_train * batch / tc / 1e9,
           "fwd_gflops_wall": f_fwd * batch / fw / 1e9}
    set_fractions(row, bound)
    return row
