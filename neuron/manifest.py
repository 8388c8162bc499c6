"""Run manifests: what produced a set of outputs (parameters, seed, commit, packages, data hashes).

A manifest never holds environment variables or secrets: only the resolved parameters, the seed,
the git commit, package versions, the device and the hashes of the data and side information.
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from neuron.config import PROJECT_ROOT, RunConfig, current_names, to_dict
from neuron.errors import NeuronError
from neuron.io import sha256_obj, write_json

PACKAGES = ("torch", "numpy", "scipy", "scikit-learn", "transformers", "sentence-transformers",
            "papermill", "nbconvert", "pandas", "matplotlib", "seaborn")


def git_commit() -> str:
    """The project's git commit (``+dirty`` when the tree has changes), or ``unknown``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha or "unknown") + ("+dirty" if dirty and sha else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    from neuron.allocator import current_allocator

    out = {"python": sys.version.split()[0], "platform": platform.platform(),
           "allocator": current_allocator()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


#: Environment variables that cap the instruction set torch's kernels and oneDNN dispatch to
#: (configuration, never secrets); recorded when set because they change CPU results.
ISA_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    """One line naming the machine a result was made on: logical CPU count, CPU model, the
    instruction set torch dispatches to, operating system, and the CUDA device when one is used,
    e.g. ``"2 CPUs (Intel Xeon ...), AVX512, Linux x86_64, no GPU"``."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{os.cpu_count()} CPUs ({_cpu_model()}), {torch.backends.cpu.get_cpu_capability()}, "
            f"{platform.system()} {platform.machine()}, {gpu}")


def numerics(num_threads: int = 0, precision: str = "fp32") -> dict:
    """What a CPU run's floating-point results depend on besides the code and the data.

    Returns ``{"torch", "onednn", "onednn_enabled", "cpu_capability", "cpu_model", "threads",
    "precision", "isa_env"}``: torch's version; the oneDNN version torch was built with (from
    ``torch.__config__.show()``, ``"none"`` when absent) and whether torch uses it
    (``torch.backends.mkldnn.enabled``); the instruction set torch's CPU kernels dispatch to
    (``torch.backends.cpu.get_cpu_capability()``, e.g. ``AVX512``, ``AVX2``); the CPU model; the
    intra-op thread count (``num_threads``, else torch's current count: reductions split over
    threads sum in another order); the run's precision; and the ISA caps of :data:`ISA_ENV`
    that are set. Equal numerics, commit and data give bit-identical CPU outcomes.
    """
    import torch

    m = re.search(r"(?:MKL-DNN|oneDNN)\s+v?([0-9][0-9.]*)", torch.__config__.show())
    return {
        "torch": torch.__version__,
        "onednn": m.group(1) if m else "none",
        "onednn_enabled": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_model": _cpu_model(),
        "threads": int(num_threads or torch.get_num_threads()),
        "precision": precision,
        "isa_env": {k: os.environ[k] for k in ISA_ENV if k in os.environ},
    }


def params_hash(cfg: RunConfig) -> str:
    """Hash of the resolved run parameters (what a run directory is keyed by)."""
    return sha256_obj(to_dict(cfg))


#: Run keys that change how fast a run goes, not what it computes (CPU results are identical).
RUNTIME_KEYS = ("num_threads", "num_workers")


def params_diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two resolved parameter dicts.

    Keys present in only one of them (a parameter added to the code later, at its default) are
    not differences, so old run folders stay usable after the parameter schema grows; neither are
    the top-level :data:`RUNTIME_KEYS`.
    """
    if not prefix:  # values under a former name (config.LEGACY_VALUES) are the same values
        old, new = current_names(old), current_names(new)
    out = []
    for k in old.keys() & new.keys():
        if not prefix and k in RUNTIME_KEYS:
            continue
        a, b = old[k], new[k]
        key = f"{prefix}{k}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += params_diff(a, b, key + ".")
        elif a != b:
            out.append(key)
    return sorted(out)


