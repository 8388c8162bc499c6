"""neuron: zero-shot skeleton action recognition with context-aware evolving representations.

Reproduces Chen, Guo, Guo, Tao, "Neuron: Learning Context-Aware Evolving Representations for
Zero-Shot Skeleton Action Recognition", CVPR 2025.

Tensor layout at every data boundary of this package: a batch of skeleton sequences is
``(N, C, T, V, M)``: N samples, C = 3 xyz channels in metres, T frames, V joints, M persons;
a single sequence is ``(C, T, V, M)``.
"""

__version__ = "0.1.0"
