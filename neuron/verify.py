"""Does a committed study reproduce? ``python -m neuron verify reports/<study> [--runs RUN ...]``.

Reruns committed runs of a study report from their recorded parameters into a temporary folder
(with a fresh cache, so nothing trained earlier is reused) and compares each run's per-sample
outcomes (:func:`neuron.stats.per_sample_predictions`, the report's ``outcomes.json``) with the
committed ones.

* Identical predictions of every method and protocol: the run is **reproduced**.
* Otherwise, per point and method, the differences of the metrics (rerun - committed) with their
  paired bootstrap intervals (:func:`neuron.stats.bootstrap_compare`, the same test samples
  resampled for both), and the causes visible in the manifests: the commit, the numerics
  (:func:`neuron.manifest.numerics`: torch and oneDNN versions, CPU instruction set, threads,
  precision), the data (processed-data hash, test-set hash), the side information, packages.

Where the committed manifests come from: the report's ``manifests.json`` (written by
``summarise``); for a single-run report made before that file existed, the manifest its
``02_side_info.html`` stage report prints. The rerun uses the committed run's parameters when
they are recorded, else the study's parameters of today (``study.json``'s study over today's run
file: a note says so).

Exit status (:func:`verify`): 0 when every run reproduces, or when outcomes differ and the
recorded environment differs too (the causes and differences are printed; whether any interval
excludes 0 is said); 1 when outcomes differ while nothing in the recorded environment differs
(only the commit, i.e. a change of the numerics in the code), when the environment is not
recorded, or on any difference under ``strict``.
"""
from __future__ import annotations

import ast
import dataclasses
import html
import json
import os
import re
import tempfile
import time
from datetime import datetime, timezone
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuron.config import StudyConfig, from_dict, load_run_config, to_dict
from neuron.errors import ConfigError, NeuronError
from neuron.manifest import machine, params_diff, read_report_manifests, report_entry
from neuron.pipeline import STAGES, RunSpec, expand_study, run_rel_dir, run_stages
from neuron.stats import BOOT_METRICS, bootstrap_compare, outcome_metrics
from neuron.reports import portable_command
from neuron.study import collect_outcomes
from neuron.summary import relative_verdict

#: Manifest fields compared as the environment of a run (``numerics.*`` are the ones CPU results
#: depend on; packages are listed when they differ).
NUMERICS_FIELDS = ("torch", "onednn", "onednn_enabled", "cpu_capability", "threads", "precision",
                   "isa_env")


@dataclass
class VerifyResult:
    """What :func:`compare` found. ``runs``: rel_dir -> ``"reproduced"`` / ``"differs"``;
    ``causes``: rel_dir -> list of ``(field, committed, rerun)``; ``differences``: one record per
    (point, method, protocol, metric) that differs; ``notes``: free text."""

    runs: dict[str, str] = field(default_factory=dict)
    causes: dict[str, list[tuple[str, Any, Any]]] = field(default_factory=dict)
    env_recorded: bool = True
    differences: list[dict] = field(default_factory=list)
    contrasts: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return bool(self.runs) and all(v == "reproduced" for v in self.runs.values())

    @property
    def env_differs(self) -> bool:
        """Something other than the commit differs between committed and rerun manifests."""
        return any(f != "git_commit" for c in self.causes.values() for f, _, _ in c)

    @property
    def interval_excludes_zero(self) -> bool:
        return any(d.get("ci") and not (d["ci"][0] <= 0.0 <= d["ci"][1]) for d in self.differences)

    def exit_status(self, strict: bool = False) -> int:
        if self.reproduced:
            return 0
        if strict or not self.env_recorded or not self.env_differs:
            return 1
        return 0

    def to_dict(self) -> dict:
        return {"reproduced": self.reproduced, "runs": self.runs, "env_recorded": self.env_recorded,
                "causes": {k: [list(c) for c in v] for k, v in self.causes.items()},
                "env_differs": self.env_differs, "differences": self.differences,
                "interval_excludes_zero": self.interval_excludes_zero, "contrasts": self.contrasts,
                "verdicts_changed": self.verdicts_changed, "notes": self.notes}

    @property
    def verdicts_changed(self) -> list[dict]:
        """The :attr:`contrasts` whose verdict (better / worse / no difference) differs between
        the committed run and the rerun."""
        return [c for c in self.contrasts if c["committed_verdict"] != c["rerun_verdict"]]


