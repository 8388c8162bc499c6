"""Post-processing of the reports the pipeline writes, and the index of committed studies.

- :func:`scrub_text` / :func:`scrub_reports`: replace machine paths in rendered reports by
  portable placeholders (the project root by ``.``, the data root by ``[data root]``, an
  installed package's folder by ``[site-packages]``, the home folder by ``~``). The study runner
  applies it to every HTML page it renders and to every file of ``reports/<study>/``; nothing
  else in a report changes (numbers are never touched: only absolute path strings match).
- :func:`write_index` / :func:`write_reports_readme`: ``reports/index.html`` and
  ``reports/README.md``, one line per study (the main job first): its question, its main
  comparison (Neuron against the baseline with the paired 95 % interval, from ``results.json``),
  finished of planned runs (``study.json`` and the study file) and links.
- :func:`refresh_study_readme` / :func:`refresh_readme`: the tables of ``reports/<study>/README.md``
  and of the project README, between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``
  markers (:func:`replace_blocks`); the prose around them is kept. No number is typed by hand.

``python -m neuron index`` runs all of them (:func:`write_all`) after scrubbing ``reports/``.

Over 600 lines as one cohesive thing: every file generated from the committed reports
(index, study READMEs, README tables) is written here from the same readers of ``results.json``.
"""
from __future__ import annotations

import html
import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from neuron import summary as sm
from neuron.config import (PARAMS_DIR, PROJECT_ROOT, StudyConfig, deep_update, load_run_config,
                           load_split_spec, load_study_config, read_yaml, to_dict)
from neuron.config import data_root as config_data_root
from neuron.errors import NeuronError
from neuron.io import atomic_path, write_text
from neuron.study import PAPER_REPORTED

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
    the data root (``data_root``, default :func:`neuron.config.data_root`, the one rule the
    package, notebooks and scripts share) by ``[data root]``, any
    ``.../site-packages`` or ``.../dist-packages`` folder by ``[site-packages]``, the Python
    prefix by ``[python]``, the home folder by ``~``.
    """
    root = str(root or PROJECT_ROOT)
    pairs = [(root, "."), (str(Path(root).resolve()), ".")]
    data_root = data_root if data_root is not None else config_data_root()
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


#: The one stylesheet of every rendered report (about 1.5 KB, inlined so a page reads offline and
#: on its own; nbconvert's ``lab`` template inlines about 250 KB of JupyterLab CSS per page).
REPORT_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;line-height:1.45;margin:0 auto;
max-width:72em;padding:1.5em 2em;color:#1b1b1b;background:#fff}
h1,h2,h3{line-height:1.2;margin:1.2em 0 .5em}h1{font-size:1.7em}h2{font-size:1.35em}h3{font-size:1.1em}
a.anchor-link{display:none}
pre,code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.88em}
pre{background:#f6f8fa;padding:.6em .8em;overflow-x:auto;border-radius:4px;white-space:pre-wrap}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #d0d7de;padding:.3em .6em;text-align:right;vertical-align:top;white-space:nowrap}
th{background:#f6f8fa;text-align:center}td:first-child,th:first-child{text-align:left}
tbody tr:nth-child(odd){background:#fbfbfb}
img,svg{max-width:100%;height:auto}
.output_area{margin:.4em 0;overflow-x:auto}.output_stderr pre{background:#fff5f5}
details{margin:.8em 0}summary{cursor:pointer;font-weight:600}
.note{color:#555;font-size:.92em}
"""


def report_page(body: str, title: str | None = None) -> str:
    """A rendered notebook body (nbconvert's ``basic`` template) as a standalone HTML page with
    :data:`REPORT_CSS`; the title is ``title`` or the text of the body's first ``<h1>``."""
    if title is None:
        m = re.search(r"<h1[^>]*>(.*?)</h1>", body, re.S)
        title = html.unescape(re.sub(r"<[^>]+>|¶", "", m.group(1))).strip() if m else "neuron report"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{REPORT_CSS.strip()}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


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
    """Method -> metric label -> text, validation-calibrated protocol. Each summary group (point,
    and split family when present) reads ``mean ± std (n=...)``, prefixed by the group's name when
    there are several; with more than ``max_groups`` groups, the range of the group means
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


# --------------------------------------------------------------------------- study facts
#: The study run by ``bash scripts/main.sh``: listed first everywhere.
MAIN_STUDY = "utd_mhad_quick"
#: The metrics a headline quotes: (label, results.json key).
HEAD_METRICS = (("ZSL", "zsl_top1"), ("H", "gzsl_h"))


def family_label(family: str | None) -> str:
    """``"utd_mhad_22_5"`` -> ``"22/5"`` (seen/unseen class counts of a split family); other
    names unchanged, ``None`` -> ``"all"``."""
    if not family:
        return "all"
    m = re.search(r"_(\d+)_(\d+)$", str(family))
    return f"{m.group(1)}/{m.group(2)}" if m else str(family)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except OSError:
        return {}
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e


def _study_config(folder: Path) -> StudyConfig | None:
    """The study's parameter file ``params/studies/<name>.yaml`` (validated), or None."""
    path = PARAMS_DIR / "studies" / f"{folder.name}.yaml"
    try:
        return load_study_config(path) if path.exists() else None
    except NeuronError:
        return None


