"""Zero-shot prediction with a finished run: which of the classes a user names is this clip?

A run folder (``runs/<study>/<point>/<split>_<index>/seed<seed>/``, written by
:func:`neuron.pipeline.run_study` or notebooks 03/04) holds ``manifest.json`` (the resolved run
parameters, and under ``extra.encoder`` the folder of the pre-trained encoder in the stage
cache), ``neuron.ckpt`` and ``baseline.ckpt`` (the trained heads). :func:`predict`:

1. reads one clip from a file (:data:`CLIP_FORMATS`: the generic ``.npz`` of
   :mod:`neuron.data.generic` and the native files of the datasets the bundle reads);
2. applies the run's test-time preprocessing with the evaluation's own code: the processed-data
   step (:func:`neuron.data.cache.process`: centring on the first frame's centre joint), then
   the test window (:class:`neuron.data.loader.WindowDataset` with ``train=False``: the centred
   crop of ratio ``data.p_interval[1]`` resized to ``data.window`` frames, the run's
   ``data.stream``);
3. runs the run's frozen Shift-GCN encoder and rounds its features to float16, as the run's
   feature cache stores them (:func:`neuron.stages.stage_features`);
4. embeds the class texts with the run's text encoder (``side_info.encoder``;
   :mod:`neuron.text`): the class-name templates of
   :func:`neuron.side_info.class_name_side_info` for bare names, or the descriptions of a
   side-information folder (the six level files of :mod:`neuron.side_info.store`);
5. scores the clip with the trained Neuron head (the fused final round: mean of the spatial and
   temporal log-softmax, :func:`neuron.train.fused_final_round`) or the global-alignment
   baseline (its logits), and turns the scores into probabilities with a softmax over the
   classes given.

Because Neuron's class logits do not depend on which other classes are scored, the top-1 among
a run's unseen classes equals that run's ZSL prediction for the same test sample
(``metrics.json`` ``outcomes``).

Tensor layout at the boundary: a clip is ``(C, T, V, M)`` (coordinates, frames, joints,
persons), a batch ``(N, C, T, V, M)``; metres for the 3D datasets.

Over 600 lines as one cohesive thing: one command (clip formats, class lists, the run's
models, scoring and its figures), each part used only by prediction.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from neuron import stages, text
from neuron.config import RunConfig, data_root, load_dataset_spec, load_run_config, to_dict
from neuron.data import kinder_gator, ntu, nw_ucla, penn_action, utd_mhad
from neuron.data.base import SkeletonDataset
from neuron.data.cache import process
from neuron.data.generic import read_generic_npz
from neuron.data.layouts import LAYOUTS, JointLayout
from neuron.data.loader import WindowDataset
from neuron.errors import ConfigError, DataError, NeuronError, SideInfoError
from neuron.io import torch_load, write_json
from neuron.manifest import write_manifest
from neuron.models import GlobalAlignment, Neuron, ShiftGCN, split_cube
from neuron.models.shift_gcn import FEATURE_DIM
from neuron.side_info import class_name_side_info, load_side_info
from neuron.side_info.embed import embed_side_info
from neuron.side_info.store import level_file
from neuron.train import Features, score_baseline, score_neuron

METHODS = ("neuron", "baseline", "auto")


# --------------------------------------------------------------------------- errors
class PredictionError(NeuronError, ValueError):
    """A prediction request that cannot be served (base of the errors below)."""


class RunFolderError(PredictionError):
    """The run folder is not a finished run: no manifest, no (finished) trained weights, or the
    encoder it names is gone from the stage cache."""


class ClipMismatchError(PredictionError):
    """The clip's joint layout, joint count, channel count or person count does not fit the
    run's model."""


class ClassListError(PredictionError):
    """The class list is empty, holds fewer than two classes, an empty name or duplicates."""


# --------------------------------------------------------------------------- clip formats
@dataclass(frozen=True)
class ClipFormat:
    """One clip file format.

    Attributes:
        suffix: the file name's suffix (lower case, with the dot).
        read: ``read(path) -> (C, T, V, M) float32`` array; raises :class:`DataError` naming
            the file for a bad one.
        variables: for MATLAB ``.mat`` files, variables that identify the format (all present).
        layout: name in :data:`neuron.data.layouts.LAYOUTS` of the format's joint order; None
            when the file carries its own (generic) or the layout is not registered.
    """

    suffix: str
    read: Callable[[Path], np.ndarray]
    variables: tuple[str, ...] = ()
    layout: str | None = None


def _read_kinder_gator(path: Path) -> np.ndarray:
    return kinder_gator.read_kg_file(path, LAYOUTS["kinect_v1_20"])


def _read_nw_ucla(path: Path) -> np.ndarray:
    return nw_ucla.read_ucla_file(path)[0]