# --------------------------------------------------------------------------- committed side
def load_report(report: str | Path) -> tuple[StudyConfig, list[dict], dict[str, dict]]:
    """A committed report's study (from ``study.json``), its outcome records (``outcomes.json``)
    and its run manifests (rel_dir -> :func:`neuron.manifest.report_entry`).

    Raises:
        NeuronError: the folder lacks ``study.json`` or ``outcomes.json``, or they do not parse.
    """
    report = Path(report)
    for name in ("study.json", "outcomes.json"):
        if not (report / name).exists():
            raise NeuronError(f"{report}: no {name} (not a study report with per-sample outcomes)")
    try:
        study = from_dict(StudyConfig, json.loads((report / "study.json").read_text())["config"],
                          f"{report / 'study.json'}: config")
        records = json.loads((report / "outcomes.json").read_text())["runs"]
    except (ValueError, KeyError, TypeError) as e:
        raise NeuronError(f"{report}: study.json / outcomes.json do not parse ({e})") from e
    manifests = read_report_manifests(report)
    if not manifests and len(records) == 1:
        man = manifest_from_stage_report(report)
        if man is not None:
            manifests = {rel_dir(records[0]): report_entry(man)}
    return study, records, manifests


def manifest_from_stage_report(report: Path) -> dict | None:
    """The run manifest a single-run report's stage HTML prints (``02_side_info.html``, the last
    stage that shows it in full), or None. For reports made before ``manifests.json``."""
    for name in ("02_side_info.html", "01_data.html"):
        path = report / name
        if not path.exists():
            continue
        for m in re.finditer(r"<pre>(.*?)</pre>", path.read_text(), re.S):
            text = html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip()
            if text.startswith("{'params'"):
                try:
                    return ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    continue
    return None


def rel_dir(record: dict) -> str:
    """``<point>/<family>_<index>/seed<seed>`` of an outcome record."""
    return str(run_rel_dir(record["point"], record["split"], int(record["seed"])))


def select(records: list[dict], wanted: list[str] | None) -> list[dict]:
    """The records named by ``wanted``: run folders (``default/utd_mhad_22_5_0/seed0``) or split
    keys (``utd_mhad_22_5#0``: every point and seed of it); all when ``wanted`` is empty.

    Raises:
        ConfigError: a name matches no committed run (the error lists them).
    """
    if not wanted:
        return list(records)
    out = []
    for w in wanted:
        hit = [r for r in records if w.strip("/") == rel_dir(r) or w == r["split"]]
        if not hit:
            raise ConfigError(f"--runs {w!r} matches no committed run; runs: "
                              f"{', '.join(rel_dir(r) for r in records)}")
        out += [r for r in hit if r not in out]
    return out


def run_specs(study: StudyConfig, records: list[dict], manifests: dict[str, dict],
              notes: list[str]) -> list[RunSpec]:
    """The runs to redo: today's expansion of the study, with each run's committed parameters
    (from its manifest) where recorded. Differences between the two are noted."""
    # the study file as last summarised may name fewer seeds than its committed runs have (a
    # summary of a later --seeds call keeps the earlier runs): expand over every committed seed
    seeds = sorted(set(study.seeds) | {int(r["seed"]) for r in records})
    expanded = {str(r.rel_dir): r for r in expand_study(dataclasses.replace(study, seeds=seeds))}
    out = []
    for rec in records:
        rd = rel_dir(rec)
        spec = expanded.get(rd)
        if spec is None:
            raise NeuronError(f"run {rd} is not in today's expansion of study {study.name}")
        params = (manifests.get(rd) or {}).get("params")
        if params:
            diff = params_diff(params, spec.config)
            if diff:
                notes.append(f"{rd}: today's parameters differ from the committed run's "
                             f"({', '.join(diff[:8])}); the rerun uses the committed ones")
            committed = {**params, "data": {**params["data"],
                                            "data_root": spec.config["data"].get("data_root")}}
            try:
                cfg = to_dict(load_run_config(committed))
            except ConfigError as e:
                notes.append(f"{rd}: the committed parameters no longer validate ({e}); "
                             "the rerun uses today's")
                cfg = spec.config
        else:
            notes.append(f"{rd}: no committed parameters; the rerun uses today's run file")
            cfg = spec.config
        out.append(RunSpec(spec.point, spec.split, spec.index, spec.seed, cfg))
    return out


