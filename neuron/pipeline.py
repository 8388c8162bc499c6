"""The study runner: expands a study into runs, executes the stage notebooks with papermill,
renders HTML with nbconvert, and aggregates the results.

Layout of the outputs::

    runs/<study>/<point>/<split>_<index>/seed<seed>/
        manifest.json          resolved parameters, seed, commit, packages, data hashes
        NN_<stage>.ipynb/.html executed notebooks and their reports (inputs hidden)
        <stage>.done.json      what the stage was run with (a stage is skipped when unchanged)
        metrics.json, *.ckpt   results and resumable checkpoints
    reports/<study>/           summary.html, results.json, results.csv, figures (committed)

Stages whose inputs are unchanged are skipped; an interrupted run resumes from its last
checkpoint (training loops save every epoch). Outputs of different parameters never mix: a run
folder whose manifest holds other parameters is an error unless ``force``.
"""
from __future__ import annotations

import itertools
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuron.config import (PROJECT_ROOT, StudyConfig, deep_update, load_run_config,
                           load_split_spec, load_study_config, read_yaml, to_dict)
from neuron.errors import ConfigError, NeuronError
from neuron.io import sha256_file, sha256_obj, write_json

NOTEBOOKS = PROJECT_ROOT / "notebooks"
STAGES = {
    "data": "01_data.ipynb",
    "side_info": "02_side_info.ipynb",
    "encoder": "03_encoder.ipynb",
    "neuron": "04_neuron.ipynb",
}
SUMMARY = "05_summary.ipynb"


@dataclass
class RunSpec:
    """One expanded run of a study."""

    point: str
    split: str
    index: int
    seed: int
    config: dict  # resolved run parameters (validated)

    @property
    def rel_dir(self) -> Path:
        return Path(self.point) / f"{self.split}_{self.index}" / f"seed{self.seed}"


def _point_name(assign: dict[str, Any]) -> str:
    if not assign:
        return "default"
    parts = []
    for k, v in assign.items():
        val = "-".join(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v)
        parts.append(f"{k.split('.')[-1]}={val}")
    return ",".join(parts).replace("/", "_")


def expand_study(study: StudyConfig) -> list[RunSpec]:
    """Expand a study into runs: points (grid product or variants) x splits x seeds.

    Every run's parameters are validated (unknown keys, wrong types, impossible values) before
    anything runs.

    Raises:
        ConfigError: naming the point, split and seed of the first invalid run.
    """
    base = read_yaml(PROJECT_ROOT / study.run)
    base = deep_update(base, study.overrides)
    if study.grid:
        keys = list(study.grid)
        points = [(_point_name(dict(zip(keys, vals))), dict(zip(keys, vals)))
                  for vals in itertools.product(*(study.grid[k] for k in keys))]
    elif study.variants:
        points = list(study.variants.items())
    else:
        points = [("default", {})]
    splits: list[tuple[str, int]] = []
    for s in study.splits or [f"{base.get('data', {}).get('split', 'utd_mhad_22_5')}#"
                              f"{base.get('data', {}).get('split_index', 0)}"]:
        name, _, idx = s.partition("#")
        if idx:
            splits.append((name, int(idx)))
        else:
            splits.extend((name, i) for i in range(len(load_split_spec(name).unseen)))
    runs = []
    for (pname, assign), (split, index), seed in itertools.product(points, splits, study.seeds):
        data = deep_update(base, assign)
        data = deep_update(data, {"name": f"{study.name}/{pname}", "seed": seed,
                                  "data.split": split, "data.split_index": index})
        try:
            cfg = load_run_config(data)
        except ConfigError as e:
            raise ConfigError(f"study {study.name}, point {pname}, split {split}#{index}, "
                              f"seed {seed}: {e}") from e
        runs.append(RunSpec(pname, split, index, seed, to_dict(cfg)))
    names = [r.rel_dir for r in runs]
    if len(set(names)) != len(names):
        raise ConfigError(f"study {study.name}: two points map to the same run folder")
    return runs


