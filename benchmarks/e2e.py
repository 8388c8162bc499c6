"""``--e2e`` / ``--e2e-only``: wall time, CPU time and peak RSS of the README's main job
(``bash scripts/main.sh``) with a fresh cache and temporary run and report folders (minutes)."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks import ROOT
from benchmarks.timing import load_avg
from neuron.allocator import preload_env

def bench_e2e() -> dict:
    """The README's main job from nothing: fresh cache, run and report folders (all temporary),
    so no finished stage is skipped and the committed reports are left alone.  Peak RSS is that
    of the largest single process (papermill kernels included: ``RUSAGE_CHILDREN``)."""
    with tempfile.TemporaryDirectory() as tmp:
        # the job as a user runs it: its kernels choose their allocator (neuron.allocator), the
        # driver process keeps the system one
        env = preload_env(dict(os.environ, NEURON_CACHE=str(Path(tmp) / "cache")), None)
        env.pop("NEURON_BENCH_REEXEC", None)
        cmd = ["bash", "scripts/main.sh", "params/studies/utd_mhad_quick.yaml",
               "--runs-root", str(Path(tmp) / "runs"), "--reports-root", str(Path(tmp) / "reports")]
        t0 = time.perf_counter()
        la0 = load_avg()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        wall = time.perf_counter() - t0
        metrics = {}
        found = sorted((Path(tmp) / "runs").glob("utd_mhad_quick/*/*/seed*/metrics.json"))
        if found:
            m = json.loads(found[0].read_text())
            metrics = {k: m.get("neuron", {}).get(k) for k in ("honest/zsl_top1", "honest/gzsl_h")}
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"command": "bash scripts/main.sh (fresh cache, runs and reports in a temporary folder)",
            "returncode": proc.returncode, "wall_s": wall, "peak_rss_mib": ru.ru_maxrss / 1024,
            "children_cpu_s": ru.ru_utime + ru.ru_stime, "load_avg_start": la0,
            "load_avg_end": load_avg(), "neuron_metrics": metrics, "tail": proc.stdout[-1500:].replace(tmp, "<tmp>")}


def fmt_e2e(res: dict) -> str:
    """One line on the end-to-end result ``res["e2e"]`` of an ``--e2e-only`` run."""
    e = res["e2e"]
    return (f"Neuron end-to-end benchmark {res['date']} ({res['machine']['cpu']}, "
            f"{res['machine']['cores']} cores): {e['command']}: rc {e['returncode']}, "
            f"{e['wall_s']:.0f} s wall ({e['wall_s'] / 60:.1f} min; load avg {e['load_avg_start']} -> "
            f"{e['load_avg_end']}), {e['children_cpu_s'] / 60:.1f} CPU-min, peak RSS "
            f"{e['peak_rss_mib']:.0f} MiB (largest process); Neuron {e['neuron_metrics']}")


def run_e2e_only(res: dict, out: Path) -> int:
    """Add the end-to-end run to ``res`` (date, machine), print it and write it to ``out``
    (``benchmarks/results-e2e.json`` instead of the kernel table's ``results.json``)."""
    res["e2e"] = bench_e2e()
    res["machine"]["load_avg_end"] = load_avg()
    res["table"] = fmt_e2e(res)
    print(res["table"])
    if out == ROOT / "benchmarks" / "results.json":  # keep the kernel results
        out = out.with_name("results-e2e.json")
    out.write_text(json.dumps(res, indent=2))
    print(f"\nwrote {out}")
    return int(res["e2e"]["returncode"] != 0)
