"""The study runner: expands a study into runs, executes the stage notebooks with papermill,
renders HTML with nbconvert, and aggregates the results.

Layout of the outputs::

    runs/<study>/<point>/<split>_<index>/seed<seed>/
        manifest.json          resolved parameters, seed, commit, packages, data hashes
        NN_<stage>.ipynb/.html executed notebooks and their reports (inputs hidden)
        <stage>.done.json      what the stage was run with (a stage is skipped when unchanged)
        metrics.json, *.ckpt   results and resumable checkpoints
    reports/<study>/           summary.html, results.json, results.csv, outcomes.json,
                               manifests.json (each run's manifest, no paths), figures (committed)

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
from neuron.evaluate import METHODS
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
        return run_rel_dir(self.point, f"{self.split}#{self.index}", self.seed)


def run_rel_dir(point: str, split: str, seed: int) -> Path:
    """A run's folder under the study folder: ``<point>/<family>_<index>/seed<seed>`` for a
    split key ``family#index``."""
    family, index = str(split).rsplit("#", 1)
    return Path(point) / f"{family}_{index}" / f"seed{seed}"


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
            if not idx.isdigit():
                raise ConfigError(f"study {study.name}: split {s!r}: the index after '#' must be "
                                  "a non-negative integer")
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
    # an empty data.protocol (the dataset's own) is left out, so keys made before the key existed hold
    d = {k: v for k, v in config["data"].items() if not (k == "protocol" and not v)}
    config = {**config, "data": d}
    if "neuron" in config:  # options added later are left out while unset (config.LATE_NEURON_KEYS)
        from neuron.config import unset_dropped

        config["neuron"] = unset_dropped(config["neuron"])
    data_part = {k: d[k] for k in ("dataset", "split", "split_index", "data_root", "skip_bad",
                                   "protocol") if k in d}
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
    The kernel runs with the allocator of :mod:`neuron.allocator` (tcmalloc when installed).

    Raises:
        NeuronError: the notebook failed (naming the executed copy to read).
    """
    import papermill as pm

    from neuron.allocator import kernel_allocator

    out_dir.mkdir(parents=True, exist_ok=True)
    out_nb = out_dir / notebook.name
    try:
        with kernel_allocator():  # tcmalloc in the kernel when installed (neuron.allocator)
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


SHARED_STAGES = ("data", "side_info", "encoder")
EXECUTORS = ("serial", "local", "slurm", "submitit-local", "submitit-debug")


def _stamp_ok(run_dir: Path, stage: str, key: str) -> bool:
    nb = NOTEBOOKS / STAGES[stage]
    stamp = run_dir / f"{stage}.done.json"
    want = {"key": key, "notebook": sha256_file(nb), "force": False}
    return stamp.exists() and json.loads(stamp.read_text()) == want and (run_dir / nb.name).exists()


def plan_study(runs: list[RunSpec], stages: list[str], runs_root: Path,
               force: bool = False) -> list[tuple[RunSpec, list[str]]]:
    """The stages each run still has to execute, in stage order.

    A shared stage (data, side information, encoder) with the same :func:`stage_key` as an
    earlier run's belongs to that earlier run only; a stage whose ``<stage>.done.json`` stamp
    matches is finished (unless ``force``). Runs with nothing left are omitted, so planning a
    finished study gives ``[]`` (what makes a rerun of an interrupted study resume it).
    """
    owner: set[tuple[str, str]] = set()
    out = []
    for r in runs:
        todo = []
        for stage in stages:
            key = stage_key(stage, r.config)
            if stage in SHARED_STAGES:
                if (stage, key) in owner:
                    continue
                owner.add((stage, key))
            if force or not _stamp_ok(runs_root / r.rel_dir, stage, key):
                todo.append(stage)
        if todo:
            out.append((r, todo))
    return out


def run_stages(run_dir: str | Path, config: dict, stages: list[str], force: bool = False,
               log_output: bool = False) -> str:
    """Execute some stage notebooks of one run (in order) and stamp each; the unit of work that
    ``--executor local|slurm`` sends to another process or cluster node. Returns ``run_dir``.

    Raises:
        NeuronError: a notebook failed.
    """
    run_dir = Path(run_dir)
    for stage in stages:
        nb = NOTEBOOKS / STAGES[stage]
        execute_notebook(nb, run_dir, {"config": config, "run_dir": str(run_dir), "force": force,
                                       "progress": False}, progress=False, log_output=log_output)
        write_json(run_dir / f"{stage}.done.json",
                   {"key": stage_key(stage, config), "notebook": sha256_file(nb), "force": False})
    return str(run_dir)


def _make_pool(executor: str, jobs: int, folder: Path, resources: dict):
    """A ``concurrent.futures``-style executor: ``submit(fn, *args)`` -> future with ``result()``."""
    if executor == "local":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    import submitit

    cluster = {"slurm": "slurm", "submitit-local": "local", "submitit-debug": "debug"}[executor]
    ex = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=cluster)
    params = {"timeout_min": resources["timeout_min"], "cpus_per_task": resources["cpus_per_task"],
              "mem_gb": resources["mem_gb"], "gpus_per_node": resources["gpus_per_node"],
              "name": "neuron"}
    if resources.get("partition"):
        params["slurm_partition"] = resources["partition"]
    ex.update_parameters(**params)
    return ex


def _run_parallel(plan: list[tuple[RunSpec, list[str]]], runs_root: Path, executor: str, jobs: int,
                  resources: dict, force: bool, log_output: bool, progress: bool) -> None:
    """Two waves: (1) every run that owns a shared encoder runs its stages up to the encoder;
    (2) every run's remaining stages. Wave 2 starts when wave 1 has finished, so runs that share
    an encoder never train it twice (the encoder stage's file lock guards the rest)."""
    from tqdm import tqdm

    waves: list[list[tuple[RunSpec, list[str]]]] = [[], []]
    for r, todo in plan:
        if "encoder" in todo:
            cut = todo.index("encoder") + 1
            waves[0].append((r, todo[:cut]))
            todo = todo[cut:]
        if todo:
            waves[1].append((r, todo))
    pool = _make_pool(executor, jobs, runs_root / ".submitit", resources)
    failed = []
    interrupted = True
    try:
        for i, wave in enumerate(waves):
            if not wave:
                continue
            futs = [(r, todo, pool.submit(run_stages, str(runs_root / r.rel_dir), r.config, todo, force,
                                          log_output)) for r, todo in wave]
            for r, todo, fut in tqdm(futs, desc=f"wave {i + 1}/2", unit="job", disable=not progress):
                try:
                    fut.result()
                except Exception as e:  # noqa: BLE001 - reported together below
                    failed.append(f"{r.rel_dir} ({', '.join(todo)}): {type(e).__name__}: {e}")
            if failed:
                break  # wave 2 depends on wave 1
        interrupted = False
    finally:
        if hasattr(pool, "shutdown"):  # on Ctrl-C: drop queued runs, do not wait for them
            pool.shutdown(wait=not interrupted, cancel_futures=True)
    if failed:
        raise NeuronError(f"{len(failed)} job(s) failed; rerun the same command to resume:\n  "
                          + "\n  ".join(failed))


def select_splits(runs: list[RunSpec], splits: list[str], study_name: str = "") -> list[RunSpec]:
    """The runs whose split is one of ``splits`` (``family#index`` or a whole ``family``).

    Raises:
        ConfigError: a name matches none of the runs (the error lists the study's splits).
    """
    have = sorted({(r.split, r.index) for r in runs})
    keep: set[tuple[str, int]] = set()
    for name in splits:
        fam, sep, idx = name.partition("#")
        hit = {(f, i) for f, i in have if f == fam and (not sep or str(i) == idx)}
        if not hit:
            raise ConfigError(f"study {study_name}: split {name!r} is not in the study; its splits: "
                              f"{', '.join(f'{f}#{i}' for f, i in have)}")
        keep |= hit
    return [r for r in runs if (r.split, r.index) in keep]


def run_study(path: str | Path, force: bool = False, runs_root: Path | None = None,
              reports_root: Path | None = None, progress: bool = True, only_stages: list[str] | None = None,
              log_output: bool = False, seeds: list[int] | None = None,
              overrides: dict[str, Any] | None = None, points: list[str] | None = None,
              executor: str = "serial", jobs: int = 2, resources: dict[str, Any] | None = None,
              splits: list[str] | None = None) -> Path:
    """Run every stage of every run of a study, then its summary. Returns the reports folder.

    ``points`` restricts the run to these grid points / variants (names as in the run folders,
    e.g. ``no_compression`` or ``neuron.top_k=5``); the summary still covers every finished run
    of the study, so a variant added to a finished study costs only its own runs. ``splits``
    restricts it likewise to some of the study's splits, named as in study files:
    ``kinder_gator_48_10#0`` (one split) or ``kinder_gator_48_10`` (the whole family).

    ``seeds`` replaces the study's seeds and ``overrides`` (dotted run keys) is merged into its
    overrides (e.g. ``{"num_threads": 1}``); both are recorded in ``reports/<study>/study.json``.

    ``executor``: ``serial`` (one process, the default), ``local`` (up to ``jobs`` runs at once,
    each in its own process: ``concurrent.futures.ProcessPoolExecutor``), ``slurm`` (one Slurm job
    per run through submitit, with the study's ``resources`` updated by ``resources``), or
    ``submitit-local`` / ``submitit-debug`` (submitit's local and in-process executors, for
    trying the cluster path on one machine). Whatever the executor, finished stages are skipped,
    so running the same command again resumes an interrupted study.

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
    if splits:
        runs = select_splits(runs, splits, study.name)
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
    t0 = time.time()
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; executors: {list(EXECUTORS)}")
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    if executor != "serial":
        from neuron.config import ResourcesConfig, from_dict

        res = from_dict(ResourcesConfig, {**to_dict(study.resources), **(resources or {})},
                        f"{path}: resources")
        plan = plan_study(runs, [s for s in STAGES if s in stages], runs_root, force)
        if plan:
            _run_parallel(plan, runs_root, executor, jobs, to_dict(res), force, log_output, progress)
        if "neuron" not in stages:
            return reports
        summarise(study, runs_root, reports, all_runs, round(time.time() - t0, 1))
        return reports
    done_keys: dict[tuple[str, str], Path] = {}
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
    Runs already in the committed report (``reports/results.json``, ``outcomes.json``) but not
    under ``runs_root`` are kept in the new summary, so a study can be continued split by split
    on machines that do not share ``runs/``; a run under ``runs_root`` replaces its committed
    record. Delete the report folder to summarise ``runs_root`` alone.
    When ``runs_root`` holds no finished run but ``reports`` has a ``results.json``, the report
    is rebuilt from its own committed files (rows, ``outcomes.json``) without ``runs/``.
    Every file of ``reports`` is then scrubbed of machine paths and ``reports/../index.html``
    rewritten (:mod:`neuron.reports`).
    """
    runs = runs if runs is not None else expand_study(study)
    reports.mkdir(parents=True, exist_ok=True)
    if not any(Path(runs_root).glob("*/*/seed*/metrics.json")) and (reports / "results.json").exists():
        return _rebuild_report(study, reports)
    execute_notebook(NOTEBOOKS / SUMMARY, runs_root, {
        "study_dir": str(runs_root), "report_dir": str(reports), "study_name": study.name,
        "description": study.description, "figures": study.figures}, progress=False)
    shutil.copy(runs_root / SUMMARY.replace(".ipynb", ".html"), reports / "summary.html")
    if len(runs) == 1:  # a single run: its stage reports go to reports/ too
        for stage in STAGES:
            html = runs_root / runs[0].rel_dir / STAGES[stage].replace(".ipynb", ".html")
            if html.exists():
                shutil.copy(html, reports / html.name)
    # every run in the summary: those under runs_root and those kept from the committed report
    finished = sorted({str(run_rel_dir(*_run_key(r))) for r in _report_records(reports, "results.json")})
    write_json(reports / "study.json", {"study": study.name, "runs": len(runs),
                                        "finished_runs": finished, "seconds": seconds,
                                        "written": time.strftime("%Y-%m-%d"),
                                        "config": to_dict(study)})
    from neuron.manifest import write_report_manifests
    from neuron.reports import scrub_reports, write_index

    write_report_manifests(runs_root, reports, finished)  # what made each run (neuron.verify)
    scrub_reports(reports)  # no machine paths in any report (neuron.reports.scrub_text)
    write_index(reports.parent)
    return reports


def _rebuild_report(study: StudyConfig, reports: Path) -> Path:
    """Rewrite a committed report from its own files (results.json rows, outcomes.json) when the
    study's runs are not on this machine; study.json and the stage reports are kept."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        execute_notebook(NOTEBOOKS / SUMMARY, Path(tmp), {
            "study_dir": str(reports), "report_dir": str(reports), "study_name": study.name,
            "description": study.description, "figures": study.figures}, progress=False)
        shutil.copy(Path(tmp) / SUMMARY.replace(".ipynb", ".html"), reports / "summary.html")
    return reports


def _run_key(record: dict) -> tuple[str, str, int]:
    """(point, split, seed) of a result row or outcome record."""
    return str(record["point"]), str(record["split"]), int(record["seed"])


def _merge_committed(found: list[dict], committed: list[dict]) -> list[dict]:
    """``found`` plus the ``committed`` records of runs not in ``found``, ordered by run."""
    have = {_run_key(r) for r in found}
    extra = [r for r in committed if _run_key(r) not in have]
    if not extra:
        return found
    return sorted(found + extra, key=_run_key)  # stable: method order within a run is kept


def _same_dir(a: Path, b: str | Path | None) -> bool:
    return b is not None and Path(a).resolve() == Path(b).resolve()


def collect_results(study_dir: str | Path, committed: str | Path | None = None) -> list[dict]:
    """Every ``metrics.json`` under a study folder as flat rows: one per run and method.

    Row keys: ``point``, ``split``, ``seed``, ``method`` (neuron / baseline) and the metrics
    (``honest/zsl_top1``, ``paper/gzsl_h``, ...). A report folder (no runs, a ``results.json``)
    gives the rows it was made from (its ``runs`` field). ``committed``: a report folder whose
    rows are added for every run (point, split, seed) not found under ``study_dir``, so a study
    continued on a machine without the earlier ``runs/`` keeps its committed runs; a run found
    under ``study_dir`` replaces its committed rows.
    """
    rows = []
    study_dir = Path(study_dir)
    for path in sorted(study_dir.glob("*/*/seed*/metrics.json")):
        m = json.loads(path.read_text())
        point = path.parent.parent.parent.name
        for method in METHODS:
            if method not in m:
                continue
            row = {"point": point, "split": m["split"], "seed": m["seed"], "method": method}
            row.update({k: v for k, v in m[method].items() if isinstance(v, (int, float))})
            if method == "neuron":
                for b, vals in (m.get("compactness") or {}).items():
                    for i, v in enumerate(vals):
                        row[f"compactness/{b}_r{i + 1}"] = v
            rows.append(row)
    if not rows and (study_dir / "results.json").exists():  # a report folder: its committed rows
        rows = _report_records(study_dir, "results.json")
    if committed is not None and not _same_dir(study_dir, committed) \
            and (Path(committed) / "results.json").exists():
        rows = _merge_committed(rows, _report_records(Path(committed), "results.json"))
    return rows


def _report_records(report_dir: Path, name: str) -> list[dict]:
    """The ``runs`` records of a report's ``results.json`` (rows, without the derived ``family``)
    or ``outcomes.json``."""
    return [{k: v for k, v in r.items() if k != "family"}
            for r in json.loads((report_dir / name).read_text())["runs"]]


def collect_outcomes(study_dir: str | Path, committed: str | Path | None = None) -> list[dict]:
    """Per-sample outcomes of every finished run under a study folder, one record per run.

    Record keys: ``point``, ``split``, ``seed``, ``seen``, ``unseen``, ``labels`` (test labels),
    ``test_sha`` (hash of the test sample indices) and ``methods`` (``{"neuron": ..., "baseline":
    ...}``, :func:`neuron.stats.per_sample_predictions` dicts). Runs written before outcomes
    were recorded are left out. A report folder (no runs, an ``outcomes.json``) gives its records;
    ``committed`` adds a report folder's records as :func:`collect_results` does.
    """
    study_dir = Path(study_dir)
    out = []
    for path in sorted(study_dir.glob("*/*/seed*/metrics.json")):
        m = json.loads(path.read_text())
        o = m.get("outcomes")
        if not o:
            continue
        out.append({"point": path.parent.parent.parent.name, "split": m["split"], "seed": m["seed"],
                    "seen": m["seen"], "unseen": m["unseen"], "test_sha": o.get("test_sha"),
                    "labels": o["labels"],
                    "methods": {k: o[k] for k in METHODS if k in o}})
    if not out and not any(study_dir.glob("*/*/seed*/metrics.json")) \
            and (study_dir / "outcomes.json").exists():
        out = _report_records(study_dir, "outcomes.json")
    if committed is not None and not _same_dir(study_dir, committed) \
            and (Path(committed) / "outcomes.json").exists():
        out = _merge_committed(out, _report_records(Path(committed), "outcomes.json"))
    return out


def point_values(study: StudyConfig) -> dict[str, dict[str, Any]]:
    """Point name -> its grid assignment (for plotting accuracy against swept values)."""
    if not study.grid:
        return {}
    keys = list(study.grid)
    return {_point_name(dict(zip(keys, vals))): dict(zip(keys, vals))
            for vals in itertools.product(*(study.grid[k] for k in keys))}
