"""Run manifests: what produced a set of outputs (parameters, seed, commit, packages, data hashes).

A manifest never holds environment variables or secrets: only the resolved parameters, the seed,
the git commit, package versions, the device and the hashes of the data and side information.
"""
from __future__ import annotations

import json
import platform
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
        "created": (old or {}).get("created", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **((old or {}).get("extra") and {"extra": old["extra"]} or {}),
    }
    if extra:
        manifest["extra"] = {**manifest.get("extra", {}), **extra}
    write_json(path, manifest)
    return manifest
