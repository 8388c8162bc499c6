"""Post-processing of the reports the pipeline writes, and the index of committed studies.

- :func:`scrub_text` / :func:`scrub_reports`: replace machine paths in rendered reports by
  portable placeholders (the project root by ``.``, the data root by ``[data root]``, an
  installed package's folder by ``[site-packages]``, the home folder by ``~``). The study runner
  applies it to every HTML page it renders and to every file of ``reports/<study>/``; nothing
  else in a report changes (numbers are never touched: only absolute path strings match).
- :func:`write_index`: ``reports/index.html``, one row per study with links to its reports,
  the headline numbers from its ``results.json`` and its date.

``python -m neuron index`` runs both on ``reports/``.
"""
from __future__ import annotations

import html
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

from neuron.config import PROJECT_ROOT
from neuron.io import atomic_path, write_text

#: Suffixes of report files the scrubber and the path check look at.
REPORT_SUFFIXES = (".html", ".json", ".csv", ".md")
#: An absolute machine path as it appears in a report (POSIX roots that hold user or system
#: files, a Windows drive, or any installed-package folder).
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/-])/(?:work|root|home|Users|tmp|usr|opt|var|mnt|srv|scratch)/"
                           r"|/[^\s\"'<>]*(?:site|dist)-packages|[A-Za-z]:\\{1,2}Users\\")
_PACKAGES = re.compile(r"(?<![\w.-])/[^\s\"'<>()]*?/(?:site|dist)-packages(?=/)")

#: Headline metrics of the index (results.json ``summary`` keys without ``_mean``/``_std``).
HEADLINE = (("honest/zsl_top1", "ZSL top-1"), ("honest/gzsl_h", "GZSL H"))


def scrub_text(text: str, root: str | os.PathLike | None = None,
               data_root: str | os.PathLike | None = None) -> str:
    """``text`` with machine paths replaced by placeholders.

    Replaced, longest first: the project root (``root``, default :data:`PROJECT_ROOT`) by ``.``,
    the data root (``data_root``, default ``$NEURON_DATA_ROOT``) by ``[data root]``, any
    ``.../site-packages`` or ``.../dist-packages`` folder by ``[site-packages]``, the Python
    prefix by ``[python]``, the home folder by ``~``.
    """
    root = str(root or PROJECT_ROOT)
    pairs = [(root, "."), (str(Path(root).resolve()), ".")]
    data_root = data_root if data_root is not None else os.environ.get("NEURON_DATA_ROOT")
    if data_root:
        pairs += [(str(data_root), "[data root]"), (str(Path(data_root).resolve()), "[data root]")]
    text = _PACKAGES.sub("[site-packages]", text)
    for old, new in sorted(set(pairs), key=lambda p: -len(p[0])):
        if len(old) > 1:
            text = re.sub(re.escape(old.rstrip("/")) + r"(?=[/\s\"'<>:)]|$)", new, text)
    for old, new in ((sys.prefix, "[python]"), (str(Path.home()), "~")):
        if len(old) > 1:
            text = re.sub(re.escape(old.rstrip("/")) + r"(?=/)", new, text)
    return text


def find_absolute_paths(text: str) -> list[str]:
    """The absolute machine paths left in ``text`` (at most 5 excerpts), for the report check."""
    return [text[max(0, m.start() - 20):m.end() + 40].replace("\n", " ")
            for m in list(ABSOLUTE_PATH.finditer(text))[:5]]


def scrub_reports(folder: str | os.PathLike, root: str | os.PathLike | None = None) -> list[Path]:
    """Apply :func:`scrub_text` to every report file under ``folder``; returns the files changed."""
    changed = []
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix not in REPORT_SUFFIXES or not path.is_file():
            continue
        with open(path, encoding="utf-8", newline="") as f:  # keep \r (progress bars) as is
            text = f.read()
        new = scrub_text(text, root)
        if new != text:
            with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
                f.write(new)
            changed.append(path)
    return changed


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _study_date(folder: Path) -> str:
    """``written`` of study.json, else the date of the last commit of results.json, else ``?``."""
    try:
        written = json.loads((folder / "study.json").read_text()).get("written")
    except (OSError, ValueError):
        written = None
    if written:
        return str(written)[:10]
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%cs", "--", "results.json"], cwd=folder,
                             capture_output=True, text=True, timeout=20)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "?"