#: Clip file formats by name. A new format is one entry (a ``.mat`` format is told apart from
#: the others by its ``variables``).
CLIP_FORMATS: dict[str, ClipFormat] = {
    "generic": ClipFormat(".npz", lambda p: read_generic_npz(p).sequences[0]),
    "ntu": ClipFormat(".skeleton", ntu.load_ntu_sequence, layout="ntu_25"),
    "kinder_gator": ClipFormat(".csv", _read_kinder_gator, layout="kinect_v1_20"),
    "utd_mhad": ClipFormat(".mat", utd_mhad.read_utd_file, ("d_skel",), "kinect_v1_20"),
    "nw_ucla": ClipFormat(".json", _read_nw_ucla, layout="nw_ucla_20"),
    "penn_action": ClipFormat(".mat", penn_action.read_clip, ("x", "y", "visibility"), "penn_action_13"),
}


@dataclass
class Clip:
    """One skeleton clip read from a file.

    Attributes:
        sequence: ``(C, T, V, M)`` float32 as the format's reader returns it (metres for the 3D
            formats; NTU clips are denoised and centred by :func:`neuron.data.ntu.load_ntu_sequence`).
        layout: the joint layout when the format defines one, else None.
        path: the file.
        format: key in :data:`CLIP_FORMATS`.
        name: the sample's name (file stem, or the generic file's ``sample_names`` entry).
        label: the class name the file states, when it states one (generic files), else None.
    """

    sequence: np.ndarray
    layout: JointLayout | None
    path: Path
    format: str
    name: str
    label: str | None = None


def detect_format(path: str | os.PathLike) -> str:
    """The :data:`CLIP_FORMATS` key of a clip file, from its suffix (and, for ``.mat``, the
    variables inside, listed with :func:`scipy.io.whosmat` without loading them).

    Raises:
        DataError: no such file, an unknown suffix, an unreadable ``.mat`` file, or a ``.mat``
            file whose variables match no format.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such clip file")
    suffix = path.suffix.lower()
    cands = [name for name, f in CLIP_FORMATS.items() if f.suffix == suffix]
    if not cands:
        known = sorted({f.suffix for f in CLIP_FORMATS.values()})
        raise DataError(f"{path}: unknown clip format {suffix or '(no suffix)'!r}; expected one of {known}")
    if suffix != ".mat":
        return cands[0]
    import scipy.io

    try:
        names = {v[0] for v in scipy.io.whosmat(str(path))}
    except Exception as e:  # scipy raises many types on corrupt files
        raise DataError(f"{path}: unreadable MATLAB file ({type(e).__name__}: {e})") from e
    for name in cands:
        if set(CLIP_FORMATS[name].variables) <= names:
            return name
    raise DataError(f"{path}: MATLAB file with variables {sorted(names)} matches no clip format "
                    f"({', '.join(f'{n}: {list(CLIP_FORMATS[n].variables)}' for n in cands)})")


def read_clip(path: str | os.PathLike, sample: int | str | None = None) -> Clip:
    """Read one clip from ``path`` (format by :func:`detect_format`).

    Args:
        path: a clip file.
        sample: for a generic ``.npz`` holding several samples, the sample's index or name;
            None requires the file to hold exactly one.
    Returns:
        a :class:`Clip` with ``sequence (C, T, V, M)`` float32.
    Raises:
        DataError: naming the file for a missing, unreadable or corrupt file, or a bad
            ``sample``.
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "generic":
        ds = read_generic_npz(path)
        if sample is None:
            if len(ds) != 1:
                raise DataError(f"{path}: holds {len(ds)} samples; choose one (sample index or name)")
            i = 0
        elif isinstance(sample, str) and not sample.lstrip("-").isdigit():
            if sample not in ds.sample_names:
                raise DataError(f"{path}: no sample named {sample!r}")
            i = ds.sample_names.index(sample)
        else:
            i = int(sample)
            if not 0 <= i < len(ds):
                raise DataError(f"{path}: sample {i} outside 0..{len(ds) - 1}")
        return Clip(ds.sequences[i], ds.layout, path, fmt, ds.sample_names[i],
                    ds.class_names[int(ds.labels[i])])
    if sample not in (None, 0, "0"):
        raise DataError(f"{path}: a {fmt} file holds one clip; sample={sample!r} applies to generic .npz files")
    spec = CLIP_FORMATS[fmt]
    seq = spec.read(path)
    return Clip(np.asarray(seq, dtype=np.float32), LAYOUTS.get(spec.layout) if spec.layout else None,
                path, fmt, path.stem)


