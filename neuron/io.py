"""Small, safe file utilities used by every stage: atomic writes and content hashes."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    A process killed mid-write leaves ``path`` untouched (never truncated). On an exception the
    temporary file is removed and the exception propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # make the rename durable
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON record as a line, flushed and fsynced (a crash loses at most this line).
    A path ending in ``.gz`` gets the line as one more gzip member (a valid gzip stream).

    Readers must use :func:`read_jsonl`, which ignores a torn final line.
    """
    import gzip

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, default=_json_default, ensure_ascii=False) + "\n"
    data = gzip.compress(line.encode("utf-8"), mtime=0) if path.suffix == ".gz" else line.encode("utf-8")
    with open(path, "ab") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _read_text_tolerant(path: Path) -> str:
    """Text of ``path``, gunzipped when it ends in ``.gz``; a truncated last gzip member (an
    interrupted append) yields what precedes it."""
    if path.suffix != ".gz":
        return path.read_text(encoding="utf-8")
    import gzip

    lines = []
    with gzip.open(path, "rb") as fh:
        try:
            for line in fh:  # line by line, so the members before a torn one are kept
                lines.append(line)
        except EOFError:
            pass
    return b"".join(lines).decode("utf-8", errors="replace")


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSONL file written by :func:`append_jsonl` (plain or ``.gz``); a torn last line (a
    crash) is ignored."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    lines = _read_text_tolerant(path).splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # torn final line from an interrupted append
            raise
    return out


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` atomically (checkpoints, feature caches)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def torch_load(path: str | os.PathLike, map_location: str = "cpu") -> Any:
    """``torch.load`` with ``weights_only=True`` (never unpickles arbitrary objects)."""
    import torch

    return torch.load(path, map_location=map_location, weights_only=True)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_files(paths: list[str | os.PathLike]) -> str:
    """One hex SHA-256 over the names, sizes and modification-independent contents of files."""
    h = hashlib.sha256()
    for p in sorted(str(p) for p in paths):
        h.update(Path(p).name.encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def sha256_obj(obj: Any) -> str:
    """Hex SHA-256 of the canonical JSON of ``obj`` (sorted keys)."""
    return hashlib.sha256(
        json.dumps(obj, sort_keys=True, default=_json_default).encode()
    ).hexdigest()


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
