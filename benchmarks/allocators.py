"""The allocator of the benchmark process: the training kernels' one (``neuron.allocator``:
tcmalloc when installed, by re-executing the command line with ``LD_PRELOAD``) or glibc malloc;
and ``--compare-allocators``: the encoder rows under both, in two child runs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import RUN
from neuron import allocator


def ensure_allocator(choice: str, argv: list[str]) -> str:
    """Re-execute the command line (``run.py`` with ``argv``) under the requested allocator when
    this process runs another one.

    ``choice``: ``auto`` (what the training kernels get: ``NEURON_ALLOCATOR``, tcmalloc when
    installed), ``tcmalloc`` or ``system``.  Returns the allocator this process runs with.

    Raises:
        SystemExit: ``tcmalloc`` requested but not installed.
    """
    want = allocator.allocator_name() if choice == "auto" else choice
    lib = allocator.find_tcmalloc()
    if want == "tcmalloc" and lib is None:
        if choice == "tcmalloc":
            raise SystemExit("--allocator tcmalloc: libtcmalloc_minimal.so.4 not found "
                             "(apt-get install libtcmalloc-minimal4, or conda install gperftools)")
        want = "system"
    have = allocator.current_allocator()
    if have == want or os.environ.get("NEURON_BENCH_REEXEC"):  # re-executed once already: no loop
        return have
    env = allocator.preload_env(dict(os.environ), lib if want == "tcmalloc" else None)
    env["NEURON_BENCH_REEXEC"] = "1"
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, str(RUN), *argv], env)
    return have  # not reached


def compare_allocators(argv: list[str], out: str | Path) -> int:
    """The encoder rows under glibc malloc and under tcmalloc, each in a fresh child process run
    one after the other, and the ratio of training samples/s per shape (tcmalloc / glibc),
    written to ``<out stem>-allocators.json``. ``argv``: the command line's arguments."""
    keep = [a for a in argv if a not in ("--compare-allocators",)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for alloc in ("system", "tcmalloc"):
            out = Path(tmp) / f"{alloc}.json"
            cmd = [sys.executable, str(RUN), *keep, "--skip-neuron",
                   "--allocator", alloc, "--out", str(out)]
            env = {k: v for k, v in os.environ.items() if k != "NEURON_BENCH_REEXEC"}
            rc = subprocess.run(cmd, env=env).returncode
            if rc != 0:
                print(f"--compare-allocators: the {alloc} run failed (exit {rc})")
                return rc
            results[alloc] = json.loads(out.read_text())
    print("\nAllocator comparison (training samples/s, wall | per CPU-s; tcmalloc / glibc):")
    ratios = {}
    for r in results["tcmalloc"]["encoder"]:
        s = next(q for q in results["system"]["encoder"]
                 if (q["impl"], q["V"], q["M"]) == (r["impl"], r["V"], r["M"]))
        key = f"{r['impl']} V={r['V']} M={r['M']}"
        ratios[key] = {"wall": r["train_samples_per_s"] / s["train_samples_per_s"],
                       "cpu": r["train_samples_per_cpu_s"] / s["train_samples_per_cpu_s"]}
        print(f"  {key:<22} glibc {s['train_samples_per_s']:6.2f} | {s['train_samples_per_cpu_s']:6.2f}   "
              f"tcmalloc {r['train_samples_per_s']:6.2f} | {r['train_samples_per_cpu_s']:6.2f}   "
              f"{ratios[key]['wall']:.2f}x | {ratios[key]['cpu']:.2f}x")
    out = Path(out)
    out = out.with_name(f"{out.stem}-allocators.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": results, "ratio_tcmalloc_over_glibc": ratios}, indent=2))
    print(f"wrote {out}")
    return 0
