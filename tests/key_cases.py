"""Inputs of the cache-key golden test (tests/test_keys.py): every run of every committed study
(its configuration as ``reports/<study>/study.json`` records it) and, for the keys that need a
dataset, encoder and side information, small stand-ins built deterministically from the run's
configuration (no data, no training).

The golden file ``tests/golden_keys.json`` holds the keys these inputs had before the keys moved
to :mod:`neuron.keys`; the test recomputes them."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from neuron.config import RunConfig, StudyConfig, from_dict, load_run_config
from neuron.pipeline import expand_study

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden_keys.json"


def committed_runs() -> list[tuple[str, dict]]:
    """``("<study>/<run folder>", resolved run parameters)`` for every run the committed studies
    expand into."""
    out = []
    for path in sorted(ROOT.glob("reports/*/study.json")):
        study = from_dict(StudyConfig, json.loads(path.read_text())["config"], str(path))
        for r in expand_study(study):
            out.append((f"{study.name}/{r.rel_dir.as_posix()}", r.config))
    return out


def stand_ins(cfg: RunConfig):
    """(bundle, semantics, features) stand-ins carrying only what keys read, derived from ``cfg``."""
    d = cfg.data
    seen = list(range(d.split_index, d.split_index + 6))
    bundle = SimpleNamespace(
        pdata=SimpleNamespace(key=f"processed-{d.dataset}-{d.protocol or 'default'}"),
        split_spec=SimpleNamespace(name=d.split),
        split=SimpleNamespace(seen=seen, train=np.arange(3 * cfg.seed, 3 * cfg.seed + 40),
                              val=np.arange(100, 110), test=np.arange(200, 230)))
    base = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4) / 7.0
    sem = SimpleNamespace(spatial=[base + i for i in range(3)], temporal=[base - i for i in range(3)],
                          encoder_id=f"text:{cfg.side_info.encoder}")
    views = [SimpleNamespace(key="enc0123/views-abc.pt")] if cfg.neuron_train.views else []
    feats = SimpleNamespace(key="enc0123/features-52-0123456789ab.pt", views=views,
                            content_hash=lambda: "content")
    return bundle, sem, feats


#: Variants of the smoke run for the options whose defaults keys leave out (and one that no
#: committed run sets): name -> dotted overrides.
SMOKE_VARIANTS = {
    "smoke": {},
    "smoke/shift_grad=official": {"encoder.shift_grad": "official"},
    "smoke/fusion=temporal": {"neuron.fusion": "temporal"},
    "smoke/round_weights": {"neuron.round_weights": [1.0, 1.0, 2.0]},
    "smoke/views=2": {"neuron_train.views": 2},
    "smoke/generation": {"side_info.generation.backend": "transformers",
                         "side_info.generation.model": "some/model"},
}


def representative_configs() -> list[tuple[str, RunConfig]]:
    """Each committed run's configuration plus the smoke run (params/runs/smoke.yaml) and its
    :data:`SMOKE_VARIANTS`."""
    cfgs = [(name, load_run_config(c)) for name, c in committed_runs()]
    smoke = ROOT / "params" / "runs" / "smoke.yaml"
    return cfgs + [(name, load_run_config(smoke, over)) for name, over in SMOKE_VARIANTS.items()]