def stage_key(stage: str, config: dict) -> str:
    """What a stage's output depends on (used to share and skip stage executions)."""
    d = config["data"]
    data_part = {k: d[k] for k in ("dataset", "split", "split_index", "data_root", "skip_bad")}
    if stage == "data":
        return sha256_obj({"data": data_part, "seed": config["seed"]})
    if stage == "side_info":
        return sha256_obj({"dataset": d["dataset"], "side_info": config["side_info"]})
    if stage == "encoder":
        return sha256_obj({"data": d, "seed": config["seed"], "encoder": config["encoder"]})
    from neuron.manifest import RUNTIME_KEYS

    return sha256_obj({k: v for k, v in config.items() if k not in RUNTIME_KEYS})


def execute_notebook(notebook: Path, out_dir: Path, parameters: dict, progress: bool = True,
                     log_output: bool = False) -> Path:
    """Run ``notebook`` with papermill into ``out_dir`` and render its HTML (inputs hidden).

    Raises:
        NeuronError: the notebook failed (naming the executed copy to read).
    """
    import papermill as pm

    out_dir.mkdir(parents=True, exist_ok=True)
    out_nb = out_dir / notebook.name
    try:
        pm.execute_notebook(str(notebook), str(out_nb), parameters=parameters, cwd=str(PROJECT_ROOT),
                            progress_bar=progress, log_output=log_output, kernel_name="python3")
    except pm.PapermillExecutionError as e:
        raise NeuronError(f"{notebook.name} failed: {e.ename}: {e.evalue} "
                          f"(see the executed notebook {out_nb})") from e
    render_html(out_nb)
    return out_nb