def write_manifest(run_dir: str | Path, cfg: RunConfig, extra: dict | None = None,
                   force: bool = False) -> dict:
    """Write ``run_dir/manifest.json``; refuse to mix outputs of different parameters.

    Raises:
        NeuronError: ``run_dir`` already holds a manifest with other parameters (unless
            ``force``).
    """
    run_dir = Path(run_dir)
    path = run_dir / "manifest.json"
    phash = params_hash(cfg)
    old = json.loads(path.read_text()) if path.exists() else None
    diff = params_diff(old.get("params", {}), to_dict(cfg)) if old is not None else []
    if diff and not force:
        raise NeuronError(f"{run_dir}: holds outputs of different parameters (differing: "
                          f"{', '.join(diff[:8])}); use another run folder or --force")
    import torch

    manifest = {
        "params": to_dict(cfg), "params_hash": phash, "seed": cfg.seed, "git_commit": git_commit(),
        "packages": package_versions(),
        "device": "cuda" if (cfg.device != "cpu" and torch.cuda.is_available()) else "cpu",
        # CPU results are bit-identical for a given revision *and* thread count (reductions
        # split over threads sum in another order), so the count the run uses is recorded: the
        # run's num_threads (which stages.setup_torch applies, possibly after this is written),
        # else torch's current count
        "torch_threads": cfg.num_threads or torch.get_num_threads(),
        "numerics": numerics(cfg.num_threads, cfg.precision),
        "created": (old or {}).get("created", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **((old or {}).get("extra") and {"extra": old["extra"]} or {}),
    }
    if extra:
        manifest["extra"] = {**manifest.get("extra", {}), **extra}
    write_json(path, manifest)
    return manifest


#: The environment fields of a manifest kept in a study report (``reports/<study>/manifests.json``).
REPORT_FIELDS = ("params", "params_hash", "seed", "git_commit", "packages", "device",
                 "torch_threads", "numerics", "created", "updated")


def report_entry(manifest: dict) -> dict:
    """A run manifest as kept in a report: :data:`REPORT_FIELDS` and the data and side
    information summary hashes (``extra.data.processed_key``, ``extra.side_info``), no paths."""
    out = {k: manifest[k] for k in REPORT_FIELDS if k in manifest}
    extra = manifest.get("extra") or {}
    data = extra.get("data") or {}
    out["data"] = {k: data[k] for k in ("dataset", "processed_key", "samples", "train", "val", "test",
                                        "test_unseen", "skipped", "protocol") if k in data}
    if extra.get("side_info"):
        out["side_info"] = extra["side_info"]
    return out


def write_report_manifests(runs_root: str | Path, reports: str | Path, rel_dirs: list[str]) -> Path:
    """Write ``reports/manifests.json``: ``{"runs": {rel_dir: report_entry}}`` for every run of
    ``rel_dirs`` (``<point>/<split>_<i>/seed<s>``) whose ``manifest.json`` is under ``runs_root``;
    the committed entries of runs not found there are kept (a study continued elsewhere)."""
    path = Path(reports) / "manifests.json"
    old = json.loads(path.read_text()).get("runs", {}) if path.exists() else {}
    out = {}
    for rel in rel_dirs:
        man = Path(runs_root) / rel / "manifest.json"
        if man.exists():
            out[rel] = report_entry(json.loads(man.read_text()))
        elif rel in old:
            out[rel] = old[rel]
    write_json(path, {"runs": out})
    return path


def read_report_manifests(reports: str | Path) -> dict[str, dict]:
    """``rel_dir -> report entry`` of a report's ``manifests.json`` (``{}`` when absent)."""
    path = Path(reports) / "manifests.json"
    if not path.exists():
        return {}
    try:
        return dict(json.loads(path.read_text())["runs"])
    except (ValueError, KeyError, TypeError) as e:
        raise NeuronError(f"{path}: not a report manifest file ({e})") from e