# --------------------------------------------------------------------------- rerun
def rerun(specs: list[RunSpec], workdir: Path, log_output: bool = False,
          cache: str | Path | None = None) -> tuple[list[dict], dict[str, dict]]:
    """Run every stage of ``specs`` under ``workdir/runs`` with the cache ``cache`` (default
    ``workdir/cache``, i.e. nothing trained earlier is reused); returns their outcome records and
    report manifests (as :func:`load_report`).

    A ``cache`` shared by several verifications (one encoder and its features for every study on
    the same split, seed and thread count) skips retraining what today's code has already trained
    from the same stage key in that cache; start it empty so that everything in it comes from
    the code being verified."""
    runs_root = Path(workdir) / "runs"
    old = os.environ.get("NEURON_CACHE")
    os.environ["NEURON_CACHE"] = str(Path(cache) if cache is not None else Path(workdir) / "cache")
    try:
        for spec in specs:
            run_stages(runs_root / spec.rel_dir, spec.config, list(STAGES), log_output=log_output)
    finally:
        if old is None:
            os.environ.pop("NEURON_CACHE", None)
        else:
            os.environ["NEURON_CACHE"] = old
    records = collect_outcomes(runs_root)
    manifests = {str(s.rel_dir): report_entry(json.loads((runs_root / s.rel_dir / "manifest.json")
                                                          .read_text())) for s in specs}
    return records, manifests


# --------------------------------------------------------------------------- comparison
def side_runs(pairs: list[tuple[dict, dict]], side: int, method: str) -> list[dict]:
    """The runs of one side (0 committed, 1 rerun) of ``(committed, rerun)`` outcome-record
    pairs for ``method``, in the form :func:`neuron.stats.bootstrap_compare` takes."""
    return [{"split": p[side]["split"], "seed": p[side]["seed"], "labels": p[side]["labels"],
             "unseen": p[side]["unseen"], "outcome": p[side]["methods"][method]} for p in pairs]


def _numerics(entry: dict) -> dict:
    """The numerics of a report entry; older manifests without ``numerics`` give what they hold
    (torch version, thread count, precision)."""
    n = dict(entry.get("numerics") or {})
    n.setdefault("torch", (entry.get("packages") or {}).get("torch"))
    params = entry.get("params") or {}
    threads = entry.get("torch_threads") or params.get("num_threads") or None
    if threads:
        n.setdefault("threads", threads)
    if params.get("precision"):
        n.setdefault("precision", params["precision"])
    return n