def render_html(nb_path: Path) -> Path:
    """Render an executed notebook to ``.html`` beside it, inputs hidden (nbconvert), with machine
    paths replaced by placeholders (:func:`neuron.reports.scrub_text`)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(str(nb_path), as_version=4))
    html = nb_path.with_suffix(".html")
    from neuron.io import write_text
    from neuron.reports import scrub_text

    write_text(html, scrub_text(body))  # machine paths -> placeholders (neuron.reports)
    return html


def run_study(path: str | Path, force: bool = False, runs_root: Path | None = None,
              reports_root: Path | None = None, progress: bool = True, only_stages: list[str] | None = None,
              log_output: bool = False, seeds: list[int] | None = None,
              overrides: dict[str, Any] | None = None, points: list[str] | None = None) -> Path:
    """Run every stage of every run of a study, then its summary. Returns the reports folder.

    ``points`` restricts the run to these grid points / variants (names as in the run folders,
    e.g. ``no_compression`` or ``neuron.top_k=5``); the summary still covers every finished run
    of the study, so a variant added to a finished study costs only its own runs.

    ``seeds`` replaces the study's seeds and ``overrides`` (dotted run keys) is merged into its
    overrides (e.g. ``{"num_threads": 1}``); both are recorded in ``reports/<study>/study.json``.

    Raises:
        ConfigError: invalid study or run parameters (before anything runs).
        NeuronError: a stage failed, or a run folder holds other parameters (without ``force``).
    """
    from tqdm import tqdm

    from neuron.manifest import params_diff

    study = load_study_config(path)
    if seeds:
        study.seeds = list(seeds)
    if overrides:
        study.overrides = {**study.overrides, **overrides}
    runs = all_runs = expand_study(study)
    if points:
        names = sorted({r.point for r in runs})
        unknown = sorted(set(points) - set(names))
        if unknown:
            raise ConfigError(f"study {study.name}: unknown point(s) {unknown}; points: {names}")
        runs = [r for r in runs if r.point in points]
    runs_root = Path(runs_root or PROJECT_ROOT / "runs") / study.name
    reports = Path(reports_root or PROJECT_ROOT / "reports") / study.name
    stages = only_stages or list(STAGES)
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ConfigError(f"unknown stage(s) {sorted(unknown)}; stages: {list(STAGES)}")
    # refuse to mix outputs before doing any work
    for r in runs:
        man = runs_root / r.rel_dir / "manifest.json"
        if man.exists() and not force:
            diff = params_diff(json.loads(man.read_text()).get("params", {}), r.config)
            if diff:
                raise NeuronError(f"{man.parent}: holds outputs of different parameters "
                                  f"(differing: {', '.join(diff[:8])}); use --force to overwrite")
    done_keys: dict[tuple[str, str], Path] = {}
    t0 = time.time()
    jobs = [(r, s) for r in runs for s in stages]
    bar = tqdm(jobs, desc=f"study {study.name}", unit="stage", disable=not progress)
    for r, stage in bar:
        run_dir = runs_root / r.rel_dir
        key = stage_key(stage, r.config)
        bar.set_postfix_str(f"{r.rel_dir} {stage}")
        if stage in ("data", "side_info", "encoder") and (stage, key) in done_keys:
            continue  # shared with an earlier run of this study
        nb = NOTEBOOKS / STAGES[stage]
        stamp = run_dir / f"{stage}.done.json"
        want = {"key": key, "notebook": sha256_file(nb), "force": False}
        if stamp.exists() and not force and json.loads(stamp.read_text()) == want \
                and (run_dir / nb.name).exists():
            done_keys[(stage, key)] = run_dir
            continue
        execute_notebook(nb, run_dir, {"config": r.config, "run_dir": str(run_dir), "force": force,
                                       "progress": False}, progress=False, log_output=log_output)
        write_json(stamp, want)
        done_keys[(stage, key)] = run_dir
    if "neuron" not in stages:
        return reports  # nothing to summarise yet
    summarise(study, runs_root, reports, all_runs, round(time.time() - t0, 1))
    return reports


def summarise(study: StudyConfig, runs_root: Path, reports: Path, runs: list[RunSpec] | None = None,
              seconds: float | None = None) -> Path:
    """Run the summary notebook over the finished runs under ``runs_root`` into ``reports``.

    Also used on its own (``python -m neuron summarise``) for a study that was stopped early:
    ``study.json`` then lists the runs found finished next to those the study expands into.
    Every file of ``reports`` is then scrubbed of machine paths and ``reports/../index.html``
    rewritten (:mod:`neuron.reports`).
    """
    runs = runs if runs is not None else expand_study(study)
    reports.mkdir(parents=True, exist_ok=True)
    execute_notebook(NOTEBOOKS / SUMMARY, runs_root, {
        "study_dir": str(runs_root), "report_dir": str(reports), "study_name": study.name,
        "description": study.description, "figures": study.figures}, progress=False)
    shutil.copy(runs_root / SUMMARY.replace(".ipynb", ".html"), reports / "summary.html")
    if len(runs) == 1:  # a single run: its stage reports go to reports/ too
        for stage in STAGES:
            html = runs_root / runs[0].rel_dir / STAGES[stage].replace(".ipynb", ".html")
            if html.exists():
                shutil.copy(html, reports / html.name)
    finished = [str(r.rel_dir) for r in runs if (runs_root / r.rel_dir / "metrics.json").exists()]
    write_json(reports / "study.json", {"study": study.name, "runs": len(runs),
                                        "finished_runs": finished, "seconds": seconds,
                                        "written": time.strftime("%Y-%m-%d"),
                                        "config": to_dict(study)})
    from neuron.reports import scrub_reports, write_index

    scrub_reports(reports)  # no machine paths in any report (neuron.reports.scrub_text)
    write_index(reports.parent)
    return reports


def collect_results(study_dir: str | Path) -> list[dict]:
    """Every ``metrics.json`` under a study folder as flat rows: one per run and method.

    Row keys: ``point``, ``split``, ``seed``, ``method`` (neuron / baseline) and the metrics
    (``honest/zsl_top1``, ``paper/gzsl_h``, ...).
    """
    rows = []
    study_dir = Path(study_dir)
    for path in sorted(study_dir.glob("*/*/seed*/metrics.json")):
        m = json.loads(path.read_text())
        point = path.parent.parent.parent.name
        for method in ("neuron", "baseline"):
            if method not in m:
                continue
            row = {"point": point, "split": m["split"], "seed": m["seed"], "method": method}
            row.update({k: v for k, v in m[method].items() if isinstance(v, (int, float))})
            if method == "neuron":
                for b, vals in (m.get("compactness") or {}).items():
                    for i, v in enumerate(vals):
                        row[f"compactness/{b}_r{i + 1}"] = v
            rows.append(row)
    return rows


def point_values(study: StudyConfig) -> dict[str, dict[str, Any]]:
    """Point name -> its grid assignment (for plotting accuracy against swept values)."""
    if not study.grid:
        return {}
    keys = list(study.grid)
    return {_point_name(dict(zip(keys, vals))): dict(zip(keys, vals))
            for vals in itertools.product(*(study.grid[k] for k in keys))}
