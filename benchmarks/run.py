"""Performance benchmarks of the Neuron reproduction (a script, not a test).

    python benchmarks/run.py [--quick] [--e2e | --e2e-only] [--threads N] [--out benchmarks/results.json]
    python benchmarks/run.py --profile [--quick] [--threads N]   # top operators of a training step
    python benchmarks/run.py --ab --threads 1 --ref REV          # one-process A/B of REV's encoder vs the current
    python benchmarks/run.py --memory                           # encoder-training peak RSS, four allocator settings
    python benchmarks/run.py --star --threads 1                 # STAR training step: factored vs official order
    python benchmarks/run.py --quick --compare-allocators       # encoder rows under glibc malloc and tcmalloc

Prints a table and writes JSON (``benchmarks/results.json`` and ``benchmarks/results-<date>.json``).
All figures come from the same run:

* machine reference: fp32 ``torch.mm`` GFLOP/s on large square matrices (the bound for this
  model family, whose FLOPs are all matrix products);
* encoder (Shift-GCN, batch 64, T = 64, V in {20, 25}, M in {1, 2}): samples/s of inference
  forward and of a training step (forward + backward + SGD; the best of three timed calls after
  a warm-up call, the mean alongside), FLOPs per sample (the matrix products counted by
  ``torch.utils.flop_counter.FlopCounterMode``; the temporal shift's interpolation is not
  counted, whichever way it is implemented), achieved GFLOP/s and the ratio to the matmul
  bound of the whole run (the largest of all its measurements) and to the bound measured right
  before and after that configuration (the larger of the two; a shared VM's speed drifts by tens
  of percent within minutes); the pre-optimisation implementation (``git HEAD`` version of
  ``shift_gcn.py``, when it differs) is measured alongside for the speed-up;
* Neuron stage on real UTD-MHAD (split 22/5 #0): seconds per epoch with the frozen encoder
  recomputed per batch (the official design) vs. from cached float16 features, the speed-up and
  the ZSL (unseen-class) accuracy of both; cache bytes per sample;
* ``--e2e``: wall time and peak RSS of ``bash scripts/main.sh`` (the README's main job) run with
  a fresh temporary cache, run and report folders (minutes); ``--e2e-only`` runs just that and
  writes ``benchmarks/results-e2e.json``.

Allocator.  The benchmark runs under the allocator of the training kernels (``neuron.allocator``:
tcmalloc when installed, re-executing itself with ``LD_PRELOAD``; ``--allocator system`` for glibc
malloc); the table names it.  With glibc, the 50 MB activations of NTU-shaped input (V=25, M=2,
batch 64) exceed its largest mmap threshold (32 MiB), so every one is mapped, faulted in and
unmapped again on every step (system time); ``--compare-allocators`` measures both in one run.

Every rate is reported twice: per wall-clock second (what you wait for; sensitive to other jobs
on a shared machine) and per CPU-second of this process (user + system; robust to load, since a
preempted process accrues no CPU time).  Ratios are always taken between figures of the same kind.

Each mode is a module of the package ``benchmarks`` (see its docstring); this file only parses
the options and dispatches.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from benchmarks import ROOT  # noqa: E402
from benchmarks.ab import run_ab  # noqa: E402
from benchmarks.allocators import compare_allocators, ensure_allocator  # noqa: E402
from benchmarks.e2e import run_e2e_only  # noqa: E402
from benchmarks.memory import memory_child, run_memory  # noqa: E402
from benchmarks.profiling import run_profile  # noqa: E402
from benchmarks.star import run_star  # noqa: E402
from benchmarks.table import run_table  # noqa: E402
from benchmarks.timing import load_avg  # noqa: E402
from neuron.allocator import current_allocator  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and configurations")
    ap.add_argument("--e2e", action="store_true", help="also time bash scripts/main.sh (minutes)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--compile", default="off", help="torch.compile mode for the encoder (default off)")
    ap.add_argument("--skip-neuron", action="store_true")
    ap.add_argument("--e2e-only", action="store_true", help="only the end-to-end run (no kernels)")
    ap.add_argument("--ref", default="HEAD",
                    help="git revision of the reference shift_gcn.py measured alongside (default HEAD)")
    ap.add_argument("--profile", action="store_true",
                    help="only profile one encoder training step per shape (top operators by self CPU time)")
    ap.add_argument("--ab", action="store_true",
                    help="only the one-process A/B of the --ref and current encoder (CPU time per step)")
    ap.add_argument("--ab-batch", type=int, default=16, help="batch of the --ab steps (default 16)")
    ap.add_argument("--ab-rounds", type=int, default=2, help="alternating rounds of --ab (default 2)")
    ap.add_argument("--memory", action="store_true",
                    help="only the encoder-training memory measurement (peak RSS, 8 steps, four allocator settings)")
    ap.add_argument("--star", action="store_true",
                    help="only the STAR peer's training step, factored vs official order (benchmarks/star.py)")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--trim", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--allocator", choices=("auto", "tcmalloc", "system"), default="auto",
                    help="allocator of this process (default auto: that of the training kernels, "
                         "tcmalloc when installed; the script re-executes itself to switch)")
    ap.add_argument("--compare-allocators", action="store_true",
                    help="only the encoder rows under glibc malloc and tcmalloc (two child runs) and their ratio")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    argv = list(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(argv)
    if args.compare_allocators:
        return compare_allocators(argv, args.out)
    if not (args.memory or args.memory_child or args.e2e_only):  # these choose their allocators themselves
        allocator = ensure_allocator(args.allocator, argv)
    else:
        allocator = current_allocator()
    print(f"allocator of this process: {allocator}", flush=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not os.environ.get("NEURON_DATA_ROOT") and (ROOT.parent / "shared" / "data").is_dir():
        os.environ["NEURON_DATA_ROOT"] = str((ROOT.parent / "shared" / "data").resolve())

    date = _dt.datetime.now().isoformat(timespec="seconds")
    res: dict = {"date": date, "quick": args.quick, "torch": torch.__version__, "allocator": allocator,
                 "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                             "load_avg_start": load_avg()}}
    if args.e2e_only:
        return run_e2e_only(res, Path(args.out))
    if args.memory_child:
        print(json.dumps(memory_child(args.trim)))
        return 0
    if args.memory:
        return run_memory()
    if args.star:
        return run_star()
    if args.ab:
        return run_ab(args.ref, args.ab_batch, args.ab_rounds)
    if args.profile:
        return run_profile(args.ref, args.quick)
    return run_table(res, args.out, quick=args.quick, compile_mode=args.compile, ref=args.ref,
                     skip_neuron=args.skip_neuron, e2e=args.e2e)


if __name__ == "__main__":
    raise SystemExit(main())