def run_counts(folder: str | os.PathLike) -> tuple[int, int]:
    """``(finished, planned)`` runs of a committed study.

    ``finished`` counts ``finished_runs`` of ``study.json``; ``planned`` counts the runs of the
    study's parameter file (points x splits x seeds, a family expanding into its splits) plus
    every finished run outside that plan (a seed or split run with ``--seeds``/``--splits``
    beyond the file's own). Without a parameter file, ``planned`` is the larger of
    ``study.json``'s ``runs`` and ``finished``.
    """
    folder = Path(folder)
    study = _read_json(folder / "study.json")
    finished = [str(r) for r in study.get("finished_runs") or []]
    cfg = _study_config(folder)
    if cfg is None:
        return len(finished), max(len(finished), int(study.get("runs") or 0))
    splits: set[str] = set()
    for s in cfg.splits or []:
        name, _, idx = s.partition("#")
        if idx:
            splits.add(f"{name}_{idx}")
        else:
            splits.update(f"{name}_{i}" for i in range(len(load_split_spec(name).unseen)))
    n_points = (math.prod(len(v) for v in cfg.grid.values()) if cfg.grid
                else len(cfg.variants) if cfg.variants else 1)
    planned = n_points * max(len(splits), 1) * len(cfg.seeds)
    extra = 0
    for run in finished:
        parts = run.split("/")
        seed = parts[-1].removeprefix("seed")
        if (splits and parts[-2] not in splits) or not seed.isdigit() or int(seed) not in cfg.seeds:
            extra += 1
    return len(finished), planned + extra


def reference_point(folder: str | os.PathLike, points: Sequence[str]) -> str:
    """The point of a study that runs its run file unchanged (the recipe: a sweep's paper value,
    the ``neuron`` variant of the ablations), else ``default``, else the first of ``points`` in
    the study file's order."""
    points = list(points)
    if "default" in points or len(points) == 1:
        return "default" if "default" in points else points[0]
    cfg = _study_config(Path(folder))
    if cfg is None:
        return "neuron" if "neuron" in points else sorted(points)[0]
    base = deep_update(read_yaml(PROJECT_ROOT / cfg.run), cfg.overrides)
    if cfg.grid:
        keys = list(cfg.grid)
        order = [(",".join(f"{k.split('.')[-1]}={v}" for k, v in zip(keys, vals)), dict(zip(keys, vals)))
                 for vals in itertools.product(*(cfg.grid[k] for k in keys))]
    else:
        order = list(cfg.variants.items())
    try:
        want = to_dict(load_run_config(base))
        for name, assign in order:
            if name in points and to_dict(load_run_config(deep_update(base, assign))) == want:
                return name
    except NeuronError:
        pass
    ordered = [n for n, _ in order if n in points]
    return ordered[0] if ordered else sorted(points)[0]


def diff_text(rec: Mapping[str, Any], metric: str) -> str:
    """``"+3.5 [+0.1, +6.5] better"`` from a results.json table record (or a comparison), or
    ``"n/a"`` when it has no interval."""
    d, ci = _num(rec.get(f"{metric}_diff", rec.get("diff"))), rec.get(f"{metric}_diff_ci", rec.get("diff_ci"))
    if d is None or not ci or None in ci:
        return "n/a"
    verdict = rec.get(f"{metric}_verdict") or rec.get("verdict") or ""
    return f"{d:+.1f} [{ci[0]:+.1f}, {ci[1]:+.1f}] {verdict}".strip()


def mean_text(rec: Mapping[str, Any], metric: str) -> str:
    """``"48.1 ± 7.6"`` (or ``"48.1"`` for one run, ``"–"`` when missing)."""
    mean, std = _num(rec.get(f"{metric}_mean")), _num(rec.get(f"{metric}_std"))
    if mean is None:
        return "–"
    return f"{mean:.1f}" + (f" ± {std:.1f}" if std is not None else "")


def main_comparison(folder: str | os.PathLike, results: Mapping[str, Any]) -> dict:
    """A study's main comparison: Neuron (the ``neuron`` method, the paper's scoring) against its
    reference (the baseline of the same runs) at the study's :func:`reference_point`, per split
    family, validation-calibrated protocol.

    Returns ``{"point", "records": [table records, one per family], "text"}``; ``text`` reads
    e.g. ``"Neuron vs baseline: ZSL +3.5 [+0.1, +6.5] better, H +5.1 [+0.9, +9.5] better"``
    (families prefixed ``48/10:`` when there are several); ``"n/a"`` without a comparison.
    """
    table = [r for r in results.get("table") or [] if r.get("protocol") == "honest"]
    points = sorted({r["point"] for r in table})
    if not points:
        return {"point": None, "records": [], "text": "n/a"}
    point = reference_point(folder, points)
    recs = [r for r in table if r["point"] == point and r["method"] == "neuron" and r.get("reference")]
    cfg = _study_config(Path(folder))
    order = [s.partition("#")[0] for s in (cfg.splits if cfg else [])]
    recs.sort(key=lambda r: order.index(r.get("family")) if r.get("family") in order else len(order))
    if not recs:
        return {"point": point, "records": [], "text": "n/a"}
    several = len(recs) > 1
    parts = []
    for r in recs:
        ref = str(r["reference"]).split("/")[-1]
        what = ", ".join(f"{label} {diff_text(r, key)}" for label, key in HEAD_METRICS)
        parts.append((f"{family_label(r.get('family'))}: " if several else "") + what)
    ref_name = "baseline" if all(str(r["reference"]).endswith("/baseline") for r in recs) else ref
    return {"point": point, "records": recs,
            "text": f"Neuron vs {ref_name}: " + "; ".join(parts)}


