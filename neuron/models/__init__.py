"""Models: the Shift-GCN skeleton encoder, the Neuron head and the global-alignment baseline."""

from neuron.models.baseline import GlobalAlignment, global_alignment_loss
from neuron.models.neuron import (
    DEFAULT_WINDOWS,
    OFFICIAL_LOGIT_SCALE,
    OFFICIAL_TOP_K,
    Neuron,
    NeuronOutput,
    align_logits,
    neuron_loss,
)
from neuron.models.official import load_official_state
from neuron.models.shift_gcn import (
    EncoderOutput,
    FrozenEncoder,
    ShiftGCN,
    TemporalShift,
    freeze,
    split_cube,
    temporal_shift,
)

__all__ = [
    "DEFAULT_WINDOWS",
    "EncoderOutput",
    "FrozenEncoder",
    "GlobalAlignment",
    "Neuron",
    "NeuronOutput",
    "OFFICIAL_LOGIT_SCALE",
    "OFFICIAL_TOP_K",
    "ShiftGCN",
    "TemporalShift",
    "align_logits",
    "freeze",
    "global_alignment_loss",
    "load_official_state",
    "neuron_loss",
    "split_cube",
    "temporal_shift",
]
