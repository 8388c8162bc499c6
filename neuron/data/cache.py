"""Processed-dataset cache: raw sequences read once, stored padded, keyed by a content hash.

The cache file ``<cache dir>/<dataset>-<key>.npz`` holds ``data (N, C, T_max, V, M)`` float32
(zero-padded; 3-D data centred on the first frame's centre joint, 2-D data as normalised by its
reader), ``lengths (N,)``, ``labels``, ``subjects``, ``views``, ``trials``, ``sample_names``,
``class_names`` and, where the dataset has them, ``train_flags``. The key hashes the raw
files' contents, the dataset spec and :data:`PROCESS_VERSION`; a changed input rebuilds it.
It is loaded with ``allow_pickle=False``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuron.config import DatasetSpec, to_dict
from neuron.data.base import SkeletonDataset
from neuron.data.layouts import LAYOUTS, JointLayout
from neuron.data.transforms import centre_sequence
from neuron.errors import DataError
from neuron.io import atomic_path, sha256_files, sha256_obj

PROCESS_VERSION = 1


@dataclass
class ProcessedData:
    """A dataset as padded arrays, ready for windowing.

    Attributes:
        data: ``(N, C, T_max, V, M)`` float32, zero-padded after ``lengths``: C = 3 metres,
            centred; C = 2 image coordinates normalised by the reader
            (:func:`neuron.data.transforms.normalise_2d`).
        lengths: ``(N,)`` valid frames per sample.
        labels, subjects, views, trials: ``(N,)`` int64.
        sample_names, class_names: lists of str.
        layout: the joint layout.
        key: the cache key (hash of raw files + spec + processing version).
        skipped: (file, reason) of files skipped with ``skip_bad``.
        groups: ``N`` subject-group names (empty when the dataset has none).
        missing: recordings the dataset lacks (reported, not errors).
        train_flags: ``(N,)`` bool, the dataset's own train / test assignment (empty = none).
    """

    name: str
    data: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    views: np.ndarray
    trials: np.ndarray
    sample_names: list[str]
    class_names: list[str]
    layout: JointLayout
    key: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    train_flags: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def raw_files(spec: DatasetSpec, root: Path) -> list[Path]:
    """The raw files a dataset is read from (for hashing)."""
    folder = root / spec.subdir
    if spec.reader == "generic":
        return [folder]
    pattern = {"utd_mhad": "a*_s*_t*_skeleton.mat", "nw_ucla": "*.json",
               "kinder_gator": "*/POSE-*.csv", "penn_action": "*.mat"}.get(spec.reader, "**/*")
    return sorted(p for p in folder.glob(pattern) if p.is_file())


def read_raw(spec: DatasetSpec, root: Path, skip_bad: bool = False) -> SkeletonDataset:
    """Read a dataset's raw files with its reader.

    Raises:
        DataError: missing files (with where to get them) or a bad file.
    """
    folder = root / spec.subdir
    if not folder.exists():
        raise DataError(f"{spec.name}: {folder} not found. {spec.how_to_get} "
                        f"(data root: {root}; set NEURON_DATA_ROOT or data.data_root)")
    if spec.reader == "utd_mhad":
        from neuron.data.utd_mhad import read_utd_mhad
        return read_utd_mhad(folder, spec.class_names, skip_bad=skip_bad)
    if spec.reader == "nw_ucla":
        from neuron.data.nw_ucla import read_nw_ucla
        return read_nw_ucla(folder, spec.class_names, skip_bad=skip_bad)
    if spec.reader in ("ntu60", "ntu120"):
        from neuron.data.ntu import read_ntu
        return read_ntu(folder, version=int(spec.reader[3:]), class_names=spec.class_names,
                        skip_bad=skip_bad)
    if spec.reader == "pku_mmd1":
        from neuron.data.pku import read_pku_mmd1
        return read_pku_mmd1(folder, spec.class_names, skip_bad=skip_bad)
    if spec.reader == "kinder_gator":
        from neuron.data.kinder_gator import read_kinder_gator
        return read_kinder_gator(folder, spec.class_names, spec.file_actions, skip_bad=skip_bad,
                                 layout=spec.layout)
    if spec.reader == "penn_action":
        from neuron.data.penn_action import read_penn_action
        return read_penn_action(folder, spec.class_names, spec.file_actions, skip_bad=skip_bad)
    if spec.reader == "generic":
        from neuron.data.generic import read_generic_npz
        return read_generic_npz(folder)
    raise DataError(f"{spec.name}: unknown reader {spec.reader!r}")  # pragma: no cover


def process(ds: SkeletonDataset, key: str) -> ProcessedData:
    """Pad a :class:`SkeletonDataset` into :class:`ProcessedData`, centring 3-D sequences on the
    first frame's centre joint (2-D sequences come normalised from their reader, which alone
    knows the visibility :func:`~neuron.data.transforms.normalise_2d` needs)."""
    if len(ds) == 0:
        raise DataError(f"{ds.name}: no readable samples")
    lengths = ds.lengths
    c, _, v, m = ds.sequences[0].shape
    data = np.zeros((len(ds), c, int(lengths.max()), v, m), dtype=np.float32)
    for i, seq in enumerate(ds.sequences):
        data[i, :, : seq.shape[1]] = centre_sequence(seq, ds.layout.centre) if c == 3 else seq
    return ProcessedData(ds.name, data, lengths, ds.labels, ds.subjects, ds.views, ds.trials,
                         list(ds.sample_names), list(ds.class_names), ds.layout, key,
                         list(ds.skipped), list(ds.groups), list(ds.missing), ds.train_flags)


def load_processed(spec: DatasetSpec, root: Path, cache_dir: Path, skip_bad: bool = False,
                   download: bool = False) -> ProcessedData:
    """The processed dataset, from the cache when its key matches, else read and cached.

    With ``download`` and a ``download_url`` in the spec, a missing dataset is fetched first.

    Raises:
        DataError: missing data (saying where to put it), a bad file, a corrupt cache.
    """
    folder = root / spec.subdir
    if not folder.exists() and download and spec.download_url:
        fetch_dataset(spec, root)
    files = raw_files(spec, root)
    if not files:
        raise DataError(f"{spec.name}: no raw files in {folder} (data root {root}; set "
                        f"NEURON_DATA_ROOT or data.data_root). {spec.how_to_get}")
    key = sha256_obj({"files": sha256_files(files), "spec": spec_key_dict(spec),
                      "version": PROCESS_VERSION, "skip_bad": skip_bad})[:16]
    path = Path(cache_dir) / f"{spec.name}-{key}.npz"
    if path.exists():
        return _read_cache(path, key)
    pdata = process(read_raw(spec, root, skip_bad), key)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, data=pdata.data, lengths=pdata.lengths, labels=pdata.labels,
                     subjects=pdata.subjects, views=pdata.views, trials=pdata.trials,
                     sample_names=np.array(pdata.sample_names), class_names=np.array(pdata.class_names),
                     layout=np.array(json.dumps(pdata.layout.to_dict())),
                     skipped=np.array(json.dumps(pdata.skipped)),
                     **({"groups": np.array(pdata.groups)} if pdata.groups else {}),
                     **({"missing": np.array(json.dumps(pdata.missing))} if pdata.missing else {}),
                     **({"train_flags": pdata.train_flags} if len(pdata.train_flags) else {}))
    return pdata


#: Spec fields that do not change the processed data (left out of the cache key).
_NOT_PROCESSING = ("protocols", "subject_groups", "known_missing", "near_duplicates")


def spec_key_dict(spec: DatasetSpec) -> dict:
    """The spec as hashed into the processed-data key: fields that only describe protocols or
    splits are left out, and ``file_actions`` only when empty, so that datasets without these
    optional fields keep the keys (and the encoders cached on them) they had before."""
    d = to_dict(spec)
    for k in _NOT_PROCESSING:
        d.pop(k, None)
    if not d.get("file_actions"):
        d.pop("file_actions", None)
    return d


def _read_cache(path: Path, key: str) -> ProcessedData:
    try:
        with np.load(path, allow_pickle=False) as z:
            return ProcessedData(
                str(path.name.split("-")[0]), z["data"], z["lengths"], z["labels"], z["subjects"],
                z["views"], z["trials"], z["sample_names"].tolist(), z["class_names"].tolist(),
                JointLayout.from_dict(json.loads(str(z["layout"]))), key,
                [tuple(s) for s in json.loads(str(z["skipped"]))],
                z["groups"].tolist() if "groups" in z.files else [],
                json.loads(str(z["missing"])) if "missing" in z.files else [],
                z["train_flags"] if "train_flags" in z.files else np.zeros(0, dtype=bool))
    except Exception as e:
        raise DataError(f"{path}: corrupt processed-data cache ({e}); delete it to rebuild") from e


def fetch_dataset(spec: DatasetSpec, root: Path) -> None:
    """Download and safely extract a dataset with a public archive (UTD-MHAD).

    Raises:
        DataError: offline or a failed check, saying where to put the files by hand.
    """
    from neuron.data.download import download, safe_extract_zip

    target = root / Path(spec.subdir).parent
    archive = root / "downloads" / Path(spec.download_url).name
    if not archive.exists():
        download(spec.download_url, archive, spec.download_sha256, spec.download_size)
    safe_extract_zip(archive, target)
    if not (root / spec.subdir).exists():
        raise DataError(f"{archive}: extracted, but {root / spec.subdir} is still missing")


__all__ = ["ProcessedData", "load_processed", "read_raw", "process", "raw_files", "LAYOUTS"]
