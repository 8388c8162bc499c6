"""What the stage notebooks (``notebooks/01_data`` .. ``04_neuron``) share: opening a run from
their parameters (:func:`open_run`) and the tables they display."""
from __future__ import annotations

import atexit
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from IPython import get_ipython

from neuron.config import PROJECT_ROOT, RunConfig, load_run_config
from neuron.evaluate import PROTOCOL_LABELS, confusion_matrix_unseen, per_class_accuracy
from neuron.io import torch_load
from neuron.manifest import write_manifest
from neuron.side_info import LEVELS, class_name_side_info, load_side_info
from neuron.stages import METHODS, DataBundle, setup_torch, side_info_folder


@dataclass
class Run:
    """An opened run: its validated parameters, folder, figure folder, torch device and manifest."""

    cfg: RunConfig
    run_dir: Path
    figures: Path
    device: torch.device
    manifest: dict


def open_run(run_file: str | Path = "", config: dict | None = None, run_dir: str | Path = "",
             force: bool = False) -> Run:
    """Open a run from a stage notebook's parameters (the set-up every stage notebook shares).

    ``run_file``: a run parameter file (relative to the working directory, else to the project
    root); empty: ``config``, a run parameter dict. ``run_dir``: the run folder (relative paths
    under the project root); empty: ``runs/notebook_<name>/default/<split>_<index>/seed<seed>``.
    Creates the folder, writes (or checks) its ``manifest.json``, seeds torch and picks the
    device (:func:`neuron.stages.setup_torch`), silences UserWarnings in the report and prints
    one line naming the run. Folders it creates are removed again when a cell of the notebook
    fails and the run left nothing in them but its manifest (:func:`remove_after_failure`), so
    a failed ``papermill`` run leaves no empty ``runs/notebook_<name>/`` behind.

    Raises:
        ConfigError: invalid run parameters.
        NeuronError: ``run_dir`` holds outputs of other parameters (unless ``force``).
    """
    warnings.filterwarnings("ignore", category=UserWarning)
    if run_file:
        run_file = Path(run_file) if Path(run_file).exists() else PROJECT_ROOT / run_file
    cfg = load_run_config(run_file or config or {})
    folder = Path(run_dir or f"runs/notebook_{cfg.name.replace('/', '_')}/default/"
                  f"{cfg.data.split}_{cfg.data.split_index}/seed{cfg.seed}")
    folder = folder if folder.is_absolute() else PROJECT_ROOT / folder
    created = first_missing(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        manifest = write_manifest(folder, cfg, force=force)
    except BaseException:
        remove_unused_run(folder, created)
        raise
    remove_after_failure(folder, created)
    device = setup_torch(cfg)
    print(f"run {cfg.name}: {cfg.data.dataset} split {cfg.data.split}#{cfg.data.split_index}, "
          f"seed {cfg.seed}, device {device}" + (f", from {run_file.name}" if run_file else ""))
    return Run(cfg, folder, folder / "figures", device, manifest)


def first_missing(folder: Path) -> Path | None:
    """The topmost folder on the way to ``folder`` that does not exist yet (``folder`` itself
    or one of its parents); None when ``folder`` exists."""
    missing = None
    for p in (folder, *folder.parents):
        if p.exists():
            break
        missing = p
    return missing


def remove_unused_run(folder: Path, created: Path | None) -> bool:
    """Remove ``created`` (the folders made for the run ``folder``, from :func:`first_missing`)
    when no file is in it but the run's ``manifest.json``; True when removed. Folders that
    existed before the run, or that hold any output, are never touched."""
    if created is None or not created.is_dir():
        return False
    if any(p.is_file() and p != folder / "manifest.json" for p in created.rglob("*")):
        return False
    shutil.rmtree(created)
    return True


def remove_after_failure(folder: Path, created: Path | None) -> None:
    """In a Jupyter kernel: once a cell fails, remove the run's unused folders
    (:func:`remove_unused_run`) when the kernel exits (papermill stops at the failed cell and
    shuts the kernel down; in JupyterLab the folder stays while the kernel lives). Outside a
    kernel, or when ``open_run`` created nothing, it does nothing."""
    if created is None:
        return
    shell = get_ipython()
    if shell is None:
        return
    failed = []

    def note_failure(result) -> None:
        if not result.success:
            failed.append(True)

    shell.events.register("post_run_cell", note_failure)
    atexit.register(lambda: failed and remove_unused_run(folder, created))


def side_info_examples(cfg: RunConfig, bundle: DataBundle, class_id: int, n: int = 3) -> pd.DataFrame:
    """A table of the first ``n`` descriptions of one class at every level."""
    folder = side_info_folder(cfg, bundle.root)
    names = bundle.class_names
    info = (class_name_side_info(names, k=cfg.side_info.k) if folder is None
            else load_side_info(folder, names, k=cfg.side_info.k))
    name = names[class_id]
    return pd.DataFrame([{"level": lv, "#": i + 1, "description": d}
                         for lv in LEVELS for i, d in enumerate(info[lv][name][:n])]).set_index(["level", "#"])


#: Column label -> metric name (``<protocol>/<metric>`` in ``metrics.json``) of :func:`results_table`.
METRIC_COLUMNS = {
    "ZSL top-1": "zsl_top1", "ZSL top-5": "zsl_top5", "GZSL seen": "gzsl_seen",
    "GZSL unseen": "gzsl_unseen", "GZSL H": "gzsl_h",
}


#: What an "n/a" in :func:`results_table` means (the notebook prints it under the table).
NOT_AVAILABLE_NOTE = (
    "n/a: not defined for this protocol. The official code reports ZSL top-1 only (no top-5); "
    "GZSL H is undefined where neither a seen- nor an unseen-class test sample is named correctly "
    "(S + U = 0). Under the official-code protocol a GZSL 0.00 is measured, not missing: the pair "
    "of calibration constants it picks on the test set left every sample of that group wrong.")


def results_table(metrics: dict) -> pd.DataFrame:
    """One run's results (%, 2 decimals, as text): rows method x protocol (labelled by
    :data:`neuron.evaluate.PROTOCOL_LABELS`), columns ZSL / GZSL metrics (:data:`METRIC_COLUMNS`).

    An entry the protocol does not define is ``"n/a"`` (:data:`NOT_AVAILABLE_NOTE`), never NaN:
    a metric missing from ``metrics`` (the official-code protocol has no ZSL top-5) and GZSL H
    where seen and unseen accuracy are both 0 (H = 2SU/(S+U) is 0/0)."""
    rows = []
    for method in METHODS:
        m = metrics.get(method)
        if not m:
            continue
        for proto, label in PROTOCOL_LABELS.items():
            values = {col: m.get(f"{proto}/{key}") for col, key in METRIC_COLUMNS.items()}
            if all(v is None for v in values.values()):
                continue
            if values["GZSL seen"] == 0 and values["GZSL unseen"] == 0:
                values["GZSL H"] = None
            rows.append({"method": method, "protocol": label,
                         **{col: "n/a" if v is None or not np.isfinite(v) else f"{float(v):.2f}"
                            for col, v in values.items()}})
    return pd.DataFrame(rows, columns=["method", "protocol", *METRIC_COLUMNS]).set_index(["method", "protocol"])


def headline_lines(metrics: dict) -> list[str]:
    """One line per method: ZSL top-1 and GZSL H (%, 1 decimal) under each protocol, for the
    notebook's checked output (numbers, not metric names); "n/a" where undefined."""
    table = results_table(metrics)
    lines = []
    for (method, label), row in table.iterrows():
        top1, h = (v if v == "n/a" else f"{float(v):.1f}" for v in (row["ZSL top-1"], row["GZSL H"]))
        lines.append(f"{method}, {label}: ZSL top-1 {top1}, GZSL H {h}")
    return lines


def compactness_table(compactness: dict) -> pd.DataFrame:
    """Intra-class compactness per evolution round, rounds numbered from 1 as in
    :func:`neuron.analysis.plot_compactness`: ``{branch: [round 1, round 2, ...]}`` -> rows
    ``round`` 1..R, one column per branch, 4 decimals."""
    table = pd.DataFrame(compactness).round(4)
    table.index = pd.RangeIndex(1, len(table) + 1, name="round")
    return table


def one_per_class(labels) -> list[int]:
    """Index of the first sample of every class present in ``labels`` ``(N,)``, by class id."""
    labels = np.asarray(labels)
    return [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]


def load_scores(run_dir: Path) -> dict:
    """The test scores and representations saved by :func:`neuron.stages.stage_neuron`
    (``scores.pt``), as numpy: ``labels (N,)``, ``classes``, ``fused (N, C)``, per-round
    ``spatial_reps`` / ``temporal_reps`` ``(N, D)`` and ``temporal_prototypes``;
    ``unseen_mask`` is set by :func:`unseen_confusion`."""
    s = torch_load(Path(run_dir) / "scores.pt")
    if s.get("fusion") != "mean_log_softmax":
        warnings.warn(f"{run_dir}/scores.pt predates the single fusion rule (its fused scores are a sum "
                      "of softmaxes, not the mean log-softmax of metrics.json); rerun the neuron stage",
                      stacklevel=2)
    labels = s["labels"].numpy()
    classes = s["classes"].numpy()
    return {"labels": labels, "classes": classes, "fused": s["fused"].numpy(),
            "unseen_mask": None, "spatial_reps": [r.numpy() for r in s["spatial_reps"]],
            "temporal_reps": [r.numpy() for r in s["temporal_reps"]],
            "temporal_prototypes": [q.numpy() for q in s["temporal_prototypes"]]}


def unseen_confusion(scores: dict, unseen: list[int]):
    """(confusion matrix over unseen classes, per-class ZSL accuracy dict); sets ``unseen_mask``.

    Uses ``scores["fused"]``, the same fused scores (mean final-round log-softmax) as the
    headline metrics, so the diagonal of the matrix over the sample count is the ZSL top-1."""
    C = int(max(scores["classes"].max(), scores["labels"].max())) + 1
    full = np.full((len(scores["labels"]), C), -1e4, dtype=np.float32)
    full[:, scores["classes"]] = scores["fused"]
    scores["unseen_mask"] = np.isin(scores["labels"], unseen)
    return (confusion_matrix_unseen(full, scores["labels"], unseen),
            per_class_accuracy(full, scores["labels"], unseen, candidates=unseen))
