"""Skeleton datasets: readers, layouts, preprocessing, zero-shot splits and the processed cache.

Layout at the boundary: a sequence is ``(C, T, V, M)``, a batch ``(N, C, T, V, M)``: C = 3 xyz in
metres (depth-camera datasets) or C = 2 image x, y normalised by
:func:`neuron.data.transforms.normalise_2d` (2-D keypoint datasets: Penn Action, COCO-17 input).
"""
from neuron.data.base import SkeletonDataset, check_sequence
from neuron.data.cache import ProcessedData, load_processed, read_raw
from neuron.data.layouts import (COCO_17, KINECT_V1_20, LAYOUTS, NTU_25, NW_UCLA_20, PENN_ACTION_13,
                                 JointLayout)
from neuron.data.splits import ZeroShotSplit, make_split, train_mask

__all__ = ["SkeletonDataset", "check_sequence", "ProcessedData", "load_processed", "read_raw",
           "JointLayout", "LAYOUTS", "KINECT_V1_20", "NW_UCLA_20", "NTU_25",
           "PENN_ACTION_13", "COCO_17", "ZeroShotSplit",
           "make_split", "train_mask"]
