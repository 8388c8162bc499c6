"""Parameter files: typed dataclasses, strict loading (unknown keys and wrong types are errors).

Every YAML in ``params/`` maps onto one dataclass here:

- ``params/datasets/<name>.yaml``  -> :class:`DatasetSpec`
- ``params/splits/<name>.yaml``    -> :class:`SplitSpec` (a family of zero-shot splits)
- ``params/runs/<name>.yaml``      -> :class:`RunConfig` (one split, one seed, all stages)
- ``params/studies/<name>.yaml``   -> :class:`StudyConfig` (a base run x splits x seeds x grid)

Loading validates types and values before any work starts (:class:`neuron.errors.ConfigError`).

Over 600 lines as one cohesive thing: the schema of every parameter file, with the checks that
tie its fields together; splitting it would scatter one schema over several modules.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from neuron.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PARAMS_DIR = PROJECT_ROOT / "params"


# --------------------------------------------------------------------------- strict loading
def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data`` recursively, rejecting unknown keys and bad types.

    Raises:
        ConfigError: naming the dotted key path (``where``) of the first problem.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown key(s) {unknown}; "
                          f"allowed: {sorted(names)}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = f"{where}.{f.name}" if where else f.name
        if f.name in data:
            kwargs[f.name] = _coerce(hints[f.name], data[f.name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where or cls.__name__}: missing required key '{f.name}'")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(where or cls.__name__)
    return obj


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: {value!r} is not valid here: {'; '.join(errors)}")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        inner = args[0] if args else Any
        out = [_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        kt, vt = args if args else (Any, Any)
        return {_coerce(kt, k, where): _coerce(vt, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {tp}")  # pragma: no cover


def to_dict(obj: Any) -> Any:
    """A dataclass as plain JSON/YAML-able dicts and lists (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def read_yaml(path: str | os.PathLike) -> dict:
    """Read a YAML mapping. Raises ConfigError naming the file if it is missing or malformed."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: parameter file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def deep_update(base: dict, overrides: dict) -> dict:
    """A copy of ``base`` with ``overrides`` merged in recursively (dotted keys allowed)."""
    out = {k: (deep_update(v, {}) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, val in overrides.items():
        if "." in key:
            head, rest = key.split(".", 1)
            sub = out.get(head)
            out[head] = deep_update(sub if isinstance(sub, dict) else {}, {rest: val})
        elif isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], val)
        else:
            out[key] = val
    return out


def _check(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"{where}: {msg}")


# --------------------------------------------------------------------------- datasets
Reader = Literal["utd_mhad", "nw_ucla", "ntu60", "ntu120", "pku_mmd1", "kinder_gator", "penn_action",
                 "generic"]


@dataclass
class ProtocolSpec:
    """A named alternative train/test partition of a dataset (``protocols:`` in its YAML).

    Exactly one of ``train_subjects`` (a cross-subject-style protocol: these subjects train, the
    others test) or ``train_views`` (cross-view-style) is given.
    """

    train_subjects: list[int] = field(default_factory=list)
    train_views: list[int] = field(default_factory=list)
    description: str = ""

    def validate(self, where: str) -> None:
        _check(bool(self.train_subjects) != bool(self.train_views), where,
               "give exactly one of train_subjects or train_views")
        for name in ("train_subjects", "train_views"):
            ids = getattr(self, name)
            _check(len(set(ids)) == len(ids), where, f"{name} has duplicates")


@dataclass
class DatasetSpec:
    """A dataset family (``params/datasets/<name>.yaml``).

    ``protocol`` names the train/test partition of samples: ``cross_subject`` trains on
    ``train_subjects``; ``cross_view`` on ``train_views``; ``cross_setup`` (NTU-120) on even
    setup ids; ``official`` on the samples the release marks as training (Penn Action's
    ``train`` flag). ``subdir`` is the dataset's folder under the data root (for ``generic``: the
    ``.npz`` file).

    Optional fields: ``protocols`` (name -> :class:`ProtocolSpec`, alternatives to ``protocol``
    chosen with the run key ``data.protocol``); ``subject_groups`` (group name -> subject ids,
    e.g. adult / child); ``file_actions`` (the action of class ``i`` as spelled in the file
    names, for readers that take the class from the name); ``known_missing`` (recordings the
    dataset's release lacks, reported rather than treated as errors); ``near_duplicates``
    (pairs of 0-based class ids that differ in one detail, e.g. the side or the effort, used to
    describe how hard a zero-shot split is).
    """

    name: str
    reader: Reader = "utd_mhad"
    subdir: str = ""
    layout: str = "kinect_v1_20"
    num_person: int = 1
    class_names: list[str] = field(default_factory=list)
    protocol: str = "cross_subject"
    train_subjects: list[int] = field(default_factory=list)
    train_views: list[int] = field(default_factory=list)
    download_url: str = ""
    download_sha256: str = ""
    download_size: int = 0
    how_to_get: str = ""
    citation: str = ""
    protocols: dict[str, ProtocolSpec] = field(default_factory=dict)
    subject_groups: dict[str, list[int]] = field(default_factory=dict)
    file_actions: list[str] = field(default_factory=list)
    known_missing: list[str] = field(default_factory=list)
    near_duplicates: list[tuple[int, int]] = field(default_factory=list)

    def validate(self, where: str) -> None:
        _check(len(self.class_names) > 1, where, "class_names needs at least 2 classes")
        _check(len(set(self.class_names)) == len(self.class_names), where,
               "class_names has duplicates")
        _check(self.num_person in (1, 2), where, "num_person must be 1 or 2")
        _check(self.protocol in ("cross_subject", "cross_view", "cross_setup", "official"), where,
               f"unknown protocol {self.protocol!r}")
        if self.protocol == "cross_subject":
            _check(bool(self.train_subjects), where, "cross_subject needs train_subjects")
        if self.protocol == "cross_view":
            _check(bool(self.train_views), where, "cross_view needs train_views")
        if self.file_actions:
            _check(len(self.file_actions) == len(self.class_names), where,
                   f"file_actions has {len(self.file_actions)} entries for "
                   f"{len(self.class_names)} class_names")
            _check(len(set(self.file_actions)) == len(self.file_actions), where,
                   "file_actions has duplicates")
        _check(self.protocol not in self.protocols, f"{where}.protocols",
               f"{self.protocol!r} is the dataset's own protocol; name alternatives differently")
        grouped = [s for ids in self.subject_groups.values() for s in ids]
        _check(len(set(grouped)) == len(grouped), f"{where}.subject_groups",
               "a subject is in more than one group")
        for name, p in self.protocols.items():
            if grouped and p.train_subjects:
                extra = sorted(set(p.train_subjects) - set(grouped))
                _check(not extra, f"{where}.protocols.{name}",
                       f"train subjects {extra} are in no subject group")
                _check(set(grouped) - set(p.train_subjects) != set(), f"{where}.protocols.{name}",
                       "leaves no test subject")
        for i, (a, b) in enumerate(self.near_duplicates):
            _check(0 <= a < len(self.class_names) and 0 <= b < len(self.class_names) and a != b,
                   f"{where}.near_duplicates[{i}]",
                   f"({a}, {b}) must be two different class ids in 0..{len(self.class_names) - 1}")

    def protocol_names(self) -> list[str]:
        """The protocols a run can choose with ``data.protocol`` (the dataset's own first)."""
        return [self.protocol, *self.protocols]

    def for_protocol(self, name: str = "") -> "DatasetSpec":
        """This spec with protocol ``name`` applied (``""`` or ``self.protocol``: unchanged).

        The result's ``protocol`` is ``cross_subject`` or ``cross_view`` (the kind of the named
        protocol) with its ``train_subjects`` / ``train_views``; every other field is kept.

        Raises:
            ConfigError: ``name`` is not one of :meth:`protocol_names`.
        """
        if not name or name == self.protocol:
            return self
        if name not in self.protocols:
            raise ConfigError(f"dataset {self.name}: unknown protocol {name!r}; "
                              f"protocols: {self.protocol_names()}")
        p = self.protocols[name]
        return dataclasses.replace(
            self, protocol="cross_subject" if p.train_subjects else "cross_view",
            train_subjects=list(p.train_subjects), train_views=list(p.train_views))


def load_dataset_spec(name: str, params_dir: Path = PARAMS_DIR) -> DatasetSpec:
    """Load ``params/datasets/<name>.yaml``."""
    path = params_dir / "datasets" / f"{name}.yaml"
    return from_dict(DatasetSpec, read_yaml(path), str(path))


# --------------------------------------------------------------------------- splits
@dataclass
class SplitSpec:
    """A family of zero-shot splits of one dataset (``params/splits/<name>.yaml``).

    ``unseen[i]`` is split ``i``'s list of 0-based unseen class ids; the seen classes are the
    rest of ``classes`` (default: every class of the dataset). ``classes`` restricts the
    experiment to a subset (the smoke split uses a few classes).
    """

    name: str
    dataset: str
    unseen: list[list[int]]
    classes: list[int] | None = None
    source: str = ""

    def validate(self, where: str) -> None:
        _check(len(self.unseen) > 0, where, "unseen needs at least one split")
        for i, u in enumerate(self.unseen):
            _check(len(u) > 0, f"{where}.unseen[{i}]", "empty unseen list")
            _check(len(set(u)) == len(u), f"{where}.unseen[{i}]", "duplicate class ids")
        if self.classes is not None:
            _check(len(set(self.classes)) == len(self.classes), where, "duplicate classes")

    def class_ids(self, num_classes: int) -> list[int]:
        """The classes of the experiment (sorted)."""
        return sorted(self.classes) if self.classes is not None else list(range(num_classes))

    def seen_unseen(self, index: int, num_classes: int) -> tuple[list[int], list[int]]:
        """(seen, unseen) sorted 0-based class ids of split ``index``."""
        unseen = sorted(self.unseen[index])
        seen = [c for c in self.class_ids(num_classes) if c not in unseen]
        return seen, unseen

    def check_against(self, num_classes: int, where: str = "") -> None:
        """Check every class id exists and each split leaves seen classes.

        Raises:
            ConfigError: an unseen id out of range or outside ``classes``, or < 2 seen classes.
        """
        where = where or self.name
        classes = self.class_ids(num_classes)
        for c in classes:
            _check(0 <= c < num_classes, where, f"class {c} outside 0..{num_classes - 1}")
        for i, u in enumerate(self.unseen):
            for c in u:
                _check(c in classes, f"{where}.unseen[{i}]",
                       f"unseen class {c} is not among the split's classes "
                       f"(0..{num_classes - 1})")
            _check(len(classes) - len(u) >= 2, f"{where}.unseen[{i}]",
                   "needs at least 2 seen classes")


def load_split_spec(name: str, params_dir: Path = PARAMS_DIR) -> SplitSpec:
    """Load ``params/splits/<name>.yaml``."""
    path = params_dir / "splits" / f"{name}.yaml"
    return from_dict(SplitSpec, read_yaml(path), str(path))


# --------------------------------------------------------------------------- runs
@dataclass
class DataConfig:
    """Data stage: dataset, split and preprocessing (the paper's Sec. 4.1 and Shift-GCN's).

    ``protocol``: the train/test partition, one of the dataset's ``protocol_names()``; empty =
    the dataset's own ``protocol``. The validation part is always carved from the training side.
    """

    dataset: str = "utd_mhad"
    split: str = "utd_mhad_22_5"
    split_index: int = 0
    protocol: str = ""
    data_root: str | None = None
    window: int = 64
    p_interval: tuple[float, float] = (0.5, 1.0)
    random_rotation: float = 0.0
    min_crop_frames: int = 64
    stream: Literal["joint", "bone", "motion", "bone_motion"] = "joint"
    val_fraction: float = 0.2
    pseudo_unseen: int = 3
    skip_bad: bool = False
    download: bool = True

    def validate(self, where: str) -> None:
        _check(8 <= self.window <= 1024, where, f"window {self.window} outside 8..1024")
        lo, hi = self.p_interval
        _check(0 < lo <= hi <= 1, where, f"p_interval {self.p_interval} must be 0 < lo <= hi <= 1")
        _check(0 <= self.random_rotation <= 180, where, "random_rotation is degrees in 0..180")
        _check(self.min_crop_frames >= 1, where, "min_crop_frames must be >= 1 (1 = no lower bound)")
        _check(0 < self.val_fraction < 1, where, "val_fraction must be in (0, 1)")
        _check(self.pseudo_unseen >= 1, where, "pseudo_unseen must be >= 1")
        _check(self.split_index >= 0, where, "split_index must be >= 0")


@dataclass
class OptimConfig:
    """SGD with momentum and step decay (the paper and Shift-GCN's recipe). Epoch units."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    steps: list[int] = field(default_factory=lambda: [4, 20])
    gamma: float = 0.1
    warmup_epochs: int = 0

    def validate(self, where: str) -> None:
        _check(self.epochs >= 1, where, "epochs must be >= 1")
        _check(self.batch_size >= 1, where, "batch_size must be >= 1")
        _check(self.lr > 0, where, "lr must be > 0")
        _check(all(0 < s for s in self.steps), where, "steps must be positive epochs")
        _check(self.warmup_epochs >= 0, where, "warmup_epochs must be >= 0")


@dataclass
class NeuronTrainConfig(OptimConfig):
    """The Neuron stage's optimiser (:class:`OptimConfig`) plus its training views.

    ``views``: 0 (default) trains on one cached feature vector per sample from the centred,
    un-augmented window; ``N > 0`` caches ``N`` augmented views per training sample (random crop
    of ``data.p_interval`` with at least ``data.min_crop_frames`` frames, rotation
    ``data.random_rotation``, the encoder's training augmentation) and trains each epoch on one
    view per sample chosen with a generator seeded by ``(seed, epoch)`` (the official code runs
    the encoder on a fresh crop and rotation every step; this approximates it with a finite pool).
    """

    views: int = 0

    def validate(self, where: str) -> None:
        super().validate(where)
        _check(0 <= self.views <= 64, where, "views must be in 0..64 (0 = one centred view)")


@dataclass
class NeuronModelConfig:
    """Neuron's design choices (Sec. 3 of the paper); every switch is an ablation."""

    num_prototypes: int = 80
    rounds: int = 3
    compress_per_round: int = 20
    temporal_memory: bool = True
    use_spatial: bool = True
    use_temporal: bool = True
    windows: list[float] = field(default_factory=lambda: [5 / 16, 10 / 16, 1.0])
    top_k: int = 10
    logit_scale: float = 0.1
    #: how evaluation fuses the final-round branches (:func:`neuron.train.fused_final_round`):
    #: ``mean_log_softmax`` (the mean of both branches' log-softmax), ``spatial`` or ``temporal``
    #: (that branch's log-softmax); ``sum_softmax`` is read as its former name
    fusion: Literal["mean_log_softmax", "spatial", "temporal", "sum_softmax"] = "mean_log_softmax"
    # named variants (the paper configuration is the default; see neuron.models.Neuron)
    alignment: Literal["topk_mean", "unit_mean", "class_mean"] = "topk_mean"
    project_relu: bool = True
    #: one logit scale per round instead of ``logit_scale`` (None: the same for every round)
    round_logit_scales: list[float] | None = None
    #: weights of the rounds' cross-entropies in the loss (None: the plain mean, official)
    round_weights: list[float] | None = None

    def validate(self, where: str) -> None:
        self.fusion = LEGACY_VALUES["neuron.fusion"].get(self.fusion, self.fusion)
        _check(1 <= self.rounds <= 3, where, "rounds must be 1..3")
        _check(len(self.windows) == self.rounds, where,
               f"windows has {len(self.windows)} entries for {self.rounds} rounds")
        _check(all(0 < w <= 1 for w in self.windows), where, "windows are fractions in (0, 1]")
        _check(list(self.windows) == sorted(self.windows), where, "windows must grow")
        _check(self.num_prototypes >= 1, where, "num_prototypes must be >= 1")
        _check(self.compress_per_round * self.rounds < self.num_prototypes, where,
               "compress_per_round * rounds must leave at least one prototype")
        _check(self.use_spatial or self.use_temporal, where, "both branches are off")
        _check(self.top_k >= 1, where, "top_k must be >= 1")
        _check(self.logit_scale > 0, where, "logit_scale must be > 0")
        if self.round_logit_scales is not None:
            _check(len(self.round_logit_scales) == self.rounds, where,
                   f"round_logit_scales has {len(self.round_logit_scales)} entries for {self.rounds} rounds")
            _check(all(x > 0 for x in self.round_logit_scales), where, "round_logit_scales must be > 0")
        if self.round_weights is not None:
            _check(len(self.round_weights) == self.rounds, where,
                   f"round_weights has {len(self.round_weights)} entries for {self.rounds} rounds")
            _check(all(x >= 0 for x in self.round_weights) and sum(self.round_weights) > 0, where,
                   "round_weights must be >= 0 with a positive sum")


#: Former names of parameter values, still read: ``"section.option": {former name: name}``.
#: Resolved configs hold the current name; cache keys hash the former one (:mod:`neuron.keys`), so
#: runs made under the former name keep their keys.
LEGACY_VALUES: dict[str, dict[str, str]] = {
    "neuron.fusion": {"sum_softmax": "mean_log_softmax"},  # it always was a mean of log-softmaxes
}


def current_names(params: dict) -> dict:
    """A resolved run-parameter dict (``to_dict(RunConfig)``, e.g. from an older manifest) with
    :data:`LEGACY_VALUES` replaced by their current names."""
    out = dict(params)
    for opt, names in LEGACY_VALUES.items():
        section, name = opt.split(".", 1)
        sec = out.get(section)
        if isinstance(sec, dict) and isinstance(sec.get(name), str) and sec[name] in names:
            out[section] = {**sec, name: names[sec[name]]}
    return out


@dataclass
class BaselineConfig:
    """Global-alignment (DeViSE-style) baseline, trained in the same harness."""

    enabled: bool = True
    hidden: int = 512
    logit_scale: float = 0.1


@dataclass
class GenerationConfig:
    """LLM generation of side information (``side_info.source: generated``), see
    :mod:`neuron.side_info`. The API key is read from the environment variable named by
    ``api_key_env``; it is never a parameter and never written anywhere."""

    backend: Literal["openai", "transformers", "smollm2", "llamacpp", "smollm2-llamacpp"] = "smollm2"
    model: str = ""
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    require_key: bool = True
    strategy: Literal["strict", "pool"] = "strict"
    max_attempts: int = 3
    max_calls: int = 6
    num_samples: int = 1
    max_new_tokens: int = 384
    temperature: float = 0.7
    timeout: float = 60.0
    max_retries: int = 5
    backoff_base: float = 1.0
    classes: list[int] | None = None

    def validate(self, where: str) -> None:
        _check(self.max_attempts >= 1 and self.max_calls >= 1, where, "attempts must be >= 1")
        _check(self.timeout > 0, where, "timeout must be > 0")
        _check(self.max_retries >= 0, where, "max_retries must be >= 0")
        if self.backend in ("openai", "transformers", "llamacpp"):
            _check(bool(self.model), where, f"backend {self.backend} needs a model")


@dataclass
class SideInfoConfig:
    """Which side information and which text encoder (the paper's Sec. 3.4).

    ``source``: ``shipped`` (``params/side_info/<dataset>``, see its README for provenance),
    ``paper`` (the authors' released descriptions under ``<data root>/neuron_semantics``),
    ``paper_embeddings`` (their CLIP tensors, NTU/PKU only), ``class_names``
    ("a person <class name>" semantics), ``generated`` (run the LLM dialogue protocol now with
    ``generation``; cached and resumable), or a folder with the six level JSON files.
    ``encoder``: a :func:`neuron.text.get_text_encoder` name.
    """

    source: str = "shipped"
    encoder: str = "all-MiniLM-L6-v2"
    k: int = 10
    generation: GenerationConfig = field(default_factory=GenerationConfig)

    def validate(self, where: str) -> None:
        _check(self.k >= 1, where, "k must be >= 1")


@dataclass
class EvalConfig:
    """Evaluation (see :mod:`neuron.evaluate`): points of the honest protocol's calibration grid
    (evenly spaced over the validation scores' seen/unseen margins, plus 0)."""

    calibration_grid: int = 201
    #: optimiser steps of the calibration twins (trained on fewer samples than the models they
    #: calibrate): ``match`` (default) gives every twin epoch as many batches as the model's
    #: (cycling through reshuffled twin samples), so both see the same number of updates and
    #: learning-rate schedule; ``data`` is one pass over the twin's samples (fewer steps).
    #: Under torchrun the twins always use ``data`` (``match`` is single-process for now).
    twin_steps: Literal["match", "data"] = "match"
    #: pseudo-unseen validation folds (0 = off): the seen classes are partitioned (seeded) into
    #: ``val_folds`` folds; for each a twin of every model is trained without that fold's classes
    #: and scored on all training-subject samples of them (``valfolds/*`` metrics, averaged over
    #: folds): a larger validation set to choose methods and hyperparameters with.
    val_folds: int = 0

    def validate(self, where: str) -> None:
        _check(self.calibration_grid >= 2, where, "calibration_grid must be >= 2")
        _check(self.val_folds == 0 or self.val_folds >= 2, where, "val_folds must be 0 (off) or >= 2")


@dataclass
class EncoderConfig(OptimConfig):
    """Encoder pre-training: :class:`OptimConfig` plus the temporal-shift gradient rule.

    ``shift_grad``: ``exact`` (the derivative of the interpolation, default) or ``official``
    (the Shift-GCN CUDA op's surrogate ``0.01 * sign``; see :func:`neuron.models.temporal_shift`).
    """

    shift_grad: Literal["exact", "official"] = "exact"


#: The methods a run can train (``methods:``): Neuron, the global-alignment baseline and the
#: peer heads of :data:`neuron.models.PEERS` (docs/peers.md).
KNOWN_METHODS = ("neuron", "baseline", "smie", "sadvae", "star")
#: The default ``methods:`` (the methods every run trained before peers were added; keys leave
#: the option out at this value, :data:`neuron.keys.LATE_OPTIONS`).
DEFAULT_METHODS = ["neuron", "baseline"]


@dataclass
class SMIEConfig:
    """SMIE settings (``peers.smie``); ``None`` keeps the paper value of
    ``neuron.models.smie.DEFAULTS`` (the same names; docs/peers.md)."""

    lr: float | None = None
    weight_decay: float | None = None
    batch_size: int | None = None
    epochs: int | None = None
    warmup: int | None = None
    schedule_epochs: int | None = None
    margin: float | None = None
    temporal_weight: float | None = None
    mask_frame: int | None = None
    ln_at_test: bool | None = None


@dataclass
class SADVAEConfig:
    """SA-DVAE settings (``peers.sadvae``); ``None`` keeps the paper value of
    ``neuron.models.sadvae.DEFAULTS`` (the same names)."""

    latent: int | None = None
    style_latent: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    dis_step: int | None = None
    cycles: int | None = None
    clf_lr: float | None = None
    clf_steps: int | None = None
    clf_samples: int | None = None
    beta_x: float | None = None
    beta_y: float | None = None


@dataclass
class STARConfig:
    """STAR settings (``peers.star``); ``None`` keeps the paper value of
    ``neuron.models.star.DEFAULTS`` (the same names). ``layout`` defaults to the dataset's joint
    layout (the data bundle's, e.g. ``nw_ucla_20`` for NW-UCLA), which picks the body parts."""

    prompts: int | None = None
    heads: int | None = None
    text_hidden: int | None = None
    parts: list[list[int]] | None = None
    layout: str | None = None
    lr: float | None = None
    momentum: float | None = None
    nesterov: bool | None = None
    weight_decay: float | None = None
    steps: list[int] | None = None
    lr_decay: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    w_global: float | None = None
    w_part: float | None = None
    w_pd: float | None = None


@dataclass
class PeersConfig:
    """Settings of the peer heads (``peers:``; docs/peers.md): per peer, the settings that
    override its paper recipe. Unknown peers or settings are errors on loading."""

    smie: SMIEConfig = field(default_factory=SMIEConfig)
    sadvae: SADVAEConfig = field(default_factory=SADVAEConfig)
    star: STARConfig = field(default_factory=STARConfig)

    def settings(self, peer: str) -> dict:
        """The settings of ``peer`` given in the run (those not ``None``)."""
        return {k: v for k, v in to_dict(getattr(self, peer)).items() if v is not None}


@dataclass
class RunConfig:
    """One run: one dataset split, one seed, every stage's parameters.

    ``methods``: what the neuron stage trains and scores, in order (:data:`KNOWN_METHODS`;
    ``neuron`` is required: the evaluation variants and study references are built on it);
    ``peers``: the peer heads' settings (:class:`PeersConfig`).
    """

    name: str = "run"
    seed: int = 0
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(
        epochs=30, batch_size=32, lr=0.1, steps=[20, 25]))
    neuron: NeuronModelConfig = field(default_factory=NeuronModelConfig)
    neuron_train: NeuronTrainConfig = field(default_factory=NeuronTrainConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    baseline_train: OptimConfig = field(default_factory=OptimConfig)
    side_info: SideInfoConfig = field(default_factory=SideInfoConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    num_threads: int = 0
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    num_workers: int = 0
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    peers: PeersConfig = field(default_factory=PeersConfig)

    def validate(self, where: str) -> None:
        unknown = [m for m in self.methods if m not in KNOWN_METHODS]
        _check(not unknown, f"{where}.methods",
               f"unknown method(s) {unknown}; known: {list(KNOWN_METHODS)}")
        _check(len(set(self.methods)) == len(self.methods), f"{where}.methods", "duplicate methods")
        _check("neuron" in self.methods, f"{where}.methods",
               "must include neuron (the evaluation variants and study references need it)")
        _check(self.neuron.top_k <= self.side_info.k, where,
               f"neuron.top_k {self.neuron.top_k} > side_info.k {self.side_info.k}")
        _check(self.device in ("auto", "cpu") or self.device.startswith("cuda"), where,
               f"device {self.device!r} must be auto, cpu or cuda[:n]")
        _check(self.num_threads >= 0, where, "num_threads must be >= 0 (0 = torch default)")
        _check(self.num_workers >= 0, where, "num_workers must be >= 0")


def load_run_config(source: str | os.PathLike | dict, overrides: dict | None = None) -> RunConfig:
    """A validated :class:`RunConfig` from a YAML path or a dict, with optional overrides.

    Also checks the split against the dataset (class ids in range, at least 2 seen classes).

    Raises:
        ConfigError: any invalid key, type or value, before any work starts.
    """
    where = "run"
    if isinstance(source, dict):
        data = source
    else:
        where = str(source)
        data = read_yaml(source)
    data = deep_update(data, overrides or {})
    cfg = from_dict(RunConfig, data, where)
    ds = load_dataset_spec(cfg.data.dataset)
    sp = load_split_spec(cfg.data.split)
    _check(sp.dataset == cfg.data.dataset, where,
           f"split {sp.name} is for dataset {sp.dataset}, not {cfg.data.dataset}")
    _check(cfg.data.split_index < len(sp.unseen), f"{where}.data.split_index",
           f"split {sp.name} has {len(sp.unseen)} splits")
    sp.check_against(len(ds.class_names), f"params/splits/{cfg.data.split}.yaml")
    if cfg.data.protocol:
        _check(cfg.data.protocol in ds.protocol_names(), f"{where}.data.protocol",
               f"unknown protocol {cfg.data.protocol!r} for dataset {ds.name}; "
               f"protocols: {ds.protocol_names()}")
    seen, _ = sp.seen_unseen(cfg.data.split_index, len(ds.class_names))
    _check(cfg.data.pseudo_unseen < len(seen) - 1, f"{where}.data.pseudo_unseen",
           f"{cfg.data.pseudo_unseen} pseudo-unseen classes leave too few of {len(seen)} seen")
    return cfg


# --------------------------------------------------------------------------- studies
@dataclass
class ResourcesConfig:
    """Per-run resources of a study on a cluster (``--executor slurm``, via submitit).

    ``partition`` (empty = the cluster default), ``gpus_per_node``, ``cpus_per_task``,
    ``timeout_min`` (minutes), ``mem_gb`` (GiB).
    """

    partition: str = ""
    gpus_per_node: int = 0
    cpus_per_task: int = 2
    timeout_min: int = 240
    mem_gb: float = 16.0

    def validate(self, where: str) -> None:
        _check(self.gpus_per_node >= 0, where, "gpus_per_node must be >= 0")
        _check(self.cpus_per_task >= 1, where, "cpus_per_task must be >= 1")
        _check(self.timeout_min >= 1, where, "timeout_min must be >= 1")
        _check(self.mem_gb > 0, where, "mem_gb must be > 0")


@dataclass
class StudyConfig:
    """A study (``params/studies/<name>.yaml``): a base run crossed with splits, seeds and a grid.

    ``run``: a run YAML path relative to the project root. ``splits``: ``<split name>#<index>``
    or ``<split name>`` (all its splits); empty = the base run's split. ``overrides``: run keys
    (dotted) applied to every point. ``grid``: dotted run key -> values; points are the Cartesian
    product. ``variants``: name -> run overrides (ablations). ``resources``: per-run cluster
    resources (:class:`ResourcesConfig`, used by ``--executor slurm``). ``reports_root``: the
    folder (relative to the project root) whose ``<name>/`` gets the study's reports and whose
    ``index.html`` lists them; ``reports`` (committed) by default, ``runs/reports`` (ignored by
    git) for quick checks such as the smoke study.
    """

    name: str
    run: str = "params/runs/utd_mhad_quick.yaml"
    splits: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    overrides: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    figures: bool = False
    description: str = ""
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    reports_root: str = "reports"

    def validate(self, where: str) -> None:
        _check(bool(self.reports_root.strip()), where, "reports_root must not be empty")
        _check(bool(self.seeds), where, "seeds must not be empty")
        _check(len(set(self.seeds)) == len(self.seeds), where, "duplicate seeds")
        _check(not (self.grid and self.variants), where, "use grid or variants, not both")
        for k, v in self.grid.items():
            _check(isinstance(v, list) and len(v) > 0, f"{where}.grid.{k}", "needs a value list")


def load_study_config(path: str | os.PathLike) -> StudyConfig:
    """Load and validate a study YAML (every expanded run is validated too, by the runner)."""
    return from_dict(StudyConfig, read_yaml(path), str(path))


def data_root(cfg_root: str | None = None) -> Path:
    """The data root, one rule for the package, the notebooks and ``scripts/*.sh``: the run's
    ``data.data_root``, else ``$NEURON_DATA_ROOT``, else ``<project>/../shared/data`` when that
    folder exists (a data folder shared by several checkouts), else ``<project>/data`` (where
    datasets with a public archive are downloaded). Returned absolute, ``~`` expanded.
    """
    root = cfg_root or os.environ.get("NEURON_DATA_ROOT")
    if not root:
        shared = PROJECT_ROOT.parent / "shared" / "data"
        root = str(shared if shared.is_dir() else PROJECT_ROOT / "data")
    return Path(root).expanduser().resolve()