# --------------------------------------------------------------------------- class lists
def check_classes(classes: Sequence[str] | None) -> list[str]:
    """Validate a list of class texts; returns them stripped of surrounding whitespace.

    Raises:
        ClassListError: no list, fewer than two classes, an empty name, or duplicates (compared
            case-insensitively, ignoring repeated spaces).
    """
    if classes is None or isinstance(classes, str):
        raise ClassListError("expected a list of class names, e.g. ['a person waves', 'a person sits down']"
                             + (f", got the single string {classes!r}" if isinstance(classes, str) else ""))
    names = [str(c).strip() for c in classes]
    if not names:
        raise ClassListError("the class list is empty: name at least two classes")
    empty = [i for i, c in enumerate(names) if not c]
    if empty:
        raise ClassListError(f"class {empty[0] + 1} of {len(names)} is an empty name")
    if len(names) < 2:
        raise ClassListError(f"only one class ({names[0]!r}): name at least two to choose between")
    seen: dict[str, str] = {}
    dups = []
    for c in names:
        key = " ".join(c.casefold().split())
        if key in seen:
            dups.append(c if c == seen[key] else f"{seen[key]!r} / {c!r}")
        seen.setdefault(key, c)
    if dups:
        raise ClassListError(f"duplicated class name(s): {', '.join(repr(d) if '/' not in d else d for d in dups)}")
    return names


