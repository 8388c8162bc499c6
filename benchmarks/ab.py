"""``--ab``: the encoder of another revision and the current one, alternating training steps in
one process (wall and CPU time per step, and their numerical agreement)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.encoder import reference_module
from benchmarks.timing import timed
from neuron.models import shift_gcn

def ab_encoder(ref, cur, V: int, M: int, batch: int = 16, T: int = 64, rounds: int = 2) -> dict:
    """A/B in one process: the reference and the current encoder (same weights, same input)
    alternate training steps (ref, cur, ref, cur, ...); wall and CPU seconds per step of each,
    their ratios, and the largest difference of loss and of parameter gradients (relative to the
    largest gradient entry) between the two."""
    torch.manual_seed(0)
    a = ref.ShiftGCN(num_classes=20, num_point=V, num_person=M)
    b = cur.ShiftGCN(num_classes=20, num_point=V, num_person=M)
    b.load_state_dict(a.state_dict())
    x = torch.randn(batch, 3, T, V, M)
    y = torch.randint(0, 20, (batch,))
    losses = []
    for m in (a, b):
        m.zero_grad(set_to_none=True)
        loss = F.cross_entropy(m(x).logits, y)
        loss.backward()
        losses.append(float(loss.detach()))
    gdiff = max(float((p.grad - q.grad).abs().max()) for p, q in zip(a.parameters(), b.parameters()))
    gmax = max(float(p.grad.abs().max()) for p in a.parameters())
    wall = {"ref": 0.0, "cur": 0.0}
    cpu = {"ref": 0.0, "cur": 0.0}
    for _ in range(rounds):
        for name, m in (("ref", a), ("cur", b)):
            def step():
                m.zero_grad(set_to_none=True)
                F.cross_entropy(m(x).logits, y).backward()
            w, c = timed(step, 1, warmup=0)
            wall[name] += w
            cpu[name] += c
    return {"V": V, "M": M, "batch": batch, "rounds": rounds,
            "ref_wall_s_per_step": wall["ref"] / rounds, "cur_wall_s_per_step": wall["cur"] / rounds,
            "ref_cpu_s_per_step": cpu["ref"] / rounds, "cur_cpu_s_per_step": cpu["cur"] / rounds,
            "speedup_wall": wall["ref"] / wall["cur"], "speedup_cpu": cpu["ref"] / cpu["cur"],
            "loss_diff": abs(losses[0] - losses[1]), "max_grad_diff": gdiff,
            "max_grad_diff_rel": gdiff / max(gmax, 1e-30)}


def run_ab(ref_rev: str, batch: int, rounds: int) -> int:
    """Print the A/B of ``ref_rev``'s encoder against the current one, V=20 M=1 and V=25 M=2.
    Returns 1 (and measures nothing) when that revision's encoder is missing or identical."""
    ref = reference_module(ref_rev)
    if ref is None:
        print(f"--ab: {ref_rev}:neuron/models/shift_gcn.py is missing or identical to the working tree")
        return 1
    for V, M in ((20, 1), (25, 2)):
        r = ab_encoder(ref, shift_gcn, V, M, batch=batch, rounds=rounds)
        print(f"A/B {ref_rev} -> current, V={V} M={M}, batch {r['batch']}, {torch.get_num_threads()} threads, "
              f"{r['rounds']} rounds: {r['ref_wall_s_per_step'] * 1e3:.0f} -> "
              f"{r['cur_wall_s_per_step'] * 1e3:.0f} ms wall per step ({r['speedup_wall']:.2f}x), "
              f"{r['ref_cpu_s_per_step'] * 1e3:.0f} -> {r['cur_cpu_s_per_step'] * 1e3:.0f} ms CPU "
              f"({r['speedup_cpu']:.2f}x); loss diff {r['loss_diff']:.1e}, max grad diff "
              f"{r['max_grad_diff']:.1e} ({r['max_grad_diff_rel']:.1e} of the largest gradient)", flush=True)
    return 0
