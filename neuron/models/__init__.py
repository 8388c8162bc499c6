"""Models: the Shift-GCN skeleton encoder, the Neuron head, the global-alignment baseline and the
peer heads (SMIE, SA-DVAE, STAR).

Peer interface (the same for every peer; docs/peers.md):

* ``build(name, text_dim, feat_dim=256, cfg=None) -> model`` with ``name`` in :data:`PEERS`;
  ``cfg`` overrides the peer's paper settings (``<module>.DEFAULTS``; unknown keys raise
  ``ConfigError``).
* ``model.fit(feats, labels, class_emb, seen, cfg=None, seed=0) -> dict`` trains on the seen
  classes: ``feats`` is a ``(N, F)`` pooled-feature tensor or a ``neuron.train.Features``-like
  object (``pooled (N, F)``, ``f_t (N, F, T')``, ``f_s (N, F, V)``; SMIE and STAR need the
  latter), ``labels`` ``(N,)`` dataset class ids, ``class_emb`` ``(C_all, E)`` (row = class id),
  ``seen`` the seen class ids. Returns a training history.
* ``model.scores(feats, class_emb=None, classes=None) -> ndarray (N, len(classes))``, column
  ``j`` = class ``classes[j]`` (default: every row of ``class_emb``), higher = more likely; the
  harness's ZSL / GZSL rules (``neuron.evaluate``) apply to it as to any other method.
"""

from neuron.errors import ConfigError
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
from neuron.models.sadvae import SADVAE
from neuron.models.smie import SMIE
from neuron.models.star import STAR
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
    "PEERS",
    "SADVAE",
    "SMIE",
    "STAR",
    "build",
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

#: peer name -> constructor ``(text_dim, feat_dim, cfg)``
PEERS = {"sadvae": SADVAE, "smie": SMIE, "star": STAR}


def build(name: str, text_dim: int, feat_dim: int = 256, cfg=None):
    """A peer head by name (see the module doc for the interface).

    Raises:
        ConfigError: unknown name or settings.
    """
    if name not in PEERS:
        raise ConfigError(f"unknown peer '{name}' (known: {sorted(PEERS)})")
    return PEERS[name](text_dim, feat_dim, cfg)