def headline(results: dict, max_groups: int = 3) -> dict[str, dict[str, str]]:
    """Method -> metric label -> text, honest protocol. Each summary group (point, and split family
    when present) reads ``mean ± std (n=...)``, prefixed by the group's name when there are
    several; with more than ``max_groups`` groups, the range of the group means
    (``min – max over K points``). Missing values read ``–``."""
    out: dict[str, dict[str, str]] = {}
    rows = results.get("summary") or []
    for method in sorted({r.get("method") for r in rows if r.get("method")}, reverse=True):
        mine = [r for r in rows if r.get("method") == method]
        cells = {}
        for key, label in HEADLINE:
            means = [m for m in (_num(r.get(f"{key}_mean")) for r in mine) if m is not None]
            if not means:
                cells[label] = "–"
            elif len(mine) <= max_groups:
                parts = []
                for r in mine:
                    mean, std, n = _num(r.get(f"{key}_mean")), _num(r.get(f"{key}_std")), r.get("n")
                    name = "/".join(str(r[k]) for k in ("point", "family") if r.get(k) not in (None, "default"))
                    text = "–" if mean is None else f"{mean:.1f}" + (f" ± {std:.1f}" if std is not None else "")
                    parts.append((f"{name}: " if len(mine) > 1 and name else "") + text +
                                 (f" (n={n})" if n else ""))
                cells[label] = ", ".join(parts)
            else:
                cells[label] = f"{min(means):.1f} – {max(means):.1f} over {len(means)} points"
        out[method] = cells
    return out


def write_index(reports_root: str | os.PathLike | None = None) -> Path:
    """Write ``<reports_root>/index.html`` (default ``reports/``): every study folder holding a
    ``results.json``, with links to ``summary.html`` and its stage reports, the headline numbers
    (:func:`headline`, honest protocol) and the date. Returns the index path.

    Raises:
        ValueError: a ``results.json`` that is not valid JSON (naming the file).
    """
    root = Path(reports_root or PROJECT_ROOT / "reports")
    rows = []
    for res in sorted(root.glob("*/results.json")):
        folder = res.parent
        try:
            results = json.loads(res.read_text())
        except ValueError as e:
            raise ValueError(f"{res}: not valid JSON ({e})") from e
        try:
            study = json.loads((folder / "study.json").read_text())
        except (OSError, ValueError):
            study = {}
        pages = [p.name for p in sorted(folder.glob("*.html"))]
        pages = (["summary.html"] if "summary.html" in pages else []) + \
            [p for p in pages if p != "summary.html"]
        links = " ".join(f'<a href="{html.escape(folder.name)}/{html.escape(p)}">{html.escape(p[:-5])}</a>'
                         for p in pages)
        head = headline(results)
        numbers = "<br>".join(f"<b>{html.escape(m)}</b> " + "; ".join(
            f"{html.escape(k)}: {html.escape(v)}" for k, v in cells.items()) if len(cells) else ""
            for m, cells in head.items())
        desc = (study.get("config") or {}).get("description") or ""
        runs = study.get("finished_runs")
        nruns = f"{len(runs)} of {study.get('runs')}" if isinstance(runs, list) else "?"
        rows.append(f"<tr><td><b>{html.escape(folder.name)}</b>"
                    + (f"<br><small>{html.escape(desc)}</small>" if desc else "")
                    + f"</td><td>{_study_date(folder)}</td><td>{nruns}</td><td>{numbers}</td>"
                      f"<td>{links}</td></tr>")
    body = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>neuron: committed studies</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.4em .6em;vertical-align:top;text-align:left}"
            "</style></head><body>\n<h1>Committed studies</h1>\n"
            "<p>Headline numbers: honest protocol, accuracy in %, mean ± standard deviation over "
            "the runs (n) of each point (or split family), or the range of the point means when a "
            "study has more than three points. Read from "
            "each study's <code>results.json</code>; written by <code>python -m neuron index</code>.</p>\n"
            "<table>\n<tr><th>study</th><th>date</th><th>finished runs</th><th>headline</th>"
            "<th>reports</th></tr>\n" + "\n".join(rows) + "\n</table>\n</body></html>\n")
    out = root / "index.html"
    write_text(out, body)
    return out
