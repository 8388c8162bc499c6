"""Skeleton datasets: readers, layouts, preprocessing, zero-shot splits and the processed cache.

Layout at the boundary: a sequence is ``(C=3, T, V, M)`` in metres, a batch ``(N, C, T, V, M)``.
"""
from neuron.data.base import SkeletonDataset, check_sequence
from neuron.data.cache import ProcessedData, load_processed, read_raw
from neuron.data.layouts import KINECT_V1_20, LAYOUTS, NTU_25, NW_UCLA_20, JointLayout
from neuron.data.splits import ZeroShotSplit, make_split, train_mask

__all__ = ["SkeletonDataset", "check_sequence", "ProcessedData", "load_processed", "read_raw",
           "JointLayout", "LAYOUTS", "KINECT_V1_20", "NW_UCLA_20", "NTU_25", "ZeroShotSplit",
           "make_split", "train_mask"]