def _studies(root: Path) -> list[Path]:
    """Study folders under ``root`` holding a ``results.json``, the main job first."""
    folders = sorted(p.parent for p in root.glob("*/results.json"))
    return sorted(folders, key=lambda f: (f.name != MAIN_STUDY, f.name))


def _question(folder: Path, study: Mapping[str, Any]) -> str:
    """The question a study asks: the ``**Question.**`` paragraph of its README, else the
    study's description."""
    readme = folder / "README.md"
    if readme.exists():
        m = re.search(r"\*\*Question\.\*\*\s*(.+?)(?:\n\s*\n|$)", readme.read_text(), re.S)
        if m:
            return " ".join(m.group(1).split())
    return (study.get("config") or {}).get("description") or ""


def study_facts(folder: str | os.PathLike) -> dict:
    """Everything the indexes show about one committed study: name, question, date, finished and
    planned runs, point of the main comparison and its text, the HTML pages."""
    folder = Path(folder)
    results = _read_json(folder / "results.json")
    study = _read_json(folder / "study.json")
    finished, planned = run_counts(folder)
    main = main_comparison(folder, results)
    pages = [p.name for p in sorted(folder.glob("*.html"))]
    pages = (["summary.html"] if "summary.html" in pages else []) + [p for p in pages if p != "summary.html"]
    return {"name": folder.name, "question": _question(folder, study), "date": _study_date(folder),
            "finished": finished, "planned": planned, "point": main["point"], "main": main["text"],
            "pages": pages, "readme": (folder / "README.md").exists()}


# --------------------------------------------------------------------------- index.html, README.md
def write_index(reports_root: str | os.PathLike | None = None) -> Path:
    """Write ``<reports_root>/index.html`` (default ``reports/``): one row per study folder holding
    a ``results.json``, the main job (:data:`MAIN_STUDY`) first: the study's name and question,
    its main comparison (:func:`main_comparison`), finished of planned runs (:func:`run_counts`),
    date and links to its reports. Returns the index path.

    Raises:
        ValueError: a ``results.json`` that is not valid JSON (naming the file).
    """
    root = Path(reports_root or PROJECT_ROOT / "reports")
    rows = []
    for folder in _studies(root):
        f = study_facts(folder)
        name = html.escape(f["name"])
        links = " ".join(f'<a href="{name}/{html.escape(p)}">{html.escape(p[:-5])}</a>' for p in f["pages"])
        if f["readme"]:
            links += f' <a href="{name}/README.md">README</a>'
        point = f" <small>(at {html.escape(f['point'])})</small>" if f["point"] not in (None, "default") else ""
        main = " (main job)" if f["name"] == MAIN_STUDY else ""
        rows.append(f"<tr><td><b>{name}</b>{main}<br><small>{html.escape(f['question'])}</small></td>"
                    f"<td>{html.escape(f['main'])}{point}</td><td>{f['finished']} of {f['planned']}</td>"
                    f"<td>{f['date']}</td><td>{links}</td></tr>")
    body = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>neuron: committed studies</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.4em .6em;vertical-align:top;text-align:left}"
            "small{color:#555}</style></head><body>\n<h1>Committed studies</h1>\n"
            "<p>One line per study: the question it asks and its main comparison, Neuron (the "
            "paper's configuration and scoring) against the global-alignment baseline trained "
            "beside it, validation-calibrated protocol: the difference in ZSL top-1 and GZSL H "
            "(percentage points) with its paired 95&nbsp;% interval (t over splits, or a bootstrap of test samples for one split); an interval that "
            "covers 0 reads \"no difference\". Runs: finished of planned (the study file's runs "
            "plus any run beyond them). Written by <code>python -m neuron index</code> from each "
            "study's <code>results.json</code> and <code>study.json</code>.</p>\n"
            "<table>\n<tr><th>study</th><th>main comparison</th><th>runs</th><th>date</th>"
            "<th>reports</th></tr>\n" + "\n".join(rows) + "\n</table>\n</body></html>\n")
    out = root / "index.html"
    write_text(out, body)
    return out


def write_reports_readme(reports_root: str | os.PathLike | None = None) -> Path:
    """Write ``<reports_root>/README.md``, the Markdown index of the committed studies (the same
    facts as :func:`write_index`, linking each study's README). Returns its path."""
    root = Path(reports_root or PROJECT_ROOT / "reports")
    lines = ["# Committed reports", "",
             "Written by `python -m neuron index` from each study's `study.json` and `results.json`; "
             "do not edit by hand. Each study's own `README.md` says what it asks, the commands that "
             "made it and what it found; `summary.html` is its rendered summary, `results.json` its "
             "numbers. Main comparison: Neuron (paper configuration) against the baseline trained "
             "beside it, validation-calibrated protocol, difference in percentage points with its "
             "paired 95 % interval (t over splits; bootstrap of test samples for one split). Runs: finished of planned.", "",
             "| study | question | main comparison | runs | date |", "|---|---|---|---|---|"]
    for folder in _studies(root):
        f = study_facts(folder)
        link = f"[`{f['name']}`]({f['name']}/README.md)" if f["readme"] else f"`{f['name']}`"
        at = f" (at `{f['point']}`)" if f["point"] not in (None, "default") else ""
        lines.append(f"| {link} | {f['question']} | {f['main']}{at} | {f['finished']} of {f['planned']} "
                     f"| {f['date']} |".replace("\n", " "))
    lines += ["", "## Does each study reproduce on today's code?", "",
              "One committed run of each study rerun from its recorded parameters by `python -m neuron "
              "verify reports/<study> --runs <run> --json reports/<study>/verify.json` (one fresh cache "
              "shared by the runs of one verification series, `--cache`), its per-sample predictions "
              "compared with the committed ones; \"verdicts that hold\": each method against the "
              "baseline at that run, better / worse / no difference, on the committed and on the rerun "
              "outcomes. Details in each study's README.", "", verified_md(root, prefix="")]
    out = root / "README.md"
    write_text(out, "\n".join(lines) + "\n")
    return out


