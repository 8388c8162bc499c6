"""``--profile``: the top operators of one encoder training step (``torch.profiler``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.encoder import reference_module
from neuron.models import shift_gcn

def profile_encoder(mod, V: int, M: int, batch: int, T: int, top: int = 12) -> list[dict]:
    """Self CPU time per operator (``torch.profiler``) of one training step after a warm-up step.

    Returns the ``top`` operators by self CPU time: name, calls, self CPU ms, share of the step.
    """
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    model = mod.ShiftGCN(num_classes=20, num_point=V, num_person=M)
    x = torch.randn(batch, 3, T, V, M)
    y = torch.randint(0, 20, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True)

    def step():
        loss = F.cross_entropy(model(x).logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    evs = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in evs)
    evs.sort(key=lambda e: -e.self_cpu_time_total)
    return [{"op": e.key, "calls": e.count, "self_cpu_ms": e.self_cpu_time_total / 1e3,
             "share": e.self_cpu_time_total / total} for e in evs[:top]]


def run_profile(ref: str, quick: bool) -> int:
    """Print the top operators of the current encoder and of ``ref``'s, V=20 M=1 and V=25 M=2."""
    for V, M in ((20, 1), (25, 2)):
        for impl, mod in (("optimised", shift_gcn), ("HEAD", reference_module(ref))):
            if mod is None:
                continue
            rows = profile_encoder(mod, V, M, 16 if quick else 64, 64)
            tot = sum(r["self_cpu_ms"] / r["share"] for r in rows[:1])
            print(f"\n{impl} V={V} M={M} (batch {16 if quick else 64}, T=64, "
                  f"{torch.get_num_threads()} threads): step {tot:.0f} ms (sum of self times; the profiler times CPU ops by wall clock)")
            for r in rows:
                print(f"  {r['op']:<40} {r['calls']:5d} calls {r['self_cpu_ms']:9.1f} ms {100 * r['share']:5.1f} %")
    return 0
