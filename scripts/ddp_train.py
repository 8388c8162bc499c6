"""Multi-process (multi-GPU or multi-CPU) encoder pre-training and Neuron training with DDP.

    # one node, 8 GPUs (NCCL):
    torchrun --standalone --nproc_per_node=8 scripts/ddp_train.py params/runs/utd_mhad_quick.yaml
    # two nodes:
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 \\
        scripts/ddp_train.py params/runs/ntu60_55_5.yaml
    # CPU smoke test, two gloo processes:
    torchrun --standalone --nproc_per_node=2 scripts/ddp_train.py params/runs/utd_mhad_quick.yaml --device cpu

Runs the same stages as ``python -m neuron run`` for one run config: data, side information,
Shift-GCN pre-training (DDP), frozen-feature extraction (rank 0, then shared through the cache),
Neuron + baseline training (DDP) and evaluation.  ``batch_size`` in the config is the *global*
batch (split evenly across processes, same seeded batches as a single process), so results match
the single-process run up to BatchNorm statistics being per process.  Only rank 0 writes
checkpoints, features, metrics and reports; the other ranks wait at barriers.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="DDP training of one Neuron run (use under torchrun)")
    ap.add_argument("run_config", help="a params/runs/*.yaml file")
    ap.add_argument("--device", default="auto", help="auto (cuda:LOCAL_RANK if available) | cpu")
    ap.add_argument("--out", default=None, help="run folder (default runs/<name>-ddp)")
    args = ap.parse_args(argv)

    from neuron import distributed as nd
    from neuron import stages
    from neuron.config import load_run_config
    from neuron.train import seed_everything

    device = nd.init_from_env(device=args.device)
    try:
        cfg = load_run_config(args.run_config)
        if cfg.num_threads:
            import torch

            torch.set_num_threads(cfg.num_threads)
        seed_everything(cfg.seed)
        run_dir = Path(args.out or ROOT / "runs" / f"{cfg.name}-ddp")
        main_rank = nd.is_main()
        if main_rank:
            run_dir.mkdir(parents=True, exist_ok=True)
        bundle = stages.stage_data(cfg) if main_rank else None
        nd.barrier()  # rank 0 built the processed-data cache; the others now read it
        if bundle is None:
            bundle = stages.stage_data(cfg)
        sem = stages.stage_side_info(cfg, bundle) if main_rank else None
        nd.barrier()
        if sem is None:
            sem = stages.stage_side_info(cfg, bundle)
        # encoder pre-training: every rank trains its DDP replica (fit() splits the batches)
        encoder, _, folder = stages.stage_encoder(cfg, bundle, device, progress=main_rank)
        nd.barrier()
        # features: rank 0 extracts and caches, the others load the cache
        feats = stages.stage_features(cfg, bundle, encoder, folder, device, progress=main_rank) \
            if main_rank else None
        nd.barrier()
        if feats is None:
            feats = stages.stage_features(cfg, bundle, encoder, folder, device, progress=False)
        # Neuron + baseline: DDP training inside fit(); every rank evaluates, rank 0 writes
        scratch = run_dir if main_rank else run_dir / f".rank{nd.rank()}"
        scratch.mkdir(parents=True, exist_ok=True)
        metrics = stages.stage_neuron(cfg, bundle, sem, feats, scratch, device, progress=main_rank)
        if main_rank:
            zsl = metrics.get("neuron", {})
            print(f"done: {run_dir / 'metrics.json'}  ZSL/GZSL: "
                  f"{ {k: v for k, v in zsl.items() if isinstance(v, (int, float))} }")
        nd.barrier()
    finally:
        nd.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
