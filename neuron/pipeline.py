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

import contextlib
import itertools
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from neuron.config import (PROJECT_ROOT, StudyConfig, deep_update, load_run_config,
                           load_split_spec, load_study_config, read_yaml, to_dict)
from neuron.errors import ConfigError, NeuronError
from neuron.io import sha256_file, write_json
from neuron.keys import stage_key
from neuron.study import report_records, run_key

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


@contextlib.contextmanager
def kernel_environ(**values: str | None) -> Iterator[None]:
    """Within the block, ``os.environ`` holds ``values`` (``None``: left as it is), so the
    kernels and worker processes started there inherit them; restored afterwards."""
    values = {k: v for k, v in values.items() if v is not None}
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _log_to_terminal() -> None:
    """Send papermill's log (with ``log_output``: the notebooks' stdout and stderr, cell by
    cell) to standard error, unless the application has given papermill's logger a handler."""
    logger = logging.getLogger("papermill")
    if logger.handlers:
        logger.setLevel(min(logger.level or logging.INFO, logging.INFO))
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


PROGRESS_FILE = ".progress.jsonl"  # in the run folder while a stage runs (neuron.progress)


def execute_notebook(notebook: Path, out_dir: Path, parameters: dict, progress: bool = True,
                     log_output: bool = False, stage_progress: bool = False) -> Path:
    """Run ``notebook`` with papermill into ``out_dir`` and render its HTML (inputs hidden).
    The kernel runs with the allocator of :mod:`neuron.allocator` (tcmalloc when installed) and
    its routine log noise filtered (:class:`neuron.kernel.QuietKernelManager`). ``log_output``
    streams the notebook's output to standard error as it runs; ``stage_progress`` shows the
    kernel's progress inside the stage (epochs, batches, texts) as a bar in the terminal
    (:mod:`neuron.progress`, through ``out_dir/.progress.jsonl``).

    Raises:
        NeuronError: the notebook failed (naming the executed copy to read).
    """
    import papermill as pm

    from neuron.allocator import kernel_allocator
    from neuron.kernel import QuietKernelManager
    from neuron.progress import ENV, ProgressTail

    out_dir.mkdir(parents=True, exist_ok=True)
    out_nb = out_dir / notebook.name
    if log_output:
        _log_to_terminal()
    tail = (ProgressTail(out_dir / PROGRESS_FILE, position=1, file=sys.stderr) if stage_progress
            else contextlib.nullcontext())
    try:
        with kernel_allocator(), tail, kernel_environ(
                **{ENV: str(out_dir / PROGRESS_FILE) if stage_progress else None}):
            pm.execute_notebook(str(notebook), str(out_nb), parameters=parameters, cwd=str(PROJECT_ROOT),
                                progress_bar=progress, log_output=log_output, kernel_name="python3",
                                kernel_manager_class=QuietKernelManager)
    except pm.PapermillExecutionError as e:
        raise NeuronError(f"{notebook.name} failed: {e.ename}: {e.evalue} "
                          f"(see the executed notebook {out_nb})") from e
    render_html(out_nb)
    return out_nb


def render_html(nb_path: Path) -> Path:
    """Render an executed notebook to ``.html`` beside it: inputs hidden, nbconvert's light
    ``basic`` template inside :func:`neuron.reports.report_page` (one small shared stylesheet,
    readable offline; the page title is the notebook's first heading), machine paths replaced by
    placeholders (:func:`neuron.reports.scrub_text`)."""
    import nbformat
    from nbconvert import HTMLExporter

    from neuron.io import write_text
    from neuron.reports import report_page, scrub_text

    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(str(nb_path), as_version=4))
    html = nb_path.with_suffix(".html")
    write_text(html, scrub_text(report_page(body)))  # machine paths -> placeholders (neuron.reports)
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


def study_dirs(study: StudyConfig, runs_root: str | Path | None = None,
               reports_root: str | Path | None = None) -> tuple[Path, Path]:
    """The study's run folder and report folder: ``<runs_root or runs/>/<study>`` and
    ``<reports_root or the study's reports_root (default reports/)>/<study>``; relative study
    keys are relative to the project root. The smoke study's ``reports_root`` is
    ``runs/reports``, so quick checks never touch the committed ``reports/``."""
    runs = Path(runs_root or PROJECT_ROOT / "runs") / study.name
    rep_root = Path(reports_root) if reports_root else Path(study.reports_root)
    if not rep_root.is_absolute() and not reports_root:
        rep_root = PROJECT_ROOT / rep_root
    return runs, rep_root / study.name


def check_side_info(runs: list[RunSpec]) -> None:
    """Check, before any work, the side information that ships with the project or is given as a
    folder (``side_info.source``: ``shipped`` or a path): every class of the dataset at every
    level, ``side_info.k`` non-empty distinct descriptions each (:func:`neuron.side_info.load_side_info`,
    the same check the side-information stage makes). Generated, paper and class-name side
    information is checked by its stage.

    Raises:
        SideInfoError: naming the class, level and file (and the run it belongs to).
    """
    from neuron.config import load_dataset_spec
    from neuron.errors import SideInfoError
    from neuron.side_info import load_side_info

    done: set[tuple] = set()
    for r in runs:
        si, dataset = r.config["side_info"], r.config["data"]["dataset"]
        src = str(si["source"])
        if src in ("class_names", "generated", "paper", "paper_embeddings"):
            continue
        folder = PROJECT_ROOT / "params" / "side_info" / dataset if src == "shipped" else Path(src)
        if not folder.is_absolute():
            folder = PROJECT_ROOT / folder
        key = (str(folder), dataset, si.get("k"))
        if key in done:
            continue
        done.add(key)
        try:
            load_side_info(folder, load_dataset_spec(dataset).class_names, k=si.get("k", 10))
        except SideInfoError as e:
            raise SideInfoError(f"side information of run {r.rel_dir} ({dataset}, source {src}): "
                                f"{e}") from e


