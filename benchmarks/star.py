"""``--star``: one STAR training step (``STAR.losses`` + backward + SGD step) with the factored
part semantics (``STAR.part_semantics``, what training uses) and with the official order
(``STAR.part_semantics_reference``), alternating in one process; wall and CPU seconds per step,
their ratio, and the largest difference of the loss and of the gradients between the two.

Shapes of the UTD-MHAD runs: batch 64, Kinect v1 layout (V = 20, six parts), F = 256 features,
E = 768 text (all-mpnet-base-v2), 27 classes of which 22 seen, the paper recipe's 100 prompts.
"""
from __future__ import annotations

import torch

from benchmarks.timing import timed
from neuron.models.star import STAR


def star_step(model: STAR, f_s, target, label_emb, part_emb, seen, reference: bool) -> tuple[float, list]:
    """One training step's loss and parameter gradients (the step itself is not applied)."""
    model.zero_grad(set_to_none=True)
    semantics = model.part_semantics
    if reference:
        model.part_semantics = model.part_semantics_reference  # instance attribute: losses() calls it
    try:
        loss = model.losses(f_s, target, label_emb, part_emb, seen)["loss"]
    finally:
        model.part_semantics = semantics
    loss.backward()
    return float(loss.detach()), [p.grad.clone() if p.grad is not None else None for p in model.parameters()]


def run_star(batch: int = 64, rounds: int = 3) -> int:
    torch.manual_seed(0)
    model = STAR(768, 256)
    model.resolve_parts(20)
    model.reset_class_prompts(27)
    f_s = torch.randn(batch, 256, 20).abs()
    label_emb, part_emb = STAR.split_text(torch.randn(27, 7, 768), 6)
    seen = torch.arange(22)
    target = torch.randint(0, 22, (batch,))
    loss_ref, g_ref = star_step(model, f_s, target, label_emb, part_emb, seen, True)
    loss_fast, g_fast = star_step(model, f_s, target, label_emb, part_emb, seen, False)
    gmax = max(float(g.abs().max()) for g in g_ref if g is not None)
    gdiff = max(float((a - b).abs().max()) for a, b in zip(g_fast, g_ref) if b is not None)
    print(f"STAR training step, batch {batch}, V=20 (6 parts), F=256, E=768, P=100, "
          f"{torch.get_num_threads()} thread(s); loss official order {loss_ref:.6f}, factored {loss_fast:.6f}; "
          f"largest gradient difference {gdiff / gmax:.1e} of the largest gradient entry")
    times = {"official order": [], "factored": []}
    for _ in range(rounds):  # alternate, so drifting machine speed hits both alike
        for name, ref in (("official order", True), ("factored", False)):
            times[name].append(timed(lambda: star_step(model, f_s, target, label_emb, part_emb, seen, ref),
                                     reps=1, warmup=0))
    best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in times.items()}
    for name, (w, c) in best.items():
        print(f"  {name:15s} {w:7.3f} s/step wall  {c:7.3f} s/step CPU  (best of {rounds})")
    (wr, cr), (wf, cf) = best["official order"], best["factored"]
    print(f"  speed-up of the factored order: {wr / wf:.1f}x wall, {cr / cf:.1f}x CPU")
    return 0
