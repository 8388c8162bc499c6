"""Tests of neuron.models: Shift-GCN encoder, Neuron head, global-alignment baseline."""

from __future__ import annotations

import math

import pytest
import torch

from neuron.models import (
    FrozenEncoder,
    GlobalAlignment,
    Neuron,
    ShiftGCN,
    freeze,
    global_alignment_loss,
    neuron_loss,
    split_cube,
)
from neuron.models.shift_gcn import ShiftGraphConv, spatial_shift_index

D = 32  # small text dimension for speed


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """These tensors are tiny: one intra-op thread avoids OpenMP spin-waiting on a busy CPU."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _sem(num_classes: int, k: int = 10, d: int = D, levels: int = 3, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(num_classes, k, d, generator=g) for _ in range(levels)]


def _feats(n: int = 4, v: int = 25, t: int = 16, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 256, v, generator=g).relu(), torch.randn(n, 256, t, generator=g).relu()


# ----------------------------------------------------------------------------- encoder


@pytest.mark.parametrize("num_point,num_person", [(20, 1), (20, 2), (25, 1), (25, 2)])
def test_shiftgcn_shapes(num_point: int, num_person: int) -> None:
    torch.manual_seed(0)
    model = ShiftGCN(num_classes=7, num_point=num_point, num_person=num_person)
    x = torch.randn(2, 3, 12, num_point, num_person)
    out = model(x)
    assert out.logits.shape == (2, 7)
    assert out.pooled.shape == (2, 256)
    assert out.cube.shape == (2, 256, 3, num_point)
    assert torch.allclose(out.pooled, out.cube.mean(dim=(2, 3)), atol=1e-5)
    f_s, f_t = split_cube(out.cube)
    assert f_s.shape == (2, 256, num_point) and f_t.shape == (2, 256, 3)


def test_shiftgcn_odd_length_and_bad_input() -> None:
    model = ShiftGCN(num_classes=3, num_point=20, num_person=1).eval()
    out = model(torch.randn(1, 3, 7, 20, 1))
    assert out.cube.shape == (1, 256, 2, 20)  # ceil(ceil(7/2)/2)
    with pytest.raises(ValueError):
        model(torch.randn(1, 3, 16, 25, 1))
    with pytest.raises(ValueError):
        model(torch.randn(1, 3, 16, 20))


def test_shiftgcn_backward_reaches_all_parameters() -> None:
    torch.manual_seed(0)
    model = ShiftGCN(num_classes=4, num_point=20, num_person=2)
    out = model(torch.randn(2, 3, 6, 20, 2))
    out.logits.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing
    shifts = [p.grad for n, p in model.named_parameters() if n.endswith(".shift")]
    assert len(shifts) == 20 and all(torch.isfinite(g).all() for g in shifts)


def test_pointwise_maps_as_convolution_equal_linear(monkeypatch) -> None:
    """The CPU implementation of the pointwise maps (oneDNN 1x1 convolutions, strided frames read
    in place) gives the logits and gradients of the ``F.linear`` implementation used elsewhere."""
    import neuron.models.shift_gcn as sg

    res = {}
    for conv in (True, False):
        monkeypatch.setattr(sg, "_POINTWISE_CONV", conv)
        torch.manual_seed(0)
        model = ShiftGCN(num_classes=4, num_point=5, num_person=2)
        out = model(torch.randn(3, 3, 9, 5, 2))
        torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1, 3])).backward()
        res[conv] = [out.logits.detach()] + [p.grad for p in model.parameters()]
    # biases followed by a training-mode BatchNorm have a zero gradient: both give rounding noise,
    # so the absolute tolerance is taken on the scale of the largest gradient
    scale = max(float(g.abs().max()) for g in res[False][1:])
    for a, b in zip(res[True], res[False]):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6 * scale)


def test_spatial_shift_index_semantics() -> None:
    V, C = 5, 3
    x = torch.arange(V * C).view(V, C)
    fwd = x.reshape(-1)[spatial_shift_index(V, C, +1)].view(V, C)
    for i in range(V):
        for j in range(C):
            assert fwd[i, j] == x[(i + j) % V, j]
    back = fwd.reshape(-1)[spatial_shift_index(V, C, -1)].view(V, C)
    assert torch.equal(back, x)


def test_shift_graph_conv_matches_naive() -> None:
    torch.manual_seed(0)
    B, T, V, Cin, Cout = 2, 3, 6, 4, 5
    layer = ShiftGraphConv(Cin, Cout, V).eval()
    with torch.no_grad():
        layer.feature_mask.normal_()
        layer.bias.normal_()
    x = torch.randn(B, T, V, Cin)
    y = layer(x)
    # naive: shift in, mask, linear, shift out, BN (eval: identity stats), + down(x), relu
    xs = torch.empty_like(x)
    for i in range(V):
        for j in range(Cin):
            xs[:, :, i, j] = x[:, :, (i + j) % V, j]
    z = (xs * (torch.tanh(layer.feature_mask[0]) + 1)) @ layer.weight + layer.bias[0]
    zs = torch.empty_like(z)
    for i in range(V):
        for j in range(Cout):
            zs[:, :, i, j] = z[:, :, (i - j) % V, j]
    bn = layer.bn
    zs = (zs.reshape(B * T, -1) - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    ref = torch.relu(zs.view(B, T, V, Cout) + layer.down(x))
    assert torch.allclose(y, ref, atol=1e-5)


# ----------------------------------------------------------------------------- freezing


def test_frozen_encoder_stays_frozen_under_training() -> None:
    torch.manual_seed(0)
    enc = ShiftGCN(num_classes=5, num_point=20, num_person=1)
    frozen = FrozenEncoder(enc)
    head = Neuron(D, num_prototypes=16, compress_per_round=2)
    parent = torch.nn.ModuleDict({"encoder": frozen, "head": head})
    parent.train()
    assert not enc.training and all(not m.training for m in enc.modules())
    assert head.training
    buffers = {k: v.clone() for k, v in enc.state_dict().items()}
    sem = _sem(5)
    out_enc = frozen(torch.randn(3, 3, 8, 20, 1))
    assert not out_enc.cube.requires_grad
    f_s, f_t = split_cube(out_enc.cube)
    loss = neuron_loss(head(f_s, f_t, sem, sem), torch.tensor([0, 1, 2]))
    loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in enc.parameters())
    assert any(p.grad is not None for p in head.parameters())
    for k, v in enc.state_dict().items():
        assert torch.equal(v, buffers[k]), k


def test_freeze_helper() -> None:
    enc = freeze(ShiftGCN(num_classes=2, num_point=20, num_person=1))
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())


# ----------------------------------------------------------------------------- Neuron


@pytest.mark.parametrize("num_point", [20, 25])
def test_neuron_shapes(num_point: int) -> None:
    torch.manual_seed(0)
    model = Neuron(D)
    f_s, f_t = _feats(v=num_point)
    out = model(f_s, f_t, _sem(6), _sem(6, seed=3))
    assert len(out.spatial_logits) == len(out.temporal_logits) == 3
    assert all(lg.shape == (4, 6) for lg in out.spatial_logits + out.temporal_logits)
    assert out.scores.shape == (4, 6)
    assert torch.allclose(out.scores.sum(1), torch.full((4,), 2.0), atol=1e-5)  # sum of two softmaxes
    assert all(r.shape == (4, D) for r in out.spatial_reps + out.temporal_reps)
    assert all(torch.allclose(r.norm(dim=1), torch.ones(4), atol=1e-5) for r in out.spatial_reps)
    assert all(p.shape == (4, 80, 256) for p in out.spatial_prototypes + out.temporal_prototypes)
    assert [a.shape[1] for a in out.temporal_attention] == [5, 10, 16]
    # official scale: logits are 0.1 * (mean cosine) so |logit| <= 0.1
    assert all(lg.abs().max() <= 0.1 + 1e-6 for lg in out.spatial_logits)


def test_neuron_logits_are_scaled_mean_topk_cosine() -> None:
    torch.manual_seed(0)
    f_s, f_t = _feats(n=2)
    sem = _sem(3)
    model = Neuron(D, top_k=3, logit_scale=0.5, use_temporal=False)
    out = model(f_s, f_t, sem, [])
    rep = out.spatial_reps[1]
    cos = torch.einsum("nd,ckd->nck", rep, torch.nn.functional.normalize(sem[1], dim=-1))
    ref = 0.5 * cos.sort(dim=2, descending=True).values[:, :, :3].mean(2)
    assert torch.allclose(out.spatial_logits[1], ref, atol=1e-6)


def test_neuron_loss_at_init_near_log_classes() -> None:
    torch.manual_seed(0)
    C = 12
    f_s, f_t = _feats(n=16)
    target = torch.arange(16) % C
    loss = neuron_loss(Neuron(D)(f_s, f_t, _sem(C), _sem(C)), target)
    assert abs(loss.item() - math.log(C)) < 0.05
    loss = neuron_loss(Neuron(D, logit_scale=1.0)(f_s, f_t, _sem(C), _sem(C)), target)
    assert abs(loss.item() - math.log(C)) < 0.3


def _overfit(model: torch.nn.Module, step, steps: int = 40, lr: float = 3e-3) -> tuple[float, float]:
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    first = last = None
    for _ in range(steps):
        opt.zero_grad()
        loss = step()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
        last = loss.item()
    return first, last


def test_neuron_overfits_one_batch() -> None:
    torch.manual_seed(0)
    C = 4
    f_s, f_t = _feats(n=8)
    target = torch.arange(8) % C
    sem_s, sem_t = _sem(C), _sem(C, seed=5)
    # A large scale shows real fitting (the official 0.1 bounds |logit| by 0.1, so CE >= ~log(C) - 0.2).
    # Random descriptions bound the reachable cosine margin, so the loss plateaus well above 0.
    model = Neuron(D, num_prototypes=8, compress_per_round=1, logit_scale=10.0)
    first, last = _overfit(model, lambda: neuron_loss(model(f_s, f_t, sem_s, sem_t), target), steps=20)
    assert last < 0.5 * first
    official = Neuron(D, num_prototypes=8, compress_per_round=1)
    first, last = _overfit(official, lambda: neuron_loss(official(f_s, f_t, sem_s, sem_t), target), steps=10)
    assert last < first - 0.005


ABLATIONS = [
    dict(),
    dict(rounds=1),
    dict(rounds=2),
    dict(rounds=2, windows=(0.5, 1.0)),
    dict(compress_per_round=0),
    dict(temporal_memory=False),
    dict(use_spatial=False),
    dict(use_temporal=False),
    dict(use_temporal=False, fusion="spatial"),
    dict(fusion="temporal"),
    dict(num_prototypes=8, compress_per_round=2),
    dict(top_k=None),
    dict(top_k=3),
    dict(windows=(0.25, 0.5, 0.75)),
]


@pytest.mark.parametrize("cfg", ABLATIONS, ids=[str(c) or "default" for c in ABLATIONS])
def test_neuron_ablations_run(cfg: dict) -> None:
    torch.manual_seed(0)
    model = Neuron(D, **cfg)
    f_s, f_t = _feats(n=3, v=20)
    out = model(f_s, f_t, _sem(5), _sem(5))
    rounds = cfg.get("rounds", 3)
    assert len(out.spatial_logits) == (rounds if cfg.get("use_spatial", True) else 0)
    assert len(out.temporal_logits) == (rounds if cfg.get("use_temporal", True) else 0)
    assert out.scores.shape == (3, 5)
    loss = neuron_loss(out, torch.tensor([0, 1, 2]))
    loss.backward()
    assert torch.isfinite(loss)


@pytest.mark.parametrize(
    "cfg",
    [
        dict(rounds=0),
        dict(rounds=4),
        dict(rounds=2, windows=(5 / 16, 10 / 16, 1.0)),
        dict(windows=(0.0, 0.5, 1.0)),
        dict(compress_per_round=27),
        dict(num_prototypes=10, compress_per_round=4),
        dict(compress_per_round=-1),
        dict(use_spatial=False, use_temporal=False),
        dict(fusion="max"),
        dict(use_spatial=False, fusion="spatial"),
        dict(top_k=0),
    ],
)
def test_neuron_invalid_config_raises(cfg: dict) -> None:
    with pytest.raises(ValueError):
        Neuron(D, **cfg)


def test_neuron_forward_mismatch_raises() -> None:
    model = Neuron(D)
    f_s, f_t = _feats(n=2)
    with pytest.raises(ValueError, match="description embeddings"):
        model(f_s, f_t, _sem(4, d=D + 1), _sem(4))
    with pytest.raises(ValueError, match="semantic levels"):
        model(f_s, f_t, _sem(4, levels=2), _sem(4))
    with pytest.raises(ValueError, match="classes"):
        model(f_s, f_t, _sem(4), _sem(5))
    with pytest.raises(ValueError, match="top_k"):
        model(f_s, f_t, _sem(4, k=5), _sem(4, k=5))
    with pytest.raises(ValueError):
        model(f_s[:, :128], f_t, _sem(4), _sem(4))


def test_neuron_golden() -> None:
    """Pins a few outputs of a seeded model on a seeded input (guards against silent changes)."""
    torch.manual_seed(1234)
    model = Neuron(16, num_prototypes=12, compress_per_round=3, logit_scale=1.0)
    g = torch.Generator().manual_seed(99)
    f_s = torch.randn(2, 256, 20, generator=g).relu()
    f_t = torch.randn(2, 256, 16, generator=g).relu()
    sem_s = [torch.randn(3, 10, 16, generator=g) for _ in range(3)]
    sem_t = [torch.randn(3, 10, 16, generator=g) for _ in range(3)]
    out = model(f_s, f_t, sem_s, sem_t)
    got = torch.stack([out.spatial_logits[0][0], out.spatial_logits[2][1], out.temporal_logits[0][0],
                       out.temporal_logits[2][1], out.scores[0]])
    expected = torch.tensor(GOLDEN)
    assert torch.allclose(got, expected, atol=2e-4), got


GOLDEN = [
    [0.03238, 0.07884, 0.10815],
    [0.01109, -0.00648, 0.16914],
    [-0.04001, 0.04153, 0.06681],
    [0.00604, 0.01547, 0.06663],
    [0.64585, 0.64509, 0.70907],
]


# ----------------------------------------------------------------------------- baseline


def test_global_alignment_shapes_loss_and_overfit() -> None:
    torch.manual_seed(0)
    C = 10
    pooled = torch.randn(20, 256).relu()
    class_emb = _sem(C, levels=1)[0].mean(1)
    target = torch.arange(20) % C
    model = GlobalAlignment(D)
    logits = model(pooled, class_emb)
    assert logits.shape == (20, C)
    assert abs(global_alignment_loss(logits, target).item() - math.log(C)) < 0.05
    model = GlobalAlignment(D, logit_scale=10.0)
    first, last = _overfit(model, lambda: global_alignment_loss(model(pooled, class_emb), target), steps=60)
    assert last < 0.3 * first
    with pytest.raises(ValueError):
        model(pooled, class_emb[:, :5])
    with pytest.raises(ValueError):
        model(pooled[:, :10], class_emb)


# ----------------------------------------------------------------------------- named variants


def test_neuron_alignment_variants_targets() -> None:
    """``unit_mean`` scores the cosine to the normalised level mean; ``class_mean`` the cosine to
    the normalised mean of all levels of both branches (the baseline's target) in every round."""
    F = torch.nn.functional
    f_s, f_t = _feats(n=3)
    sem_s, sem_t = _sem(5), _sem(5, seed=7)
    torch.manual_seed(0)
    unit = Neuron(D, logit_scale=2.0, alignment="unit_mean")
    out = unit(f_s, f_t, sem_s, sem_t)
    for r in range(3):
        target = F.normalize(F.normalize(sem_s[r], dim=-1).mean(1), dim=-1)
        assert torch.allclose(out.spatial_logits[r], 2.0 * out.spatial_reps[r] @ target.T, atol=1e-5)
    torch.manual_seed(0)
    cls = Neuron(D, logit_scale=2.0, alignment="class_mean")
    out = cls(f_s, f_t, sem_s, sem_t)
    allv = torch.cat([F.normalize(x, dim=-1) for x in sem_s + sem_t], 1)
    target = F.normalize(allv.mean(1), dim=-1)
    for r in range(3):
        assert torch.allclose(out.temporal_logits[r], 2.0 * out.temporal_reps[r] @ target.T, atol=1e-5)
    # the official alignment differs from the unit-mean one (class norms act as multipliers)
    torch.manual_seed(0)
    official = Neuron(D, logit_scale=2.0)(f_s, f_t, sem_s, sem_t)
    assert not torch.allclose(official.spatial_logits[0], unit(f_s, f_t, sem_s, sem_t).spatial_logits[0])


def test_neuron_project_relu_variant() -> None:
    torch.manual_seed(0)
    signed = Neuron(D, project_relu=False)
    torch.manual_seed(0)
    official = Neuron(D)
    assert signed.state_dict().keys() == official.state_dict().keys()
    f_s, f_t = _feats(n=8)
    assert (official(f_s, f_t, _sem(4), _sem(4)).spatial_reps[0] >= 0).all()
    assert (signed(f_s, f_t, _sem(4), _sem(4)).spatial_reps[0] < 0).any()
    with pytest.raises(ValueError, match="alignment"):
        Neuron(D, alignment="nearest")
