"""PyTorch datasets over :class:`~neuron.data.cache.ProcessedData` (windowing on the fly).

Each item is ``(x, label)`` with ``x`` a float32 tensor ``(C=3, T=window, V, M)``; a batch is
``(N, C, T, V, M)``. Training items take a random crop (ratio in ``p_interval``) and optional
random rotation; evaluation items take the deterministic centred crop of ratio
``p_interval[1]``. Randomness comes from a generator seeded by ``(seed, epoch, index)`` so CPU
runs are reproducible whatever the worker layout.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from neuron.data.cache import ProcessedData
from neuron.data.transforms import crop_resize, random_rotate, to_stream


class WindowDataset(Dataset):
    """Fixed-window skeleton clips of a subset of a processed dataset.

    Args:
        pdata: the processed dataset.
        indices: sample indices into ``pdata``.
        window: output frames T.
        train: random crop + rotation (True) or centred crop (False).
        p_interval: (lo, hi) crop-length ratios.
        rotation: max rotation in degrees (training only).
        stream: ``joint``, ``bone``, ``motion`` or ``bone_motion``.
        seed: base seed; call :meth:`set_epoch` each epoch.
        label_map: optional dataset-class -> target index (e.g. position among seen classes).
        min_crop: training crops keep at least this many frames (capped at the sequence length;
            the official feeder's 64); the centred evaluation crop has no lower bound, as there.
    """

    def __init__(self, pdata: ProcessedData, indices: np.ndarray, window: int = 64,
                 train: bool = False, p_interval: tuple[float, float] = (0.5, 1.0),
                 rotation: float = 0.0, stream: str = "joint", seed: int = 0,
                 label_map: dict[int, int] | None = None, min_crop: int = 1):
        self.pdata = pdata
        self.indices = np.asarray(indices, dtype=np.int64)
        self.window, self.train = window, train
        self.p_interval, self.rotation, self.stream = p_interval, rotation, stream
        self.seed, self.epoch = seed, 0
        self.label_map = label_map
        self.min_crop = min_crop
        self.parents = pdata.layout.parents()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        j = int(self.indices[i])
        seq, length = self.pdata.data[j], int(self.pdata.lengths[j])
        if self.train:
            rng = np.random.default_rng((self.seed, self.epoch, j))
            ratio = rng.uniform(*self.p_interval)
            clip = crop_resize(seq, length, self.window, ratio, rng.uniform(), self.min_crop)
            clip = random_rotate(clip, self.rotation, rng)
        else:
            clip = crop_resize(seq, length, self.window, self.p_interval[1], None)
        clip = to_stream(clip, self.stream, self.parents)
        label = int(self.pdata.labels[j])
        if self.label_map is not None:
            label = self.label_map.get(label, -1)
        return torch.from_numpy(np.ascontiguousarray(clip)), label
