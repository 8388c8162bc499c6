"""Command line: ``python -m neuron <command>``.

- ``run [STUDY.yaml] [--force] [--stages data side_info ...] [--executor serial|local|slurm]
  [--jobs N] [--resources KEY=VALUE ...]``: run a study end to end (default study:
  params/studies/utd_mhad_quick.yaml; runs in parallel processes or as Slurm jobs; the same
  command again resumes an interrupted study, also after Ctrl-C). Runs go to runs/<study>/,
  reports to reports/<study>/ (committed); quick checks such as params/studies/smoke.yaml
  write their reports to runs/reports/<study>/ instead (the study's ``reports_root``).
- ``validate FILE.yaml ...``: validate parameter files (datasets, splits, runs, studies).
- ``summarise STUDY.yaml [--seeds ...]``: rewrite a study's summary from its finished runs.
- ``expand STUDY.yaml``: list the runs a study expands into.
- ``index [REPORTS]``: scrub machine paths from the reports, regenerate the tables of every
  study's ``README.md`` and of the project README, and write ``reports/README.md`` and
  ``reports/index.html``.
- ``predict --run RUN_DIR --input CLIP (--classes TEXT ... | --classes-file FILE | --side-info
  FOLDER) [--top-k K] [--method neuron|baseline|auto] [--sample I] [--out FILE.json]``: zero-shot
  prediction of one clip with a finished run (:mod:`neuron.predict`); prints the top-k classes and
  writes JSON (default ``RUN_DIR/predictions/<clip>-<method>.json``).
- ``verify reports/<study> [--runs RUN ...] [--strict]``: rerun committed runs into a temporary
  folder and compare their per-sample outcomes with the committed ones (:mod:`neuron.verify`;
  exit status 0 when reproduced).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from neuron.errors import NeuronError

DEFAULT_STUDY = Path("params/studies/utd_mhad_quick.yaml")  # the main job (scripts/main.sh)


def _validate(path: Path) -> str:
    from neuron import config

    kind = path.parent.name
    if kind == "datasets":
        config.from_dict(config.DatasetSpec, config.read_yaml(path), str(path))
    elif kind == "splits":
        sp = config.from_dict(config.SplitSpec, config.read_yaml(path), str(path))
        sp.check_against(len(config.load_dataset_spec(sp.dataset).class_names), str(path))
    elif kind == "runs":
        config.load_run_config(path)
    elif kind == "studies":
        from neuron.pipeline import expand_study

        return f"{len(expand_study(config.load_study_config(path)))} runs"
    else:
        raise NeuronError(f"{path}: not under params/{{datasets,splits,runs,studies}}")
    return "ok"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neuron", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_run = sub.add_parser("run", help="run a study (params/studies/*.yaml)")
    p_run.add_argument("study", type=Path, nargs="?", default=DEFAULT_STUDY,
                       help=f"study file (default {DEFAULT_STUDY})")
    p_run.add_argument("--force", action="store_true",
                       help="rerun every stage and overwrite run folders of other parameters")
    p_run.add_argument("--stages", nargs="+", default=None,
                       help="only these stages (data side_info encoder neuron)")
    p_run.add_argument("--log-output", action="store_true",
                       help="stream the notebooks' output (cell by cell) to the terminal")
    p_run.add_argument("--seeds", nargs="+", type=int, default=None,
                       help="run only these seeds (replaces the study's seeds)")
    p_run.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                       help="override run parameters, e.g. --set num_threads=1 neuron.top_k=5 "
                            "(values parsed as YAML)")
    p_run.add_argument("--points", nargs="+", default=None, metavar="NAME",
                       help="run only these grid points / variants (the summary covers all finished runs)")
    p_run.add_argument("--splits", nargs="+", default=None, metavar="SPLIT",
                       help="run only these of the study's splits: family#index (e.g. "
                            "kinder_gator_48_10#0) or a whole family (the summary covers all finished runs)")
    p_run.add_argument("--runs-root", type=Path, default=None,
                       help="folder for run outputs (default runs/); the study gets a subfolder; "
                            "the cache moves along to RUNS_ROOT/.cache unless NEURON_CACHE is set")
    p_run.add_argument("--reports-root", type=Path, default=None,
                       help="folder for reports; the study gets a subfolder (default: the study's "
                            "reports_root: reports/, committed; runs/reports/ for the smoke study, "
                            "so quick checks leave reports/ alone)")
    p_run.add_argument("--executor", default="serial",
                       choices=["serial", "local", "slurm", "submitit-local", "submitit-debug"],
                       help="serial: one process (default); local: up to --jobs runs at once, one "
                            "process each; slurm: one Slurm job per run (submitit); submitit-local/"
                            "submitit-debug: submitit's local and in-process executors")
    p_run.add_argument("--jobs", type=int, default=2, help="runs at once for --executor local (default 2)")
    p_run.add_argument("--resources", nargs="+", default=[], metavar="KEY=VALUE",
                       help="override the study's resources for --executor slurm, e.g. partition=gpu "
                            "gpus_per_node=1 cpus_per_task=8 timeout_min=120 mem_gb=32")
    p_val = sub.add_parser("validate", help="validate parameter files")
    p_val.add_argument("files", nargs="+", type=Path)
    p_sum = sub.add_parser("summarise", help="(re)write a study's summary from its finished runs")
    p_sum.add_argument("study", type=Path)
    p_sum.add_argument("--seeds", nargs="+", type=int, default=None)
    p_exp = sub.add_parser("expand", help="list the runs of a study")
    p_exp.add_argument("study", type=Path)
    p_idx = sub.add_parser("index", help="scrub machine paths from reports/, regenerate the README tables "
                                         "and write reports/README.md and reports/index.html")
    p_idx.add_argument("reports", type=Path, nargs="?", default=None, help="reports folder (default reports/)")
    p_pred = sub.add_parser("predict", help="zero-shot prediction of one clip with a finished run",
                            description="Which of the given classes is this clip? Scores one clip with a "
                            "finished run's encoder and Neuron (or baseline) head; the class texts are "
                            "embedded with the run's text encoder.")
    p_pred.add_argument("--run", type=Path, required=True, help="a finished run folder (manifest.json, neuron.ckpt)")
    p_pred.add_argument("--input", type=Path, required=True,
                        help="the clip: generic .npz, NTU .skeleton, Kinder-Gator .csv, UTD-MHAD .mat, NW-UCLA .json")
    p_pred.add_argument("--classes", nargs="+", default=None, metavar="TEXT", help="class names (quote each)")
    p_pred.add_argument("--classes-file", type=Path, default=None, help="class names, one per line")
    p_pred.add_argument("--side-info", default=None, metavar="FOLDER",
                        help="side-information folder (six level JSON files) with the classes' descriptions; "
                             "its classes unless --classes/--classes-file; 'run' = the run's own")
    p_pred.add_argument("--top-k", type=int, default=5, help="classes to list (default 5)")
    p_pred.add_argument("--method", default="auto", choices=["neuron", "baseline", "auto"],
                        help="the head (default auto: Neuron when trained, else the baseline)")
    p_pred.add_argument("--sample", default=None, help="index or name of the sample in a generic .npz of several")
    p_pred.add_argument("--out", type=Path, default=None,
                        help="JSON output (default RUN/predictions/<clip>-<method>.json)")
    p_ver = sub.add_parser("verify", help="rerun committed runs of a report and compare their outcomes")
    p_ver.add_argument("report", type=Path, help="a study report folder, e.g. reports/utd_mhad_quick")
    p_ver.add_argument("--runs", nargs="+", default=None, metavar="RUN",
                       help="only these runs: run folders (default/utd_mhad_22_5_0/seed0) or split "
                            "keys (utd_mhad_22_5#0); default every committed run")
    p_ver.add_argument("--strict", action="store_true",
                       help="fail on any difference, also when the environment differs")
    p_ver.add_argument("--workdir", type=Path, default=None,
                       help="keep the rerun here instead of a temporary folder")
    p_ver.add_argument("--cache", type=Path, default=None,
                       help="cache shared by several verifications (start it empty; default a fresh "
                            "one in the work folder)")
    p_ver.add_argument("--json", type=Path, default=None,
                       help="also write the result as JSON, with the command, date, commit and "
                            "machine (reports/<study>/verify.json is shown in the study's README)")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "run":
            from neuron.pipeline import run_study

            import yaml

            overrides = {}
            for item in args.set:
                key, sep, val = item.partition("=")
                if not sep:
                    raise NeuronError(f"--set {item!r}: expected KEY=VALUE")
                overrides[key] = yaml.safe_load(val)
            resources = {}
            for item in args.resources:
                key, sep, val = item.partition("=")
                if not sep:
                    raise NeuronError(f"--resources {item!r}: expected KEY=VALUE")
                resources[key] = yaml.safe_load(val)
            study = args.study
            if study == DEFAULT_STUDY and not study.exists():  # called from another folder
                from neuron.config import PROJECT_ROOT

                study = PROJECT_ROOT / DEFAULT_STUDY
            out = run_study(study, force=args.force, only_stages=args.stages,
                            log_output=args.log_output, seeds=args.seeds, overrides=overrides,
                            runs_root=args.runs_root, reports_root=args.reports_root,
                            points=args.points, executor=args.executor, jobs=args.jobs,
                            resources=resources, splits=args.splits)
            from neuron.config import load_study_config
            from neuron.pipeline import outcome_lines, study_dirs

            runs_dir, _ = study_dirs(load_study_config(study), args.runs_root, args.reports_root)
            if args.stages and "neuron" not in args.stages:  # no summary was written
                print(f"stages {' '.join(args.stages)} finished; run folders under {runs_dir}")
            else:
                print(f"reports written to {out}")
                print("\n".join(outcome_lines(runs_dir, out)))
        elif args.cmd == "summarise":
            from neuron.config import load_study_config
            from neuron.pipeline import study_dirs, summarise

            study = load_study_config(args.study)
            if args.seeds:
                study.seeds = list(args.seeds)
            out = summarise(study, *study_dirs(study))  # the study's reports_root (runs/reports for smoke)
            print(f"summary written to {out}")
        elif args.cmd == "verify":
            from neuron.io import write_json
            from neuron.manifest import git_commit
            from neuron.verify import verify, verify_provenance

            started, commit = time.time(), git_commit()
            status, res, text = verify(args.report, runs=args.runs, strict=args.strict,
                                       workdir=args.workdir, cache=args.cache)
            print(text)
            if args.json:
                given = sys.argv[1:] if argv is None else argv
                write_json(args.json, {**res.to_dict(), **verify_provenance(given, started, status, commit)})
            return status
        elif args.cmd == "validate":
            for f in args.files:
                print(f"{f}: {_validate(f)}")
        elif args.cmd == "index":
            from neuron.config import PROJECT_ROOT
            from neuron.reports import scrub_reports, write_all

            root = args.reports or PROJECT_ROOT / "reports"
            for path in scrub_reports(root):
                print(f"scrubbed machine paths: {path}")
            for path in write_all(root):
                print(f"written: {path}")
        elif args.cmd == "predict":
            from neuron.predict import predict, write_prediction

            pred = predict(args.run, args.input, classes=args.classes, classes_file=args.classes_file,
                           side_info=args.side_info, top_k=args.top_k, method=args.method, sample=args.sample)
            print(pred)
            print(f"prediction written to {write_prediction(pred, args.out)}")
        elif args.cmd == "expand":
            from neuron.config import load_study_config
            from neuron.pipeline import expand_study

            for r in expand_study(load_study_config(args.study)):
                print(r.rel_dir)
    except NeuronError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.cmd != "run":
            raise
        # finished stages are stamped and training checkpoints every epoch: nothing is lost
        print("\ninterrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