def read_classes_file(path: str | os.PathLike) -> list[str]:
    """Class names from a text file, one per line (blank lines and ``#`` comments skipped).

    Raises:
        DataError: the file is missing or unreadable. ClassListError: see :func:`check_classes`.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: unreadable class list ({type(e).__name__}: {e})") from e
    names = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    try:
        return check_classes(names)
    except ClassListError as e:
        raise ClassListError(f"{path}: {e}") from None


def side_info_classes(folder: str | os.PathLike) -> list[str]:
    """The class names of a side-information folder: the keys of its ``spatial_cg.json``.

    Raises:
        SideInfoError: the file is missing, unreadable or not a JSON object.
    """
    path = level_file(folder, "spatial_cg")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SideInfoError(f"level spatial_cg: file {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SideInfoError(f"level spatial_cg: file {path} is unreadable: {e}") from e
    if not isinstance(data, dict):
        raise SideInfoError(f"level spatial_cg: file {path} is not a JSON object {{class: [descriptions]}}")
    return list(data)


# --------------------------------------------------------------------------- the run's model
@dataclass
class Prediction:
    """The result of :func:`predict`.

    Attributes:
        classes: the class texts scored, in the order given.
        probabilities: ``(len(classes),)`` softmax over ``classes`` of the method's score.
        scores: ``(len(classes),)`` the method's score (Neuron: mean of the final-round spatial
            and temporal log-softmax; baseline: logits).
        method: ``neuron`` or ``baseline`` (the head used).
        top_k: the ``k`` most probable classes as ``(class, probability)``, best first.
        run_dir, clip, format, sample: where the model and the clip came from.
        text_encoder: the text encoder's model id; ``side_info``: ``class-name templates`` or the
            side-information folder the class descriptions came from.
        preprocessing: window, crop ratio, stream, centre joint applied to the clip.
    """

    classes: list[str]
    probabilities: np.ndarray
    scores: np.ndarray
    method: str
    top_k: list[tuple[str, float]]
    run_dir: str
    clip: str
    format: str
    sample: str
    text_encoder: str
    side_info: str
    preprocessing: dict = field(default_factory=dict)

    @property
    def top1(self) -> str:
        return self.top_k[0][0]

    def to_dict(self) -> dict:
        """A JSON-ready dict (probabilities as floats)."""
        return {"run": self.run_dir, "clip": self.clip, "format": self.format, "sample": self.sample,
                "method": self.method, "text_encoder": self.text_encoder, "side_info": self.side_info,
                "preprocessing": self.preprocessing,
                "top_k": [{"class": c, "probability": p} for c, p in self.top_k],
                "classes": [{"class": c, "probability": float(p), "score": float(s)}
                            for c, p, s in zip(self.classes, self.probabilities, self.scores)]}

    def table(self):
        """A ``pandas.DataFrame`` of the top-k classes (class, probability %)."""
        import pandas as pd

        return pd.DataFrame([{"class": c, "probability %": round(100 * p, 2)} for c, p in self.top_k],
                            index=pd.RangeIndex(1, len(self.top_k) + 1, name="rank"))

    def __str__(self) -> str:
        width = max(len(c) for c, _ in self.top_k)
        lines = [f"{self.method} ({self.run_dir}) on {self.clip}"
                 + (f" [{self.sample}]" if self.sample != Path(self.clip).stem else "")]
        lines += [f"{i:>3}. {c:<{width}}  {100 * p:6.2f} %" for i, (c, p) in enumerate(self.top_k, 1)]
        return "\n".join(lines)


def _finished_state(path: Path, epochs: int, what: str) -> dict:
    """The model state of a finished checkpoint (``torch.load(weights_only=True)``)."""
    try:
        state = torch_load(path)
    except Exception as e:  # noqa: BLE001 - torch raises many types on corrupt files
        raise RunFolderError(f"{path}: unreadable {what} checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict) or "model" not in state:
        raise RunFolderError(f"{path}: not a {what} checkpoint (no 'model' weights)")
    done = int(state.get("epoch", epochs) or 0)
    if done < epochs:
        raise RunFolderError(f"{path}: {what} training unfinished ({done} of {epochs} epochs); "
                             "finish the run (python -m neuron run ...) first")
    return state["model"]


def model_layout(cfg: RunConfig) -> JointLayout:
    """The joint layout the run's encoder was trained on: the dataset spec's ``layout``, or for
    a generic ``.npz`` dataset the layout fields of that file (read lazily, without the
    sequences).

    Raises:
        RunFolderError: the layout is unknown, or a generic dataset's file cannot be read.
    """
    spec = load_dataset_spec(cfg.data.dataset)
    if spec.reader != "generic":
        if spec.layout not in LAYOUTS:
            raise RunFolderError(f"dataset {spec.name}: unknown joint layout {spec.layout!r}")
        return LAYOUTS[spec.layout]
    path = data_root(cfg.data.data_root) / spec.subdir
    try:
        with np.load(path, allow_pickle=False) as z:
            return JointLayout(str(z["layout_name"]) if "layout_name" in z.files else "custom",
                               tuple(str(s) for s in z["joint_names"]),
                               tuple((int(a), int(b)) for a, b in z["edges"]), int(z["centre"]))
    except Exception as e:  # noqa: BLE001
        raise RunFolderError(f"dataset {spec.name}: cannot read the joint layout from {path} "
                             f"({type(e).__name__}: {e})") from e


class Predictor:
    """A finished run's trained encoder, head and text encoder, loaded once for many clips.

    Args:
        run_dir: a run folder (``manifest.json`` plus ``neuron.ckpt`` / ``baseline.ckpt``).
        method: ``neuron``, ``baseline``, or ``auto`` (Neuron when its weights exist, else the
            baseline).
        device: torch device name (``cpu`` default).
    Raises:
        RunFolderError: not a run folder, no finished weights of the method, the encoder
            missing from the stage cache. ConfigError: an unknown method.
    """

    def __init__(self, run_dir: str | os.PathLike, method: str = "auto", device: str = "cpu") -> None:
        if method not in METHODS:
            raise ConfigError(f"method {method!r}: expected one of {METHODS}")
        self.run_dir = Path(run_dir)
        manifest_path = self.run_dir / "manifest.json"
        if not manifest_path.is_file():
            raise RunFolderError(f"{self.run_dir}: not a run folder (no manifest.json)")
        try:
            manifest = json.loads(manifest_path.read_text())
            self.cfg = load_run_config(manifest["params"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RunFolderError(f"{manifest_path}: unreadable run manifest ({type(e).__name__}: {e})") from e
        cfg = self.cfg
        self.device = torch.device(device)
        ckpts = {"neuron": self.run_dir / "neuron.ckpt", "baseline": self.run_dir / "baseline.ckpt"}
        if method == "auto":
            method = next((m for m in ("neuron", "baseline") if ckpts[m].is_file()), "neuron")
        if not ckpts[method].is_file():
            have = [m for m, p in ckpts.items() if p.is_file()]
            raise RunFolderError(f"{self.run_dir}: no trained {method} weights ({ckpts[method].name} missing"
                                 + (f"; has {', '.join(have)})" if have else "; the run has no trained weights: "
                                    "run its neuron stage first)"))
        self.method = method
        epochs = cfg.neuron_train.epochs if method == "neuron" else cfg.baseline_train.epochs
        head_state = _finished_state(ckpts[method], epochs, method)
        self.layout = model_layout(cfg)
        self.num_person = load_dataset_spec(cfg.data.dataset).num_person
        enc_state = _finished_state(self._encoder_file(manifest), cfg.encoder.epochs, "encoder")
        V, M = self.layout.num_joints, self.num_person
        bn = int(enc_state["data_bn.weight"].numel())
        if bn % (V * M):
            raise RunFolderError(f"{self.run_dir}: the encoder's input size {bn} does not fit "
                                 f"{V} joints x {M} persons of layout {self.layout.name}")
        self.channels = bn // (V * M)
        self.encoder = ShiftGCN(int(enc_state["fc.weight"].shape[0]), V, M, self.channels,
                                cfg.encoder.shift_grad)
        self.encoder.load_state_dict(enc_state)
        self.encoder.to(self.device).eval()
        self.text_encoder = text.get_text_encoder(cfg.side_info.encoder, device=device)
        D = self.text_encoder.dim
        if method == "neuron":
            self.head = Neuron(text_dim=D, feat_dim=FEATURE_DIM, **to_dict(cfg.neuron))
        else:
            self.head = GlobalAlignment(text_dim=D, feat_dim=FEATURE_DIM,
                                        hidden=cfg.baseline.hidden, logit_scale=cfg.baseline.logit_scale)
        try:
            self.head.load_state_dict(head_state)
        except RuntimeError as e:
            raise RunFolderError(f"{ckpts[method]}: weights do not fit the run's {method} parameters "
                                 f"or its text encoder {cfg.side_info.encoder} ({e})") from e
        self.head.to(self.device).eval()

    def _encoder_file(self, manifest: dict) -> Path:
        recorded = (manifest.get("extra") or {}).get("encoder")
        cands = []
        if recorded:
            cands += [Path(recorded) / "encoder.pt",
                      stages.cache_root() / "encoders" / Path(recorded).name / "encoder.pt"]
        for c in cands:
            if c.is_file():
                return c
        if not recorded:
            raise RunFolderError(f"{self.run_dir}: the manifest names no trained encoder (run the "
                                 "encoder stage first)")
        raise RunFolderError(f"{self.run_dir}: the run's trained encoder is gone ({' and '.join(map(str, cands))} "
                             "missing; was the stage cache, $NEURON_CACHE, moved or cleared?); rerun the "
                             "run's encoder stage")

    # ----------------------------------------------------------------------- steps
    def preprocess(self, clip: Clip) -> torch.Tensor:
        """The run's test-time preprocessing of one clip: ``(1, C, window, V, M)`` float32.

        The same code as evaluation: :func:`neuron.data.cache.process` (centring on the first
        frame's centre joint of person 0) and :class:`neuron.data.loader.WindowDataset` with
        ``train=False`` (the centred crop of ratio ``data.p_interval[1]`` resized to
        ``data.window`` frames, then ``data.stream``). A clip with fewer persons than the model
        gets all-zero persons (as padding in the datasets).

        Raises:
            ClipMismatchError: channel count, joint count, joint names or person count differ
                from the model's.
        """
        seq = np.asarray(clip.sequence, dtype=np.float32)
        where = f"{clip.path}" + (f" [{clip.name}]" if clip.format == "generic" else "")
        if seq.ndim != 4:
            raise ClipMismatchError(f"{where}: expected a (C, T, V, M) clip, got shape {seq.shape}")
        C, T, V, M = seq.shape
        lay = self.layout
        if C != self.channels:
            kind = {2: "xy", 3: "xyz"}.get(self.channels, "coordinates")
            raise ClipMismatchError(f"{where}: the clip has {C} channels per joint, the model takes "
                                    f"{self.channels} ({kind})")
        if V != lay.num_joints:
            raise ClipMismatchError(f"{where}: the clip has {V} joints"
                                    + (f" (layout {clip.layout.name})" if clip.layout else "")
                                    + f", the model takes {lay.num_joints} (layout {lay.name})")
        if clip.layout is not None and tuple(clip.layout.joint_names) != tuple(lay.joint_names):
            diff = next(i for i, (a, b) in enumerate(zip(clip.layout.joint_names, lay.joint_names)) if a != b)
            raise ClipMismatchError(f"{where}: joint layout {clip.layout.name} differs from the model's "
                                    f"{lay.name} (joint {diff} is {clip.layout.joint_names[diff]!r}, the model's "
                                    f"is {lay.joint_names[diff]!r}); reorder the joints to {lay.name}")
        if M > self.num_person:
            raise ClipMismatchError(f"{where}: the clip has {M} persons, the model takes at most {self.num_person}")
        if M < self.num_person:
            seq = np.concatenate([seq, np.zeros((C, T, V, self.num_person - M), np.float32)], axis=3)
        # the evaluation's own path: the processed-data step (neuron.data.cache.process), then
        # the test-time window of neuron.stages.DataBundle.windows (WindowDataset, train=False)
        one = SkeletonDataset(clip.format, [seq], [0], [0], [0], [0], [clip.name], ["clip"], lay)
        d = self.cfg.data
        x, _ = WindowDataset(process(one, "predict"), np.array([0]), d.window, False, d.p_interval, 0.0,
                             d.stream, self.cfg.seed, None, d.min_crop_frames)[0]
        return x[None]

    @torch.no_grad()
    def features(self, x: torch.Tensor):
        """Frozen-encoder features of a batch ``(N, C, T, V, M)``, rounded to float16 as the
        run's feature cache stores them: a :class:`neuron.train.Features` (labels -1)."""
        out = self.encoder(x.to(self.device))
        f_s, f_t = split_cube(out.cube)
        n = x.shape[0]
        return Features(f_s.float().cpu().half().float(), f_t.float().cpu().half().float(),
                        out.pooled.float().cpu().half().float(), torch.full((n,), -1, dtype=torch.long))

    def semantics(self, classes: list[str], side_info: str | os.PathLike | None = None):
        """Per-round text embeddings of ``classes``: a :class:`neuron.stages.Semantics`.

        ``side_info`` None: the class-name templates (:func:`neuron.side_info.class_name_side_info`,
        what a ``class_names`` run trains with); a folder: its descriptions of ``classes`` (the
        first ``side_info.k`` per level, as the run used). Embeddings are cached under the stage
        cache's ``embeddings/``.

        Raises:
            SideInfoError: a level file missing, a class without descriptions, too few
                descriptions.
        """
        k = self.cfg.side_info.k
        info = (class_name_side_info(classes, k=k) if side_info is None
                else load_side_info(side_info, classes, k=k, check_duplicates=False))
        emb = embed_side_info(info, classes, self.text_encoder, stages.cache_root() / "embeddings")
        return stages.Semantics([x[:, :k].float() for x in emb.spatial], [x[:, :k].float() for x in emb.temporal],
                         emb.encoder_id, "class_names" if side_info is None else str(side_info),
                         int(emb.spatial[0].shape[-1]))

    @torch.no_grad()
    def scores(self, feats, sem) -> np.ndarray:
        """``(N, C)`` scores of ``feats`` against the classes of ``sem`` (Neuron: fused final
        round, mean of the spatial and temporal log-softmax; baseline: logits)."""
        classes = list(range(len(sem.spatial[0])))
        if self.method == "neuron":
            s = score_neuron(self.head, feats, classes, sem.spatial, sem.temporal, self.device)
        else:
            s = score_baseline(self.head, feats, classes, sem.class_means(), self.device)
        return s.fused.numpy().astype(np.float64)

    def run_classes(self, part: str = "unseen") -> list[str]:
        """The run's ``unseen`` or ``seen`` class names (``metrics.json``, dataset spec order).

        Raises:
            RunFolderError: no readable ``metrics.json``.
        """
        try:
            ids = json.loads((self.run_dir / "metrics.json").read_text())[part]
        except (OSError, ValueError, KeyError) as e:
            raise RunFolderError(f"{self.run_dir}: no {part} classes in metrics.json ({type(e).__name__}: {e})") from e
        names = load_dataset_spec(self.cfg.data.dataset).class_names
        return [names[int(c)] for c in ids]

    def run_side_info(self) -> Path | None:
        """The side-information folder the run trained with (None for class-name runs).

        Raises:
            RunFolderError: the run used the paper's precomputed embeddings (no texts to embed).
        """
        if self.cfg.side_info.source == "paper_embeddings":
            raise RunFolderError(f"{self.run_dir}: the run used precomputed embeddings "
                                 "(side_info.source=paper_embeddings); pass a side-information folder")
        return stages.side_info_folder(self.cfg, data_root(self.cfg.data.data_root))

    def predict(self, clip: Clip | str | os.PathLike, classes: Sequence[str] | None = None,
                side_info: str | os.PathLike | None = None, top_k: int = 5,
                sample: int | str | None = None) -> Prediction:
        """Score one clip against ``classes``; see :func:`predict`."""
        if side_info == "run":
            side_info = self.run_side_info()
        if classes is None:
            if side_info is None:
                raise ClassListError("no classes: give class names or a side-information folder")
            classes = side_info_classes(side_info)
        classes = check_classes(classes)
        if isinstance(top_k, bool) or int(top_k) < 1:
            raise PredictionError(f"top_k must be >= 1, got {top_k!r}")
        if not isinstance(clip, Clip):
            clip = read_clip(clip, sample)
        x = self.preprocess(clip)
        sem = self.semantics(classes, side_info)
        s = self.scores(self.features(x), sem)[0]
        p = np.exp(s - s.max())
        p /= p.sum()
        order = np.argsort(-p, kind="stable")[:min(int(top_k), len(classes))]
        d = self.cfg.data
        return Prediction(classes, p, s, self.method, [(classes[i], float(p[i])) for i in order],
                          str(self.run_dir), str(clip.path), clip.format, clip.name,
                          self.text_encoder.model_id,
                          "class-name templates" if side_info is None else str(side_info),
                          {"window": d.window, "crop_ratio": d.p_interval[1], "stream": d.stream,
                           "centre_joint": self.layout.joint_names[self.layout.centre],
                           "layout": self.layout.name})


def predict(run_dir: str | os.PathLike, clip: Clip | str | os.PathLike, classes: Sequence[str] | None = None,
            classes_file: str | os.PathLike | None = None, side_info: str | os.PathLike | None = None,
            top_k: int = 5, method: str = "auto", sample: int | str | None = None,
            device: str = "cpu") -> Prediction:
    """Which of ``classes`` is ``clip``? Zero-shot prediction with a finished run.

    Args:
        run_dir: a finished run folder (module doc).
        clip: a clip file (:data:`CLIP_FORMATS`) or a :class:`Clip`.
        classes: the class texts (e.g. ``["a person waves", "a person sits down"]``).
        classes_file: a text file of class texts, one per line (instead of ``classes``).
        side_info: None (bare names, embedded through the class-name templates), a
            side-information folder (six level JSON files; its classes are used when
            ``classes`` is None), or ``"run"`` for the folder the run trained with.
        top_k: how many classes ``Prediction.top_k`` lists.
        method: ``neuron``, ``baseline`` or ``auto`` (Neuron when trained, else the baseline).
        sample: a generic ``.npz`` sample's index or name when the file holds several.
        device: torch device.
    Returns:
        a :class:`Prediction` (probabilities over ``classes``, the head used).
    Raises:
        ClassListError: empty, single or duplicated classes; both ``classes`` and ``classes_file``.
        ClipMismatchError: the clip's channels / joints / layout / persons do not fit the model.
        DataError: an unreadable clip or class file.
        RunFolderError: not a finished run folder (no trained weights).
        SideInfoError: a side-information folder lacking the classes.
    """
    if classes is not None and classes_file is not None:
        raise ClassListError("give classes or classes_file, not both")
    if classes_file is not None:
        classes = read_classes_file(classes_file)
    elif classes is not None:
        classes = check_classes(classes)
    return Predictor(run_dir, method, device).predict(clip, classes, side_info, top_k, sample)


def default_output(pred: Prediction) -> Path:
    """Where ``python -m neuron predict`` writes its JSON without ``--out``:
    ``<run folder>/predictions/<clip stem>[-<sample>]-<method>.json`` (a later prediction of the
    same clip and method replaces it)."""
    stem = Path(pred.clip).stem
    if pred.sample != stem:
        stem = f"{stem}-{pred.sample}"
    return Path(pred.run_dir) / "predictions" / f"{stem}-{pred.method}.json"


def write_prediction(pred: Prediction, out: str | os.PathLike | None = None) -> Path:
    """Write ``pred.to_dict()`` as JSON to ``out`` (default :func:`default_output`); returns the path."""
    path = Path(out) if out is not None else default_output(pred)
    write_json(path, pred.to_dict())
    return path


# --------------------------------------------------------------------------- notebook helpers
def finished_run(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` holds a finished run's manifest and trained Neuron weights."""
    run_dir = Path(run_dir)
    return (run_dir / "manifest.json").is_file() and (run_dir / "metrics.json").is_file() \
        and (run_dir / "neuron.ckpt").is_file()


def train_run(config: dict | str | os.PathLike, run_dir: str | os.PathLike, progress: bool = False) -> Path:
    """Run every stage of one run in-process into ``run_dir`` (what notebooks 03 and 04 do) and
    record the encoder's folder in its manifest, so :class:`Predictor` finds it. Stages whose
    inputs are cached are loaded, not recomputed. Returns ``run_dir``.

    Raises:
        ConfigError, DataError, NeuronError: as the stages do.
    """
    cfg = load_run_config(config)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(run_dir, cfg, force=True)
    device = stages.setup_torch(cfg)
    bundle = stages.stage_data(cfg)
    sem = stages.stage_side_info(cfg, bundle, device=str(device))
    encoder, _, enc_dir = stages.stage_encoder(cfg, bundle, device, progress)
    write_manifest(run_dir, cfg, extra={"encoder": str(enc_dir)}, force=True)
    feats = stages.stage_features(cfg, bundle, encoder, enc_dir, device, progress)
    stages.stage_neuron(cfg, bundle, sem, feats, run_dir, device, progress, force=True)
    return run_dir


def example_clip(run_dir: str | os.PathLike) -> tuple[Path, str]:
    """A test clip of one of the run's unseen classes, as a native file under the data root,
    with its class name: ``(path, class name)``. For the datasets whose samples are one file
    each (UTD-MHAD, NW-UCLA, Kinder-Gator, NTU).

    Raises:
        RunFolderError: no manifest / metrics. DataError: the dataset's files are not there.
    """
    run_dir = Path(run_dir)
    try:
        cfg = load_run_config(json.loads((run_dir / "manifest.json").read_text())["params"])
        unseen = json.loads((run_dir / "metrics.json").read_text())["unseen"]
    except (OSError, ValueError, KeyError) as e:
        raise RunFolderError(f"{run_dir}: not a finished run folder ({type(e).__name__}: {e})") from e
    bundle = stages.stage_data(cfg)
    test = np.asarray(bundle.split.test)
    j = int(test[np.isin(bundle.pdata.labels[test], unseen)][0])
    name = bundle.pdata.sample_names[j]
    folder = bundle.root / bundle.spec.subdir
    suffix = {"utd_mhad": ".mat", "nw_ucla": ".json", "kinder_gator": ".csv", "ntu60": ".skeleton",
              "ntu120": ".skeleton"}.get(bundle.spec.reader)
    hits = sorted(folder.rglob(f"{name}{suffix}")) if suffix else []
    if not hits:
        raise DataError(f"{folder}: no file for sample {name} of dataset {bundle.spec.name}")
    return hits[0], bundle.class_names[int(bundle.pdata.labels[j])]


def plot_probabilities(pred: Prediction, max_classes: int = 20):
    """Horizontal bar chart of the class probabilities (%), most probable on top, at most
    ``max_classes`` bars. Returns a :class:`matplotlib.figure.Figure`."""
    from matplotlib.figure import Figure

    order = np.argsort(-pred.probabilities, kind="stable")[:max_classes][::-1]
    fig = Figure(figsize=(6, 0.35 * len(order) + 1.0), layout="constrained")
    ax = fig.subplots()
    colors = ["tab:blue"] * (len(order) - 1) + ["tab:orange"]
    ax.barh([pred.classes[i][:40] for i in order], 100 * pred.probabilities[order], color=colors)
    ax.set_xlabel("probability (%)")
    ax.set_xlim(0, 100)
    ax.set_title(f"{pred.method}: {Path(pred.clip).name}", fontsize=9)
    return fig


def plot_clip_strip(clip: Clip, layout: JointLayout | None = None, frames: int = 8):
    """``frames`` evenly spaced frames of a clip drawn as skeletons in the x-y plane, side by
    side (:func:`neuron.analysis.draw_skeleton`). ``layout`` gives the bones (default: the
    clip's; none drawn without one). Returns a :class:`matplotlib.figure.Figure`."""
    from matplotlib.figure import Figure

    from neuron.analysis import draw_skeleton

    seq = np.asarray(clip.sequence)
    lay = layout or clip.layout
    edges = lay.edges if lay is not None else ()
    T = seq.shape[1]
    idx = np.unique(np.linspace(0, T - 1, min(frames, T)).round().astype(int))
    fig = Figure(figsize=(1.5 * len(idx), 2.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(idx)))
    for ax, t in zip(axes, idx):
        draw_skeleton(ax, seq, edges, frame=int(t))
        ax.set_xlim(float(seq[0].min()) - 0.1, float(seq[0].max()) + 0.1)
        ax.set_ylim(float(seq[1].min()) - 0.1, float(seq[1].max()) + 0.1)
        ax.set_title(f"frame {t + 1}/{T}", fontsize=7)
    return fig


def animate_clip(clip: Clip, layout: JointLayout | None = None, max_frames: int = 20,
                 interval_ms: int = 100):
    """The clip as a skeleton animation of at most ``max_frames`` evenly spaced frames (small,
    60 dpi, so a report stays light): a :class:`matplotlib.animation.FuncAnimation`; show it in
    JupyterLab with ``IPython.display.HTML(anim.to_jshtml())``."""
    from matplotlib.animation import FuncAnimation
    from matplotlib.figure import Figure

    from neuron.analysis import draw_skeleton

    seq = np.asarray(clip.sequence)
    lay = layout or clip.layout
    edges = lay.edges if lay is not None else ()
    T = seq.shape[1]
    fig = Figure(figsize=(2.5, 2.8), dpi=60, layout="constrained")
    ax = fig.subplots()
    lims = (float(seq[0].min()) - 0.1, float(seq[0].max()) + 0.1, float(seq[1].min()) - 0.1,
            float(seq[1].max()) + 0.1)
    frames = np.unique(np.linspace(0, T - 1, min(max(1, int(max_frames)), T)).round().astype(int)).tolist()

    def draw(t: int):
        ax.clear()
        draw_skeleton(ax, seq, edges, frame=t)
        ax.set_xlim(*lims[:2])
        ax.set_ylim(*lims[2:])
        ax.set_title(f"frame {t + 1}/{T}", fontsize=8)
        return []

    return FuncAnimation(fig, draw, frames=frames, interval=interval_ms, blit=False)


def class_name_box(predictor: Predictor, clip: Clip, classes: Sequence[str], top_k: int = 5,
                   side_info: str | os.PathLike | None = None):
    """An ipywidgets box for JupyterLab: a text area of class names (one per line), a button
    that predicts with them, and an output area showing the top-k table and the bar chart.
    Returns the widget (display it)."""
    import ipywidgets as w
    from IPython.display import display

    area = w.Textarea(value="\n".join(classes), description="classes", rows=max(4, len(classes) + 1),
                      layout=w.Layout(width="60%"))
    button = w.Button(description="predict", button_style="primary")
    out = w.Output()

    def run(_=None) -> None:
        out.clear_output()
        with out:
            names = [ln for ln in area.value.splitlines() if ln.strip()]
            try:
                pred = predictor.predict(clip, names, side_info, top_k)
            except NeuronError as e:
                print(f"error: {e}")
                return
            display(pred.table())
            display(plot_probabilities(pred))

    button.on_click(run)
    return w.VBox([w.HTML("Type one class per line, then press <b>predict</b>."), area, button, out])


__all__ = ["CLIP_FORMATS", "Clip", "ClipFormat", "ClipMismatchError", "ClassListError", "METHODS",
           "Prediction", "PredictionError", "Predictor", "RunFolderError", "animate_clip", "check_classes",
           "class_name_box", "default_output", "detect_format", "example_clip", "finished_run",
           "plot_clip_strip", "plot_probabilities", "predict", "read_classes_file", "read_clip",
           "side_info_classes", "train_run", "write_prediction"]