def environment_causes(old: dict, new: dict, old_rec: dict | None = None,
                       new_rec: dict | None = None) -> list[tuple[str, Any, Any]]:
    """``(field, committed, rerun)`` for every recorded field that differs between two report
    entries (:func:`neuron.manifest.report_entry`) and, given, two outcome records (test-set
    hash and labels). Fields recorded on one side only are not compared."""
    out: list[tuple[str, Any, Any]] = []
    a, b = old.get("git_commit"), new.get("git_commit")
    if a and b and a.split("+")[0] != b.split("+")[0]:
        out.append(("git_commit", a, b))
    na, nb = _numerics(old), _numerics(new)
    for k in NUMERICS_FIELDS:
        if k in na and k in nb and na[k] != nb[k]:
            out.append((f"numerics.{k}", na[k], nb[k]))
    da, db = old.get("data") or {}, new.get("data") or {}
    for k in ("processed_key", "samples", "test", "test_unseen", "skipped"):
        if k in da and k in db and da[k] != db[k]:
            out.append((f"data.{k}", da[k], db[k]))
    if old.get("side_info") and new.get("side_info") and old["side_info"] != new["side_info"]:
        out.append(("side_info", old["side_info"], new["side_info"]))
    pa, pb = old.get("packages") or {}, new.get("packages") or {}
    for k in sorted(pa.keys() & pb.keys() - {"torch", "platform"}):
        if pa[k] != pb[k]:
            out.append((f"packages.{k}", pa[k], pb[k]))
    if old_rec is not None and new_rec is not None:
        if old_rec.get("test_sha") != new_rec.get("test_sha"):
            out.append(("data.test_sha", old_rec.get("test_sha"), new_rec.get("test_sha")))
        elif old_rec.get("labels") != new_rec.get("labels"):
            out.append(("data.test_labels", "committed", "other"))
    return out


def compare(committed: list[dict], committed_manifests: dict[str, dict], rerun_records: list[dict],
            rerun_manifests: dict[str, dict], n_boot: int = 2000, seed: int = 0) -> VerifyResult:
    """Compare rerun outcome records with the committed ones of the same runs.

    Per run: reproduced when every method's per-sample predictions (both protocols) are
    identical. For the runs that differ, per point, method and protocol: each metric of
    :data:`neuron.stats.BOOT_METRICS` for the rerun and the committed run (mean over the runs
    of that point) and the rerun - committed difference with its paired 95 % bootstrap interval
    (when the test samples pair), as records ``{"point", "method", "protocol", "metric",
    "committed", "rerun", "diff", "ci"}`` (percentages; ``ci`` None when unpaired).

    Raises:
        NeuronError: a committed run has no rerun record.
    """
    res = VerifyResult()
    new_by = {rel_dir(r): r for r in rerun_records}
    differing: dict[str, list[tuple[dict, dict]]] = {}
    for rec in committed:
        rd = rel_dir(rec)
        new = new_by.get(rd)
        if new is None:
            raise NeuronError(f"run {rd}: the rerun wrote no per-sample outcomes")
        same = (rec.get("labels") == new.get("labels") and rec["methods"] == new["methods"])
        res.runs[rd] = "reproduced" if same else "differs"
        old_man, new_man = committed_manifests.get(rd), rerun_manifests.get(rd) or {}
        if old_man is None:
            res.env_recorded = False
            causes = environment_causes({}, new_man, rec, new)
        else:
            causes = environment_causes(old_man, new_man, rec, new)
        if causes:
            res.causes[rd] = causes
        if not same:
            differing.setdefault(rec["point"], []).append((rec, new))
    for point, pairs in differing.items():
        methods = [m for m in pairs[0][0]["methods"] if all(m in o["methods"] and m in n["methods"]
                                                            for o, n in pairs)]
        for method in methods:
            if all(o["methods"][method] == n["methods"][method] for o, n in pairs):
                continue
            for protocol in ("honest", "paper"):
                if not all(protocol in o["methods"][method] and protocol in n["methods"][method]
                           for o, n in pairs):
                    continue
                old_runs, new_runs = side_runs(pairs, 0, method), side_runs(pairs, 1, method)
                old_m = [outcome_metrics(r["labels"], r["unseen"], r["outcome"], protocol) for r in old_runs]
                new_m = [outcome_metrics(r["labels"], r["unseen"], r["outcome"], protocol) for r in new_runs]
                try:
                    boot = bootstrap_compare(new_runs, old_runs, protocol=protocol, n_boot=n_boot,
                                             seed=seed, names=("rerun", "committed"))["metrics"]
                except ValueError as e:  # other test samples: no paired interval
                    boot = None
                    res.notes.append(f"{point} {method} {protocol}: no paired interval ({e})")
                for k in BOOT_METRICS:
                    a = sum(m[k] for m in old_m) / len(old_m)
                    b = sum(m[k] for m in new_m) / len(new_m)
                    if a == b and (boot is None or boot[k]["diff_ci"] == [0.0, 0.0]):
                        continue
                    res.differences.append({
                        "point": point, "method": method, "protocol": protocol, "metric": k,
                        "committed": a, "rerun": b, "diff": b - a,
                        "ci": boot[k]["diff_ci"] if boot is not None else None})
    res.contrasts = contrasts(committed, rerun_records, n_boot=n_boot, seed=seed)
    return res


