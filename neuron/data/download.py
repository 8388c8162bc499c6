"""Fetching public dataset archives: verified, extracted safely, failing clearly offline."""
from __future__ import annotations

import contextlib
import urllib.request
import zipfile
from pathlib import Path

from neuron.errors import DataError
from neuron.io import atomic_path, sha256_file


def download(url: str, dest: Path, sha256: str = "", size: int = 0, timeout: float = 60) -> Path:
    """Download ``url`` to ``dest`` atomically and verify its size and SHA-256 when given.

    A failed download leaves nothing behind: neither a partial file nor the folders it created
    for ``dest`` (e.g. an empty ``<data root>/downloads/``).

    Raises:
        DataError: the host is unreachable (with the URL and where to put the file by hand), or
            the file's size or checksum does not match.
    """
    created = _missing_parents(dest)
    try:
        return _download(url, dest, sha256, size, timeout)
    except BaseException:
        for folder in created:  # innermost first; only the ones this call made, only if empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _missing_parents(path: Path) -> list[Path]:
    """The folders above ``path`` that do not exist yet, innermost first."""
    out = []
    for parent in Path(path).absolute().parents:
        if parent.exists():
            break
        out.append(parent)
    return out


def _download(url: str, dest: Path, sha256: str, size: int, timeout: float) -> Path:
    try:
        with atomic_path(dest) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
                while block := resp.read(1 << 20):
                    out.write(block)
            if size and tmp.stat().st_size != size:
                raise DataError(f"{url}: downloaded {tmp.stat().st_size} bytes, expected {size}")
            if sha256 and sha256_file(tmp) != sha256:
                raise DataError(f"{url}: SHA-256 mismatch; the download is corrupt or changed")
    except OSError as e:
        raise DataError(f"could not download {url} ({e}). Download it by hand and put it at "
                        f"{dest}, or extract it under the data root (see README, 'Data').") from e
    return dest


def safe_extract_zip(archive: Path, target: Path) -> list[Path]:
    """Extract a zip into ``target``, refusing members that would escape it (zip-slip).

    Raises:
        DataError: an unreadable archive or a member path outside ``target``.
    """
    target = target.resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for m in members:
                dest = (target / m.filename).resolve()
                if not dest.is_relative_to(target):
                    raise DataError(f"{archive}: member {m.filename!r} escapes {target}; refusing")
            zf.extractall(target)
            return [target / m.filename for m in members]
    except zipfile.BadZipFile as e:
        raise DataError(f"{archive}: not a valid zip archive ({e})") from e
