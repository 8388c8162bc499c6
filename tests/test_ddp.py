"""DistributedDataParallel on CPU: two gloo processes reproduce the single-process run of
:func:`neuron.train.fit` with the same global batch (loss history and final weights)."""
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from neuron import distributed as nd
from neuron.config import OptimConfig
from neuron.train import fit

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 8, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    return TensorDataset(x, y)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def _cfg():
    return OptimConfig(epochs=3, batch_size=16, lr=0.1, weight_decay=0.0005, steps=[2], warmup_epochs=1)


def _step(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)


def _run(rank: int, port: int, out: str, ckpt: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dev = nd.init_from_env(device="cpu")
    try:
        model = _model()
        res = fit(model, _data(), _cfg(), _step, seed=3, device=dev, checkpoint=ckpt, progress=False)
        torch.save({"history": res.history, "state": model.state_dict(), "rank": nd.rank(),
                    "wrote": os.path.exists(ckpt)}, f"{out}.{rank}")
    finally:
        nd.cleanup()


def test_epoch_order_matches_dataloader():
    ds = _data()
    for seed in (0, 7, 123456):
        dl = DataLoader(ds, batch_size=len(ds), shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
        ref = next(iter(dl))[0]
        got = ds.tensors[0][nd.epoch_order(len(ds), seed)]
        assert torch.equal(ref, got)


def test_sharded_batches_cover_global_batches():
    per_rank = [list(nd.ShardedBatchSampler(50, 16, 5, True, num_replicas=2, rank_=r)) for r in range(2)]
    ref = nd.epoch_order(50, 5)
    assert len(per_rank[0]) == len(per_rank[1]) == 3
    for b, (a, c) in enumerate(zip(*per_rank)):
        assert a + c == ref[16 * b:16 * (b + 1)]
    with pytest.raises(ValueError):
        nd.ShardedBatchSampler(50, 15, 0, True, num_replicas=2, rank_=0)


def test_single_process_helpers_are_identity():
    assert not nd.is_distributed() and nd.is_main() and nd.world_size() == 1
    m = nn.Linear(2, 2)
    assert nd.wrap_ddp(m) is m and nd.unwrap(m) is m
    assert nd.all_reduce_mean(2.0, 3.0) == 2.0


@pytest.mark.slow  # another process
def test_ddp_two_gloo_processes_match_single_process(tmp_path):
    torch.set_num_threads(1)
    ref_model = _model()
    ref = fit(ref_model, _data(), _cfg(), _step, seed=3, device=torch.device("cpu"), progress=False)

    out = str(tmp_path / "res")
    ckpt = str(tmp_path / "ddp.ckpt")
    mp.start_processes(_run, args=(_free_port(), out, ckpt), nprocs=WORLD, join=True,
                       start_method="spawn")
    results = [torch.load(f"{out}.{r}", weights_only=False) for r in range(WORLD)]
    assert os.path.exists(ckpt)  # rank 0 wrote the checkpoint
    for res in results:
        assert len(res["history"]) == 3
        for a, b in zip(res["history"], ref.history):
            assert a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-6)
            assert a["lr"] == pytest.approx(b["lr"])
        for k, v in ref_model.state_dict().items():
            torch.testing.assert_close(res["state"][k], v, rtol=1e-5, atol=1e-6)
    # both ranks hold identical weights (DDP keeps replicas in sync)
    for k in results[0]["state"]:
        assert torch.equal(results[0]["state"][k], results[1]["state"][k])
