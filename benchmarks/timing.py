"""Clocks of the benchmarks: wall and CPU seconds per call, the fp32 matmul bound, load average.

Every rate is reported twice: per wall-clock second (what you wait for; sensitive to other jobs
on a shared machine) and per CPU-second of this process (user + system; robust to load, since a
preempted process accrues no CPU time).
"""
from __future__ import annotations

import os
import resource
import statistics
import time

import torch


def cpu_time() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, reps: int, warmup: int = 1) -> tuple[float, float]:
    """(wall seconds, CPU seconds) per call of ``fn``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    w0, c0 = time.perf_counter(), cpu_time()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - w0) / reps, (cpu_time() - c0) / reps


def timed_reps(fn, reps: int, warmup: int = 1) -> dict:
    """Per-call timings of ``reps`` separate calls of ``fn`` after ``warmup`` untimed calls: the
    best (smallest) and the mean wall and CPU seconds. Interference on a shared machine only ever
    slows a call down, so the best call is the machine's rate, as for the matmul bound (the
    larger of two measurements); the mean is kept alongside."""
    for _ in range(warmup):
        fn()
    walls, cpus = [], []
    for _ in range(reps):
        w0, c0 = time.perf_counter(), cpu_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(cpu_time() - c0)
    return {"best_wall": min(walls), "best_cpu": min(cpus), "mean_wall": statistics.fmean(walls),
            "mean_cpu": statistics.fmean(cpus), "reps": reps}


def load_avg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def matmul_bound(n: int, reps: int) -> dict:
    a, b = torch.randn(n, n), torch.randn(n, n)
    flops = 2.0 * n ** 3
    wall, cpu = timed(lambda: torch.mm(a, b), reps, warmup=2)
    return {"n": n, "gflops_wall": flops / wall / 1e9, "gflops_per_cpu_s": flops / cpu / 1e9,
            "threads": torch.get_num_threads()}


def set_fractions(row: dict, bound: dict) -> None:
    """Add to an encoder ``row`` its achieved GFLOP/s as fractions of the matmul ``bound``
    (wall and CPU-time figures each against their own kind)."""
    row["train_frac_of_bound_wall"] = row["train_gflops_wall"] / bound["gflops_wall"]
    row["train_frac_of_bound_cpu"] = row["train_gflops_per_cpu_s"] / bound["gflops_per_cpu_s"]
    row["fwd_frac_of_bound_wall"] = row["fwd_gflops_wall"] / bound["gflops_wall"]
    if "train_gflops_wall_mean" in row:
        row["train_frac_of_bound_wall_mean"] = row["train_gflops_wall_mean"] / bound["gflops_wall"]