def outcome_lines(runs_dir: Path, reports: Path, max_runs: int = 8) -> list[str]:
    """What a finished ``python -m neuron run`` prints: the run folders, the report, and the
    headline of ``reports/results.json`` (validation-calibrated protocol, stored key ``honest``: ZSL top-1 and GZSL H of each method,
    mean over its runs, and its difference to the reference method with the paired bootstrap
    95 % interval and verdict; :func:`neuron.evaluate.bootstrap_compare`)."""
    out = []
    found = sorted(p.parent for p in Path(runs_dir).glob("*/*/seed*/manifest.json"))
    if found:
        out.append(f"run folders ({len(found)}) under {runs_dir}:")
        out += [f"  {p.relative_to(runs_dir)}" for p in found[:max_runs]]
        if len(found) > max_runs:
            out.append(f"  ... and {len(found) - max_runs} more")
    summary = reports / "summary.html"
    if summary.exists():
        out.append(f"report: {summary}")
    results = reports / "results.json"
    if not results.exists():
        return out
    table = [r for r in json.loads(results.read_text()).get("table", []) if r.get("protocol") == "honest"]
    if not table:
        return out

    def num(v):
        return "n/a" if v is None else f"{v:.1f}"

    def diff(r, m):
        if r.get(f"{m}_diff") is None or not r.get(f"{m}_diff_ci"):
            return ""
        lo, hi = r[f"{m}_diff_ci"]
        return f" ({r[f'{m}_diff']:+.1f} [{lo:+.1f}, {hi:+.1f}] {r.get(f'{m}_verdict') or ''})".replace(" )", ")")

    out.append("headline (validation-calibrated protocol; in brackets the difference to the reference with its "
               "95 % interval):")
    width = max(len(f"{r['point']}/{r['method']}") for r in table)
    for r in table:
        name = f"{r['point']}/{r['method']}"
        ref = f"   vs {r['reference']}" if r.get("reference") else "   (reference)"
        out.append(f"  {name:<{width}}  ZSL top-1 {num(r.get('zsl_top1_mean'))}{diff(r, 'zsl_top1')}"
                   f"  GZSL H {num(r.get('gzsl_h_mean'))}{diff(r, 'gzsl_h')}  [{r.get('n_runs', '?')} "
                   f"run(s)]{ref}")
    return out


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

    from neuron.manifest import params_diff

    study = load_study_config(path)
    if seeds:
        study.seeds = list(seeds)
    if overrides:
        study.overrides = {**study.overrides, **overrides}
    runs = all_runs = expand_study(study)
    check_side_info(runs)
    if points:
        names = sorted({r.point for r in runs})
        unknown = sorted(set(points) - set(names))
        if unknown:
            raise ConfigError(f"study {study.name}: unknown point(s) {unknown}; points: {names}")
        runs = [r for r in runs if r.point in points]
    if splits:
        runs = select_splits(runs, splits, study.name)
    cache = None if os.environ.get("NEURON_CACHE") or runs_root is None else \
        str(Path(runs_root).resolve() / ".cache")  # --runs-root moves the cache along
    runs_root, reports = study_dirs(study, runs_root, reports_root)
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
    with kernel_environ(NEURON_CACHE=cache):
        return _run_study(study, path, runs, all_runs, runs_root, reports, stages, force, progress,
                          log_output, executor, jobs, resources)


def _run_study(study: StudyConfig, path, runs: list[RunSpec], all_runs: list[RunSpec], runs_root: Path,
               reports: Path, stages: list[str], force: bool, progress: bool, log_output: bool,
               executor: str, jobs: int, resources: dict[str, Any] | None) -> Path:
    from tqdm import tqdm

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
                                       "progress": False}, progress=False, log_output=log_output,
                         stage_progress=progress and not log_output)
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
    Every file of ``reports`` is then scrubbed of machine paths and the generated files of
    ``reports/..`` rewritten (index, study READMEs' tables; :func:`neuron.reports.write_all`).
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
    finished = sorted({str(run_rel_dir(*run_key(r))) for r in report_records(reports, "results.json")})
    write_json(reports / "study.json", {"study": study.name, "runs": len(runs),
                                        "finished_runs": finished, "seconds": seconds,
                                        "written": time.strftime("%Y-%m-%d"),
                                        "config": to_dict(study)})
    from neuron.manifest import write_report_manifests
    from neuron.reports import scrub_reports, write_all

    write_report_manifests(runs_root, reports, finished)  # what made each run (neuron.verify)
    scrub_reports(reports)  # no machine paths in any report (neuron.reports.scrub_text)
    write_all(reports.parent)  # index, reports/README.md, the study's README tables (and the README's)
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


def point_values(study: StudyConfig) -> dict[str, dict[str, Any]]:
    """Point name -> its grid assignment (for plotting accuracy against swept values)."""
    if not study.grid:
        return {}
    keys = list(study.grid)
    return {_point_name(dict(zip(keys, vals))): dict(zip(keys, vals))
            for vals in itertools.product(*(study.grid[k] for k in keys))}