# --------------------------------------------------------------------------- generated Markdown blocks
BLOCK = re.compile(r"(<!-- results:(?P<name>[\w-]+)(?P<args>[^>]*?)-->)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)


def replace_blocks(text: str, render: Callable[[str, list[str]], str]) -> str:
    """``text`` with the body of every ``<!-- results:NAME ARGS -->...<!-- /results:NAME -->``
    block replaced by ``render(NAME, ARGS.split())``; everything outside the markers is kept.

    Raises:
        ValueError: an opening marker without its closing one.
    """
    opened = re.findall(r"<!-- results:([\w-]+)", text)
    closed = re.findall(r"<!-- /results:([\w-]+) -->", text)
    if sorted(opened) != sorted(closed):
        raise ValueError(f"unbalanced results markers: opened {opened}, closed {closed}")

    def sub(m: re.Match) -> str:
        body = render(m.group("name"), m.group("args").split()).strip("\n")
        return f"{m.group(1)}\n{body}\n{m.group(5)}"

    return BLOCK.sub(sub, text)


def _md_table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _record(results: Mapping[str, Any], point: str, method: str, family: str | None,
            protocol: str = "honest") -> dict | None:
    for r in results.get("table") or []:
        if (r["point"], r["method"], r["protocol"]) == (point, method, protocol) and \
                (family is None or r.get("family") in (None, family)):
            return r
    return None


def _compare(root: Path, studies: Sequence[str], a: tuple[str, str], b: tuple[str, str],
             family: str | None) -> dict | None:
    """Paired bootstrap of ``a`` against ``b`` over the committed outcomes of ``studies`` (runs
    both have), as a record with ``<metric>_diff``, ``_diff_ci``, ``_verdict`` and ``n_runs``."""
    outcomes = []
    for s in studies:
        outcomes += _read_json(root / s / "outcomes.json").get("runs") or []
    bootstrap = _read_json(root / studies[0] / "results.json").get("bootstrap") or {}
    res = sm.compare(outcomes, a, b, "honest", family, int(bootstrap.get("n_boot", 2000)),
                     int(bootstrap.get("seed", 0)), common=True)
    if res is None:
        return None
    rec: dict[str, Any] = {"n_runs": res["n_runs"][0]}
    for key, m in res["metrics"].items():
        rec[f"{key}_diff"], rec[f"{key}_diff_ci"] = m["diff"], m["diff_ci"]
        rec[f"{key}_verdict"] = sm.relative_verdict(m["verdict"], f"{a[0]}/{a[1]}")
    return rec


def study_table_md(results: Mapping[str, Any], point: str) -> str:
    """A study's table for its README: validation-calibrated protocol, one row per point (x
    family) x method, every method at the reference ``point`` and elsewhere Neuron (and the
    baseline where it differs from the reference point's), with the official-code ZSL beside;
    in a study with peer heads, also each row's difference to Neuron and to the baseline."""
    recs = [r for r in results.get("table") or [] if r["protocol"] == "honest"]
    families = sorted({r.get("family") for r in recs if r.get("family")})
    # a study with peer heads: every row's difference to Neuron and to the baseline too
    also = [key for key in sm.ALSO if any(key in r for r in recs)]
    order = {m: i for i, m in enumerate(sm.METHOD_NAMES)}
    ref_base = {r.get("family"): r.get("zsl_top1_mean") for r in recs
                if r["point"] == point and r["method"] == "baseline"}
    rows = []
    for r in sorted(recs, key=lambda r: (r["point"] != point, r["point"], r.get("family") or "",
                                        order.get(r["method"], 9))):
        if r["point"] != point and r["method"] not in ("neuron", *sm.PEERS) and not (
                r["method"] == "baseline" and (r.get("reference") or
                                               r.get("zsl_top1_mean") != ref_base.get(r.get("family")))):
            continue
        paper = _record(results, r["point"], r["method"], r.get("family"), "paper")
        ref = r.get("reference") or "–"
        rows.append([f"`{r['point']}`"] + ([family_label(r.get("family"))] if families else []) + [
            sm.METHOD_NAMES.get(r["method"], r["method"]), str(r["n_runs"]),
            mean_text(r, "zsl_top1"),
            f"{mean_text(r, 'gzsl_seen').split(' ±')[0]} / {mean_text(r, 'gzsl_unseen').split(' ±')[0]} / "
            f"{mean_text(r, 'gzsl_h')}",
            mean_text(paper, "zsl_top1") if paper else "–",
            diff_text(r, "zsl_top1") if r.get("reference") else "–",
            diff_text(r, "gzsl_h") if r.get("reference") else "–", f"`{ref}`" if r.get("reference") else "–"]
            + [_also_text(r.get(key), k) for key in also for k in ("zsl_top1", "gzsl_h")])
    head = (["point"] + (["splits"] if families else []) +
            ["method", "runs", "ZSL top-1", "GZSL seen / unseen / H", "official-code ZSL top-1",
             "Δ ZSL [95 % CI]", "Δ H [95 % CI]", "vs"] +
            [f"Δ {m} vs {sm.ALSO[key]} [95 % CI]" for key in also for m in ("ZSL", "H")])
    return _md_table(head, rows)


def _also_text(pair: Mapping[str, Any] | None, metric: str) -> str:
    """A ``vs_neuron`` / ``vs_baseline`` comparison of a table record (:func:`neuron.summary.also_compared`)
    as ``"+3.5 [+0.1, +6.5] better"``; ``"–"`` without one."""
    if not pair:
        return "–"
    m = pair["metrics"][metric]
    return diff_text({"diff": m["diff"], "diff_ci": m["diff_ci"], "verdict": m["verdict"]}, metric)


def compare_md(root: Path, study: str, args: Sequence[str]) -> str:
    """The ``compare`` block: ``A:B`` pairs of ``point/method`` (validation-calibrated), per split
    family and, with several families, over all of them; ``with=STUDY`` pools another study's
    committed outcomes; ``name:POINT/METHOD=LABEL`` names a pair's side."""
    studies, pairs, names = [study], [], {}
    for arg in args:
        if arg.startswith("with="):
            studies.append(arg[5:])
        elif arg.startswith("name:"):
            key, _, label = arg[5:].partition("=")
            names[key] = label.replace("_", " ")
        else:
            a, _, b = arg.partition(":")
            pairs.append((tuple(a.split("/", 1)), tuple(b.split("/", 1))))
    families = sorted({str(r["split"]).split("#")[0] for s in studies
                       for r in _read_json(root / s / "results.json").get("runs") or []})
    fams = families + ([None] if len(families) > 1 else [])
    rows = []
    for a, b in pairs:
        label = f"{names.get('/'.join(a), '/'.join(a))} − {names.get('/'.join(b), '/'.join(b))}"
        for fam in fams:
            rec = _compare(root, studies, a, b, fam)
            if rec is None:
                continue
            rows.append([label] + ([family_label(fam)] if len(families) > 1 else []) +
                        [str(rec["n_runs"]), diff_text(rec, "zsl_top1"), diff_text(rec, "gzsl_h")])
    head = ["A − B"] + (["splits"] if len(families) > 1 else []) + ["runs", "Δ ZSL top-1 [95 % CI]",
                                                                  "Δ GZSL H [95 % CI]"]
    return _md_table(head, rows)


def render_study_block(folder: Path) -> Callable[[str, list[str]], str]:
    """The renderer of a study README's blocks: ``table`` (:func:`study_table_md`), ``compare``
    (:func:`compare_md`), ``main`` (the main comparison) and ``runs`` (finished of planned)."""
    results = _read_json(folder / "results.json")

    def render(name: str, args: list[str]) -> str:
        if name == "table":
            points = sorted({r["point"] for r in results.get("table") or []})
            return study_table_md(results, args[0] if args else reference_point(folder, points))
        if name == "compare":
            return compare_md(folder.parent, folder.name, args)
        if name == "main":
            main = main_comparison(folder, results)
            at = f" at `{main['point']}`" if main["point"] not in (None, "default") else ""
            return main["text"] + at
        if name == "runs":
            finished, planned = run_counts(folder)
            return f"{finished} of {planned} runs finished"
        if name == "verify":
            return verify_md(folder)
        raise ValueError(f"{folder / 'README.md'}: unknown results block {name!r}")

    return render


def portable_command(command: str, study: str | None = None) -> str:
    """``command`` without this machine's folders: the values of ``--workdir`` and ``--cache``
    become ``<work folder>`` and ``<shared cache>``; with ``study``, the ``--json`` file becomes
    ``reports/<study>/verify.json`` (where the study's README reads it). Idempotent: a value
    already replaced is kept."""
    out = re.sub(r"(--workdir)\s+(?!<work folder>)\S+", r"\1 <work folder>", command)
    out = re.sub(r"(--cache)\s+(?!<shared cache>)\S+", r"\1 <shared cache>", out)
    if study:
        out = re.sub(r"(--json)\s+\S+", rf"\1 reports/{study}/verify.json", out)
    return out


def _beyond_interval(differences: list[dict]) -> list[dict]:
    """The rerun - committed differences of a ``verify.json`` whose paired 95 % interval excludes 0."""
    return [d for d in differences if d.get("ci") and not (d["ci"][0] <= 0.0 <= d["ci"][1])]


def verify_md(folder: str | os.PathLike) -> str:
    """Markdown of ``<folder>/verify.json`` (written by ``python -m neuron verify ... --json``):
    the command, commit, date and machine; reproduced or not (per run when several were
    verified); the causes the manifests show; the
    largest rerun - committed differences with their paired intervals; and each method's
    difference to the baseline at the verified runs, committed and rerun, with its verdict
    (whether the study's conclusion holds there). "not verified yet" without the file."""
    folder = Path(folder)
    v = _read_json(folder / "verify.json")
    if not v:
        return "\nNot verified on today's code yet (`python -m neuron verify reports/" \
               f"{folder.name} --runs <run> --json reports/{folder.name}/verify.json`).\n"
    minutes = float(v.get("seconds") or 0.0) / 60.0
    per_run = v.get("runs") or {}
    runs = ", ".join(f"`{r}`" for r in per_run)
    lines = ["", f"`{portable_command(v.get('command', ''), folder.name)}` (commit {str(v.get('commit', '?'))[:7]}, "
                 f"{v.get('date', '?')}, {v.get('machine', '?')}; {minutes:.0f} min). Run: {runs}.", ""]
    if len(per_run) > 1:
        lines += ["Per run: " + "; ".join(f"`{r}` {status}" for r, status in per_run.items()) + ".", ""]
    if v.get("reproduced"):
        lines.append("**Reproduced**: identical per-sample predictions of every method under both protocols.")
    else:
        diffs = v.get("differences") or []
        excl = _beyond_interval(diffs)
        causes = sorted({f"{f} ({a} → {b})" if f != "git_commit" else
                         f"commit ({str(a)[:7]} → {str(b)[:7]})"
                         for c in (v.get("causes") or {}).values() for f, a, b in c})
        lines.append(f"**Differs** from the committed run{'s' if len(per_run) > 1 else ''}: "
                     f"{len(diffs)} metric values of rerun and "
                     f"committed differ; {len(excl)} of them with a paired 95 % interval that "
                     "excludes 0. Causes the manifests show: "
                     + ("; ".join(causes) if causes else "none recorded")
                     + ("" if v.get("env_recorded", True) else
                        " (the committed run's environment was not recorded)") + ".")
        if excl:
            lines += ["", "Differences beyond the interval (rerun − committed, points):"]
            lines += [f"- {d['point']} {sm.METHOD_NAMES.get(d['method'], d['method'])} "
                      f"{d['protocol']}/{d['metric']}: {d['committed']:.1f} → {d['rerun']:.1f} "
                      f"({diff_text({'diff': d['diff'], 'diff_ci': d['ci']}, d['metric'])})" for d in excl]
    notes = v.get("notes") or []
    if notes:
        lines += ["", "Notes of the verification: " + "; ".join(str(n) for n in notes) + "."]
    con = v.get("contrasts") or []
    if con:
        changed = v.get("verdicts_changed") or []
        lines += ["", "Each method against the baseline at this run (validation-calibrated; Δ with "
                  "its paired 95 % interval), committed → rerun:", "",
                  "| point | method | metric | committed Δ | rerun Δ |", "|---|---|---|---|---|"]
        for c in con:
            metric = "ZSL top-1" if c["metric"] == "zsl_top1" else "GZSL H" if c["metric"] == "gzsl_h" else c["metric"]
            cells = [diff_text({"diff": c[side], "diff_ci": c[side + "_ci"],
                                "verdict": c[side + "_verdict"]}, metric) for side in ("committed", "rerun")]
            lines.append(f"| `{c['point']}` | {sm.METHOD_NAMES.get(c['method'], c['method'])} | {metric} | "
                         f"{cells[0]} | {cells[1]} |")
        lines += ["", f"Verdicts unchanged: {len(con) - len(changed)} of {len(con)}"
                  + ("." if not changed else "; changed: " + ", ".join(
                      f"{sm.METHOD_NAMES.get(c['method'], c['method'])} {c['metric']} at `{c['point']}` "
                      f"({c['committed_verdict']} → {c['rerun_verdict']})" for c in changed) + ".")]
    return "\n".join(lines) + "\n"


#: The section a study README gains when its folder holds a ``verify.json``.
VERIFY_SECTION = """
## Does it reproduce on today's code?

One committed run rerun by `python -m neuron verify` from its recorded parameters with a fresh
cache; its per-sample predictions compared with the committed ones.

<!-- results:verify -->
<!-- /results:verify -->
"""


STUDY_README = """# `{name}`

**Question.** {question}

**Command.** `python -m neuron run params/studies/{name}.yaml` (report: [summary.html](summary.html)).

<!-- results:runs -->
<!-- /results:runs -->

Main comparison: <!-- results:main -->
<!-- /results:main -->

## Results

Validation-calibrated protocol, mean ± std over runs; Δ is the paired difference to the row
named under "vs" with its paired 95 % interval (t over splits; bootstrap of test samples for one split) (an interval covering 0 reads "no difference").

<!-- results:table -->
<!-- /results:table -->
"""


def refresh_study_readme(folder: str | os.PathLike) -> Path:
    """Regenerate the tables of ``<folder>/README.md`` (written from :data:`STUDY_README` when it
    does not exist); the prose outside the result blocks is kept. Returns its path."""
    folder = Path(folder)
    path = folder / "README.md"
    if path.exists():
        text = path.read_text()
    else:
        study = _read_json(folder / "study.json")
        text = STUDY_README.format(name=folder.name,
                                   question=(study.get("config") or {}).get("description") or "")
    if (folder / "verify.json").exists() and "<!-- results:verify" not in text:
        m = re.search(r"\n## (Findings|How it was made)", text)
        text = (text[:m.start()] + "\n" + VERIFY_SECTION + text[m.start():] if m
                else text.rstrip("\n") + "\n" + VERIFY_SECTION)
    write_text(path, replace_blocks(text, render_study_block(folder)))
    return path


# --------------------------------------------------------------------------- the project README
#: Headline rows of the project README, per dataset: (study, family, point, method, label,
#: reference (point, method) or None). The reference is the baseline trained beside the row's
#: runs; a row whose results.json record has another reference is compared on the committed
#: outcomes (:func:`_compare`).
README_HEADLINES: dict[str, list[tuple]] = {
    "peers": [
        ("peers_utd_mhad", fam, "default", m, label, None if m == "baseline" else ("default", "baseline"))
        for fam in ("utd_mhad_22_5", "utd_mhad_17_10")
        for m, label in (("baseline", "baseline"), ("neuron", "Neuron as published"), ("smie", "SMIE (paper recipe)"),
                         ("sadvae", "SA-DVAE (paper recipe)"), ("star", "STAR (paper recipe)"))
    ],
    "utd_mhad": [
        ("utd_mhad_paper", "utd_mhad_22_5", "default", "baseline", "baseline", None),
        ("utd_mhad_paper", "utd_mhad_22_5", "default", "neuron", "Neuron as published", ("default", "baseline")),
        ("why_neuron_trails", "utd_mhad_22_5", "class_mean", "ensemble_allrounds", "validation choice",
         ("neuron", "baseline")),
        ("utd_mhad_paper", "utd_mhad_17_10", "default", "baseline", "baseline", None),
        ("utd_mhad_paper", "utd_mhad_17_10", "default", "neuron", "Neuron as published", ("default", "baseline")),
    ],
    "kinder_gator": [
        ("kinder_gator_paper", "kinder_gator_48_10", "class_names", "baseline", "baseline", None),
        ("kinder_gator_paper", "kinder_gator_48_10", "class_names", "neuron", "Neuron as published",
         ("class_names", "baseline")),
        ("kinder_gator_chosen", "kinder_gator_48_10", "class_mean", "ensemble_allrounds", "validation choice",
         ("class_mean", "baseline")),
        ("kinder_gator_paper", "kinder_gator_53_5", "class_names", "baseline", "baseline", None),
        ("kinder_gator_paper", "kinder_gator_53_5", "class_names", "neuron", "Neuron as published",
         ("class_names", "baseline")),
        ("kinder_gator_chosen", "kinder_gator_53_5", "class_mean", "ensemble_allrounds", "validation choice",
         ("class_mean", "baseline")),
    ],
    "penn_action": [
        ("penn_action", "penn_action_12_3", "default", "baseline", "baseline", None),
        ("penn_action", "penn_action_12_3", "default", "neuron", "Neuron as published", ("default", "baseline")),
    ],
    "nw_ucla": [
        ("nw_ucla", "nw_ucla_8_2", "default", "baseline", "baseline", None),
        ("nw_ucla", "nw_ucla_8_2", "default", "neuron", "Neuron as published", ("default", "baseline")),
    ],
}
#: The paper's settings: (study, dataset, split family) in the paper's order.
PAPER_SETTINGS = (("ntu60_55_5", "NTU RGB+D 60", "55/5"), ("ntu60_48_12", "NTU RGB+D 60", "48/12"),
                  ("ntu120_110_10", "NTU RGB+D 120", "110/10"), ("ntu120_96_24", "NTU RGB+D 120", "96/24"),
                  ("pku_mmd1_46_5", "PKU-MMD I", "46/5"), ("pku_mmd1_39_12", "PKU-MMD I", "39/12"))
#: Datasets that run here: (dataset, protocol, study of its headline, README table name).
RUN_HERE = (("UTD-MHAD (main job)", "cross-subject, 22/5 #0, seed 0, one thread", "utd_mhad_quick"),
            ("UTD-MHAD", "cross-subject, 22/5 and 17/10 (5 splits each), seeds 0-2", "utd_mhad_paper"),
            ("Kinder-Gator", "cross-subject, 48/10 and 53/5 (5 splits each), seeds 0-2", "kinder_gator_paper"),
            ("Kinder-Gator", "cross-age (adults train, children test), 48/10 (5 splits), seed 0",
             "kinder_gator_cross_age"),
            ("NW-UCLA", "cross-view, 8/2 (3 splits), seed 0", "nw_ucla"),
            ("Penn Action (2D keypoints)", "official train/test, 12/3 (5 splits), seeds 0-2", "penn_action"),
            ("UTD-MHAD: SMIE, SA-DVAE, STAR beside Neuron", "cross-subject, 22/5 and 17/10 (5 splits each), "
             "seeds 0-2", "peers_utd_mhad"))


def headline_md(root: Path, dataset: str) -> str:
    """The README's headline table of ``dataset`` (:data:`README_HEADLINES`) from the committed
    reports under ``root``."""
    rows = []
    for study, family, point, method, label, ref in README_HEADLINES[dataset]:
        results = _read_json(root / study / "results.json")
        rec = _record(results, point, method, family)
        if rec is None:
            continue
        diff = rec if ref is None or rec.get("reference") == "/".join(ref) else \
            _compare(root, [study], (point, method), ref, family if rec.get("family") else None)
        cells = [diff_text(diff, k) if ref and diff else "–" for k in ("zsl_top1", "gzsl_h")]
        runs = rec["n_runs"] if not (ref and diff and diff.get("n_runs")) else diff.get("n_runs", rec["n_runs"])
        rows.append([family_label(family), label, str(runs), mean_text(rec, "zsl_top1"), mean_text(rec, "gzsl_h"),
                     *cells, f"[{study}](reports/{study}/README.md)"])
    return _md_table(["splits", "method", "runs", "ZSL top-1", "GZSL H", "Δ ZSL vs baseline [95 % CI]",
                      "Δ H vs baseline [95 % CI]", "report"], rows)


def reproduced_md(root: Path) -> str:
    """The README's "What is reproduced" table: the paper's settings (code path, side
    information, the paper's reported numbers from :data:`neuron.study.PAPER_REPORTED`) and the
    datasets that run here with their main comparison."""
    rows = []
    for study, dataset, split in PAPER_SETTINGS:
        rep = PAPER_REPORTED.get(study)
        paper = f"ZSL {rep['zsl_top1']}, H {rep['gzsl_h']}" if rep else "not recorded here"
        have = (PARAMS_DIR / "studies" / f"{study}.yaml").exists()
        status = ("code path and the paper's side information ready (`params/studies/" f"{study}.yaml`); "
                  "not run here: the data needs registration" if have else "no study file")
        rows.append([dataset, split, status, paper, "–"])
    for dataset, protocol, study in RUN_HERE:
        folder = root / study
        if not (folder / "results.json").exists():
            if (PARAMS_DIR / "studies" / f"{study}.yaml").exists():  # ready, no committed report yet
                rows.append([dataset, protocol, f"study ready (`params/studies/{study}.yaml`); not run "
                             "here yet", "–", "–"])
            continue
        f = study_facts(folder)
        done = (f"{f['finished']} run" + ("s" if f["finished"] != 1 else "")
                + (f" of {f['planned']} planned" if f["planned"] and f["finished"] < f["planned"] else ""))
        rows.append([dataset, protocol, f"run here: {done}", "–",
                     f"{f['main']} ([report](reports/{study}/README.md))"])
    return _md_table(["dataset", "setting", "status here", "paper reports (Neuron)", "result here"], rows)


def verified_md(root: Path, prefix: str = "reports/") -> str:
    """The README's "Does each study reproduce?" table: per committed study with a
    ``verify.json`` (:func:`verify_md`; links start with ``prefix``), the verified run, reproduced or differs (with how many
    rerun - committed differences have an interval excluding 0, and with several runs how many
    of them reproduced), and how many of the run's
    method-vs-baseline verdicts hold on today's code; studies without one say "not verified"."""
    rows = []
    for folder in sorted(p.parent for p in root.glob("*/results.json")):
        v = _read_json(folder / "verify.json")
        link = f"[`{folder.name}`]({prefix}{folder.name}/README.md#does-it-reproduce-on-todays-code)"
        if not v:
            rows.append([f"[`{folder.name}`]({prefix}{folder.name}/README.md)", "–", "not verified", "–", "–"])
            continue
        diffs = v.get("differences") or []
        per_run = list((v.get("runs") or {}).values())
        status = ("reproduced (identical predictions)" if v.get("reproduced") else
                  f"differs: {len(diffs)} values, {len(_beyond_interval(diffs))} beyond their 95 % interval"
                  + (f" ({per_run.count('reproduced')} of {len(per_run)} runs reproduced)"
                     if len(per_run) > 1 else ""))
        con = v.get("contrasts") or []
        held = (f"{len(con) - len(v.get('verdicts_changed') or [])} of {len(con)}" if con else "–")
        rows.append([link, ", ".join(f"`{r}`" for r in v.get("runs") or {}), status, held,
                     f"{str(v.get('commit', '?'))[:7]}, {str(v.get('date', '?'))[:10]}"])
    return _md_table(["study", "verified run", "rerun on today's code", "verdicts vs baseline that hold",
                      "commit, date"], rows)


def render_readme_block(root: Path) -> Callable[[str, list[str]], str]:
    """The renderer of the project README's blocks: ``reproduced`` and one headline table per
    dataset of :data:`README_HEADLINES`."""
    def render(name: str, args: list[str]) -> str:
        if name == "reproduced":
            return reproduced_md(root)
        if name == "verified":
            return verified_md(root)
        if name in README_HEADLINES:
            return headline_md(root, name)
        raise ValueError(f"README.md: unknown results block {name!r}")

    return render


def refresh_readme(readme: str | os.PathLike, reports_root: str | os.PathLike | None = None) -> Path:
    """Regenerate the result blocks of the project README from the committed reports."""
    readme = Path(readme)
    root = Path(reports_root or PROJECT_ROOT / "reports")
    write_text(readme, replace_blocks(readme.read_text(), render_readme_block(root)))
    return readme


def write_all(reports_root: str | os.PathLike | None = None,
              readme: str | os.PathLike | None = None) -> list[Path]:
    """``python -m neuron index``: every study README's tables, ``reports/README.md``,
    ``reports/index.html`` and (when given, default the project's when ``reports_root`` is the
    project's) the project README's tables. Returns the files written."""
    root = Path(reports_root or PROJECT_ROOT / "reports")
    out = [refresh_study_readme(f) for f in _studies(root)]
    out += [write_reports_readme(root), write_index(root)]
    if readme is None and root.resolve() == (PROJECT_ROOT / "reports").resolve():
        readme = PROJECT_ROOT / "README.md"
    if readme is not None and Path(readme).exists():
        out.append(refresh_readme(readme, root))
    return out
