"""A progress channel from the stage notebooks' kernels to the terminal of ``python -m neuron run``.

The stages run in Jupyter kernels (papermill), whose output reaches the terminal only at the end
of a cell. So the kernel reports progress inside a stage (epochs and batches of training,
feature extraction, texts embedded) by appending one JSON line per update to a file named by the
environment variable ``NEURON_PROGRESS`` (set by the runner for the kernels it starts), and the
runner tails that file into a ``tqdm`` bar under the study's bar (:class:`ProgressTail`). Without
the variable (JupyterLab, tests, scripts) :func:`report` does nothing.

A line: ``{"task": "encoder epoch 3/20", "n": 5, "total": 12, "unit": "batch"}``; updates of one
task are written at most every :data:`MIN_INTERVAL` seconds, its first and last always.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

__all__ = ["ENV", "MIN_INTERVAL", "ProgressTail", "report", "track"]

ENV = "NEURON_PROGRESS"
MIN_INTERVAL = 0.5  # seconds between two lines of the same task
_last: dict[str, float] = {}
T = TypeVar("T")


def report(task: str, n: int, total: int | None = None, unit: str = "it") -> None:
    """Tell the runner that ``task`` has done ``n`` of ``total`` ``unit`` (no-op unless
    ``$NEURON_PROGRESS`` names a file). Never raises: progress must not break a stage."""
    path = os.environ.get(ENV)
    if not path:
        return
    now = time.monotonic()
    first_or_last = task not in _last or (total is not None and n >= total)
    if not first_or_last and now - _last[task] < MIN_INTERVAL:
        return
    _last[task] = now
    line = json.dumps({"task": task, "n": int(n), "total": None if total is None else int(total),
                       "unit": unit})
    try:
        with open(path, "a", encoding="utf-8") as fh:  # one short write: lines never interleave
            fh.write(line + "\n")
    except OSError:
        pass


def track(iterable: Iterable[T], task: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Yield from ``iterable``, reporting ``task`` after each item (:func:`report`)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    report(task, 0, total, unit)
    for i, item in enumerate(iterable, 1):
        yield item
        report(task, i, total, unit)


class ProgressTail:
    """Follow a progress file in a background thread and show its latest task as a ``tqdm`` bar.

    Use as a context manager around a kernel's execution; the file is created empty on entry
    and removed on exit. ``bar``: keyword arguments for ``tqdm`` (e.g. ``position``, ``disable``,
    ``file``); ``poll``: seconds between reads.
    """

    def __init__(self, path: str | Path, poll: float = 0.2, **bar) -> None:
        self.path = Path(path)
        self.poll = poll
        self.bar_kwargs = {"leave": False, "dynamic_ncols": True, **bar}
        self.bar = None
        self.task: str | None = None
        self.seen: list[dict] = []  # every parsed line (tests read it)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="neuron-progress", daemon=True)
        self._pos = 0
        self._buf = ""

    def __enter__(self) -> "ProgressTail":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._read()  # lines written after the last poll
        if self.bar is not None:
            self.bar.close()
        try:
            self.path.unlink()
        except OSError:
            pass

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            self._read()

    def _read(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as fh:
                fh.seek(self._pos)
                chunk = fh.read()
                self._pos = fh.tell()
        except OSError:
            return
        self._buf += chunk
        *lines, self._buf = self._buf.split("\n")  # keep a partly written last line
        for line in lines:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            self.seen.append(msg)
            self._show(msg)

    def _show(self, msg: dict) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=msg.get("total"), desc=msg.get("task"), unit=msg.get("unit", "it"),
                            **self.bar_kwargs)
        if msg.get("task") != self.task:
            self.task = msg.get("task")
            self.bar.reset(total=msg.get("total"))
            self.bar.set_description_str(self.task)
            self.bar.unit = msg.get("unit", "it")
        self.bar.n = msg.get("n", 0)
        self.bar.refresh()
