"""The Jupyter kernels that execute the stage notebooks, without their routine noise.

papermill starts one ipykernel per notebook, whose standard error is the terminal's. Two of its
log lines say nothing to a user of ``python -m neuron run``: the warning that the kernel talks to
its parent over local TCP without encryption (``ipykernel.kernelapp``; the sockets listen on
127.0.0.1 only) and ``KeyboardInterrupt caught in kernel``, logged because ``jupyter_client``
interrupts every kernel before shutting it down, e.g. after a failed cell. :class:`QuietKernelManager`
reads the kernel's standard error through a pipe and forwards every other line unchanged, so real
errors (a crash, a failed import at start-up) still reach the terminal. Errors raised in a cell
reach the runner through the notebook itself (``papermill.PapermillExecutionError``).
"""
from __future__ import annotations

import subprocess
import sys
import threading
from typing import IO, Any

from jupyter_client.manager import AsyncKernelManager

__all__ = ["NOISE", "QuietKernelManager", "forward_filtered"]

NOISE = (
    "Kernel is running over TCP without encryption",
    "KeyboardInterrupt caught in kernel",
)


def forward_filtered(src: IO[bytes], dest: IO[str] | None = None) -> None:
    """Copy lines from ``src`` (a binary pipe) to ``dest`` (default: ``sys.stderr`` at the time
    of each line) until end of file, dropping the lines that contain one of :data:`NOISE`."""
    for raw in iter(src.readline, b""):
        line = raw.decode("utf-8", errors="replace")
        if any(n in line for n in NOISE):
            continue
        out = dest or sys.stderr
        try:
            out.write(line)
            out.flush()
        except (OSError, ValueError):  # the terminal went away; keep draining the pipe
            pass
    src.close()


class QuietKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` (nbclient's default) whose kernel's standard error passes
    through :func:`forward_filtered`. Pass it as papermill's ``kernel_manager_class``."""

    async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
        kw["stderr"] = subprocess.PIPE
        await super().start_kernel(**kw)
        proc = getattr(self.provisioner, "process", None)
        if proc is not None and proc.stderr is not None:
            threading.Thread(target=forward_filtered, args=(proc.stderr,), daemon=True,
                             name="kernel-stderr").start()
