"""Memory allocator of the notebook kernels that run a study's stages.

glibc's malloc keeps the pages of freed activation tensors resident (the ~10 MB tensors of
Shift-GCN training fall below its dynamic mmap threshold after the first frees and then come
from a heap that fragments), so encoder pre-training on UTD-MHAD peaks at about 3.2-3.9 GiB of
RSS while its live tensors need about 1.6 GiB. gperftools' tcmalloc (Debian package
``libtcmalloc-minimal4``) keeps the peak near the live size at the same or lower CPU time
(``python benchmarks/run.py --memory``; README, "Memory"). The allocator does not change any
arithmetic: results are identical.

The kernels started by :func:`neuron.pipeline.execute_notebook` get the library through
``LD_PRELOAD`` (the parent process keeps its allocator). Choose with the environment variable
``NEURON_ALLOCATOR``:

* ``tcmalloc`` (default): preload tcmalloc when the library is installed; otherwise the system
  allocator, with one warning naming the package to install.
* ``system``: glibc malloc (optionally tuned with ``MALLOC_MMAP_THRESHOLD_``).
"""
from __future__ import annotations

import contextlib
import ctypes.util
import os
import warnings
from pathlib import Path
from typing import Iterator

__all__ = ["ALLOCATORS", "allocator_name", "current_allocator", "find_tcmalloc", "kernel_allocator",
           "kernel_preload", "preload_env"]

ALLOCATORS = ("tcmalloc", "system")
_CANDIDATES = ("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
               "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
               "/usr/lib64/libtcmalloc_minimal.so.4", "/usr/lib/libtcmalloc_minimal.so.4",
               "/usr/local/lib/libtcmalloc_minimal.so.4")
_warned = False


def find_tcmalloc() -> str | None:
    """Path of ``libtcmalloc_minimal.so.4`` (Debian/Ubuntu ``libtcmalloc-minimal4``,
    conda-forge ``gperftools``: ``$CONDA_PREFIX/lib``), or ``None`` when it is not installed."""
    conda = os.environ.get("CONDA_PREFIX")
    for c in ([f"{conda}/lib/libtcmalloc_minimal.so.4"] if conda else []) + list(_CANDIDATES):
        if Path(c).is_file():
            return c
    name = ctypes.util.find_library("tcmalloc_minimal")
    return name if name and Path(name).is_absolute() and Path(name).is_file() else None


def allocator_name() -> str:
    """The allocator chosen by ``NEURON_ALLOCATOR`` (default ``tcmalloc``).

    Raises:
        ValueError: ``NEURON_ALLOCATOR`` is not one of :data:`ALLOCATORS`.
    """
    name = os.environ.get("NEURON_ALLOCATOR", "tcmalloc").strip().lower() or "tcmalloc"
    if name not in ALLOCATORS:
        raise ValueError(f"NEURON_ALLOCATOR={name!r}: expected one of {', '.join(ALLOCATORS)}")
    return name


def kernel_preload() -> str | None:
    """The library to preload into kernels, or ``None`` (system allocator or tcmalloc absent;
    the latter warns once)."""
    global _warned
    if allocator_name() != "tcmalloc":
        return None
    lib = find_tcmalloc()
    if lib is None and not _warned:
        _warned = True
        warnings.warn("tcmalloc not found (apt-get install libtcmalloc-minimal4, or conda install "
                      "gperftools): notebook kernels use the system allocator, whose peak memory is "
                      "about twice as high in encoder training; set NEURON_ALLOCATOR=system to "
                      "silence this", RuntimeWarning, stacklevel=2)
    return lib


def preload_env(env: dict[str, str], lib: str | None) -> dict[str, str]:
    """A copy of the environment ``env`` whose ``LD_PRELOAD`` holds no tcmalloc, then ``lib`` first
    when given (``None``: the system allocator for the processes started with it)."""
    out = dict(env)
    pre = [p for p in out.get("LD_PRELOAD", "").split() if "tcmalloc" not in p]
    if lib:
        pre.insert(0, lib)
    if pre:
        out["LD_PRELOAD"] = " ".join(pre)
    else:
        out.pop("LD_PRELOAD", None)
    return out


@contextlib.contextmanager
def kernel_allocator() -> Iterator[str]:
    """Within the block, processes started by this one preload the chosen allocator
    (``LD_PRELOAD`` prepended; restored afterwards). Yields ``"tcmalloc"`` or ``"system"``."""
    lib = kernel_preload()
    if lib is None:
        yield "system"
        return
    old = os.environ.get("LD_PRELOAD")
    if lib in (old or "").split():
        yield "tcmalloc"
        return
    os.environ["LD_PRELOAD"] = f"{lib} {old}" if old else lib
    try:
        yield "tcmalloc"
    finally:
        if old is None:
            os.environ.pop("LD_PRELOAD", None)
        else:
            os.environ["LD_PRELOAD"] = old


def current_allocator() -> str:
    """``"tcmalloc"`` when this process has tcmalloc mapped (preloaded), else ``"system"``
    (recorded in run manifests)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "system"
    return "tcmalloc" if "libtcmalloc" in maps else "system"