#: What :func:`contrasts` compares: each method against this one, on these metrics.
CONTRAST_REFERENCE = "baseline"
CONTRAST_METRICS = ("zsl_top1", "gzsl_h")


def contrasts(committed: list[dict], rerun_records: list[dict], protocol: str = "honest",
              n_boot: int = 2000, seed: int = 0) -> list[dict]:
    """Do the verified runs still say what the committed ones said? Per point and method other
    than :data:`CONTRAST_REFERENCE` (the global-alignment baseline trained beside it), the
    difference method - baseline of each metric of :data:`CONTRAST_METRICS` under ``protocol``,
    with its paired 95 % interval and verdict (:func:`neuron.stats.bootstrap_compare` over the
    verified runs of that point: one split, so a bootstrap of its test samples), on the committed
    outcomes and on the rerun's.

    Returns records ``{"point", "method", "metric", "committed", "committed_ci",
    "committed_verdict", "rerun", "rerun_ci", "rerun_verdict"}`` (percentage points; verdicts
    ``better`` / ``worse`` / ``no difference`` for the method); empty when no verified point
    has the baseline.
    """
    new_by = {rel_dir(r): r for r in rerun_records}
    by_point: dict[str, list[tuple[dict, dict]]] = {}
    for rec in committed:
        if rel_dir(rec) in new_by:
            by_point.setdefault(rec["point"], []).append((rec, new_by[rel_dir(rec)]))
    out = []
    for point, pairs in by_point.items():
        methods = [m for m in pairs[0][0]["methods"]
                   if all(m in o["methods"] and m in n["methods"] for o, n in pairs)]
        if CONTRAST_REFERENCE not in methods:
            continue
        per_side = []
        for side in (0, 1):
            per_side.append({m: bootstrap_compare(side_runs(pairs, side, m),
                                                  side_runs(pairs, side, CONTRAST_REFERENCE),
                                                  protocol=protocol, n_boot=n_boot, seed=seed,
                                                  names=(m, CONTRAST_REFERENCE))["metrics"]
                             for m in methods if m != CONTRAST_REFERENCE
                             and protocol in pairs[0][0]["methods"][m]})
        for method in per_side[0]:
            for k in CONTRAST_METRICS:
                row = {"point": point, "method": method, "metric": k}
                for name, side in (("committed", per_side[0]), ("rerun", per_side[1])):
                    m = side[method][k]
                    row[name] = m["diff"]
                    row[name + "_ci"] = list(m["diff_ci"])
                    row[name + "_verdict"] = relative_verdict(m["verdict"], method)
                out.append(row)
    return out


