"""``--memory``: peak RSS of encoder pre-training steps under four allocator settings, each in a
fresh process (``run.py --memory-child``)."""
from __future__ import annotations

import ctypes
import datetime as _dt
import json
import os
import resource
import subprocess
import sys

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from benchmarks import ROOT, RUN
from benchmarks.timing import load_avg
from neuron import stages
from neuron.allocator import current_allocator, find_tcmalloc
from neuron.config import load_run_config

def memory_child(trim: bool, steps: int = 8) -> dict:
    """Encoder pre-training steps of the main job's configuration (UTD-MHAD 22/5 #0, batch 32,
    V=20, M=1, T=64, one thread): peak RSS (MiB) after ``steps`` steps and the CPU seconds of
    steps 3..``steps``; ``trim`` calls glibc ``malloc_trim(0)`` after every optimiser step."""
    torch.set_num_threads(1)
    cfg = load_run_config(ROOT / "params/runs/utd_mhad_quick.yaml", {"num_threads": 1})
    b = stages.stage_data(cfg)
    torch.manual_seed(0)
    enc = stages.build_encoder(b, len(b.split.seen))
    opt = torch.optim.SGD(enc.parameters(), lr=0.01, momentum=0.9)
    libc = ctypes.CDLL("libc.so.6") if trim else None
    enc.train()
    r0 = None
    for i, (x, y) in enumerate(DataLoader(b.windows(cfg, b.split.train, True, b.split.seen), batch_size=32,
                                          shuffle=True)):
        if i == 2:
            r0 = resource.getrusage(resource.RUSAGE_SELF)
        if i == steps:
            break
        loss = F.cross_entropy(enc(x).logits, torch.zeros(len(x), dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if libc is not None:
            libc.malloc_trim(0)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"peak_rss_mib": r1.ru_maxrss / 1024, "user_s": r1.ru_utime - r0.ru_utime,
            "sys_s": r1.ru_stime - r0.ru_stime, "steps_timed": steps - 2,
            "param_checksum": float(sum(p.double().sum() for p in enc.parameters())),
            "allocator": current_allocator()}


def bench_memory() -> list[dict]:
    """:func:`memory_child` in fresh processes: glibc defaults, ``malloc_trim`` after every step,
    ``MALLOC_MMAP_THRESHOLD_=4194304`` (large tensors always mmapped) and tcmalloc preloaded
    (the notebook kernels' default, :mod:`neuron.allocator`; skipped when not installed). The
    sum of the trained parameters is printed: allocators must not change the numbers."""
    settings = [("glibc default", {}, []), ("glibc, malloc_trim every step", {}, ["--trim"]),
                ("glibc, MALLOC_MMAP_THRESHOLD_=4194304", {"MALLOC_MMAP_THRESHOLD_": "4194304"}, [])]
    lib = find_tcmalloc()
    if lib:
        settings.append(("tcmalloc (LD_PRELOAD, default)", {"LD_PRELOAD": lib}, []))
    else:
        print("tcmalloc not installed (apt-get install libtcmalloc-minimal4): its row is skipped")
    rows = []
    for name, extra, args in settings:
        env = {**os.environ, **extra, "OMP_NUM_THREADS": "1"}
        if "LD_PRELOAD" not in extra:
            env.pop("LD_PRELOAD", None)
        out = subprocess.run([sys.executable, str(RUN), "--memory-child", *args],
                             env=env, capture_output=True, text=True, check=True).stdout
        row = {"variant": name, **json.loads(out.strip().splitlines()[-1])}
        print(f"{name:<38} peak RSS {row['peak_rss_mib']:6.0f} MiB; steps 3-8: user {row['user_s']:.1f} s, "
              f"sys {row['sys_s']:.1f} s; parameter checksum {row['param_checksum']:.12g}", flush=True)
        rows.append(row)
    return rows


def run_memory() -> int:
    """Print the memory measurement of :func:`bench_memory` with its date and load."""
    print(f"encoder pre-training memory, {_dt.datetime.now().isoformat(timespec='seconds')}, "
          f"load avg {load_avg()}")
    bench_memory()
    return 0