def format_result(res: VerifyResult, study: str, strict: bool = False) -> str:
    """The human-readable report of :func:`verify` (what the command prints)."""
    lines = [f"verify {study}: {len(res.runs)} run(s)"]
    for rd, status in res.runs.items():
        lines.append(f"  {rd}: {status}")
        for f, a, b in res.causes.get(rd, []):
            lines.append(f"      {f}: committed {a!r}, rerun {b!r}")
    if res.reproduced:
        lines.append("reproduced: identical per-sample outcomes")
    else:
        if res.differences:
            lines.append("differences (rerun - committed, percentage points, paired 95 % bootstrap interval):")
            for d in res.differences:
                ci = "unpaired" if d["ci"] is None else f"[{d['ci'][0]:+.1f}, {d['ci'][1]:+.1f}]"
                lines.append(f"  {d['point']} {d['method']} {d['protocol']}/{d['metric']}: "
                             f"{d['committed']:.1f} -> {d['rerun']:.1f} ({d['diff']:+.1f}, {ci})")
            lines.append("some interval excludes 0" if res.interval_excludes_zero
                         else "every interval covers 0")
        if not res.env_recorded:
            lines.append("DIFFERS; the committed environment is not recorded, so a change of the "
                         "numerics cannot be told from a change of the environment")
        elif res.env_differs:
            lines.append("DIFFERS with a different environment (causes listed under each run)"
                         + ("; --strict: failing" if strict else ""))
        else:
            lines.append("DIFFERS while the recorded environment is the same: a change of the "
                         "numerics (the code" + (", commit listed above" if res.causes else "")
                         + "); the committed report must be remade")
    if res.contrasts:
        lines.append(f"each method - {CONTRAST_REFERENCE} on the verified runs, committed -> rerun "
                     "(validation-calibrated, paired 95 % interval):")
        for c in res.contrasts:
            lines.append(f"  {c['point']} {c['method']} {c['metric']}: "
                         f"{c['committed']:+.1f} [{c['committed_ci'][0]:+.1f}, {c['committed_ci'][1]:+.1f}] "
                         f"{c['committed_verdict']} -> {c['rerun']:+.1f} "
                         f"[{c['rerun_ci'][0]:+.1f}, {c['rerun_ci'][1]:+.1f}] {c['rerun_verdict']}")
        lines.append(f"verdicts changed: {len(res.verdicts_changed)} of {len(res.contrasts)}")
    lines += [f"note: {n}" for n in res.notes]
    return "\n".join(lines)


def verify(report: str | Path, runs: list[str] | None = None, strict: bool = False,
           workdir: str | Path | None = None, log_output: bool = False,
           n_boot: int = 2000, cache: str | Path | None = None) -> tuple[int, VerifyResult, str]:
    """Rerun committed runs of ``report`` (all, or those named by ``runs``: see :func:`select`)
    in ``workdir`` (default: a temporary folder, removed afterwards) and compare. ``cache``: see
    :func:`rerun` (default: a fresh one inside the work folder).

    Returns ``(exit status, result, printed text)``; the exit status is
    :meth:`VerifyResult.exit_status`.

    Raises:
        NeuronError: not a report with outcomes; a run failed; a name matches no run.
    """
    report = Path(report)
    study, records, manifests = load_report(report)
    records = select(records, runs)
    notes: list[str] = []
    specs = run_specs(study, records, manifests, notes)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="neuron-verify-") as tmp:
            new_records, new_manifests = rerun(specs, Path(tmp), log_output, cache)
    else:
        new_records, new_manifests = rerun(specs, Path(workdir), log_output, cache)
    res = compare(records, manifests, new_records, new_manifests, n_boot=n_boot)
    res.notes = notes + res.notes
    return res.exit_status(strict), res, format_result(res, study.name, strict)


def verify_provenance(argv: list[str], started: float, status: int, commit: str) -> dict:
    """Where a verification was made, for its JSON record (``--json``): the command as typed
    (``python -m neuron`` + ``argv``, this machine's folders replaced: :func:`portable_command`),
    UTC date, the commit verified (``commit``, :func:`neuron.manifest.git_commit` taken before the rerun), the
    machine (:func:`neuron.manifest.machine`), wall time in seconds since ``started`` (a
    ``time.time()`` value) and the exit status."""
    return {"command": portable_command("python -m neuron " + " ".join(str(a) for a in argv)),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit, "machine": machine(),
            "seconds": round(time.time() - started, 1), "exit_status": int(status)}


__all__ = ["VerifyResult", "load_report", "select", "run_specs", "rerun", "environment_causes",
           "compare", "contrasts", "side_runs", "format_result", "verify", "verify_provenance"]
