#!/usr/bin/env python
"""Generate LLM side information for one dataset (Neuron, CVPR 2025, Sec. 3.2); resumable.

Examples:
  # offline, tiny local model (what produced params/side_info/*):
  python scripts/generate_side_info.py utd_mhad --backend smollm2 --strategy pool \
      --num-samples 6 --max-calls 4 --max-new-tokens 200 --out params/side_info/utd_mhad
  # offline, SmolLM2 run in-process by llama.cpp (xllamacpp), JSON-schema replies, 1 thread:
  python scripts/generate_side_info.py kinder_gator --backend smollm2-llamacpp --threads 1 \
      --max-calls 6 --max-new-tokens 400 --skip-failed --out params/side_info/kinder_gator_smollm2
  # llama.cpp's own OpenAI-compatible server (llama-server -m model.gguf --port 8080):
  python scripts/generate_side_info.py utd_mhad --backend openai --model smollm2 --no-key \
      --base-url http://127.0.0.1:8080/v1 --out runs/side_info/utd_mhad_server
  # any OpenAI-compatible server (key read from the env var named by --api-key-env):
  python scripts/generate_side_info.py nw_ucla --backend openai --model gpt-4o-mini \
      --out runs/side_info/nw_ucla

Class names come from params/datasets/<dataset>.yaml (key ``class_names``) unless
--classes "a;b;c" or --classes-yaml FILE (any YAML with a ``class_names`` list) is given. Rerunning the same command continues where it stopped.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--backend", choices=["openai", "transformers", "smollm2", "llamacpp", "smollm2-llamacpp"],
                    default="smollm2", help="smollm2: SmolLM2 via transformers; smollm2-llamacpp: "
                    "the same GGUF via llama.cpp in-process (xllamacpp); llamacpp: any --model GGUF")
    ap.add_argument("--model", help="model name (openai), folder/hub id (transformers) or .gguf "
                    "file (llamacpp)")
    ap.add_argument("--gguf-file", help="GGUF file inside --model (transformers)")
    ap.add_argument("--base-url", help="OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1")
    ap.add_argument("--api-key-env", default="OPENAI_API_KEY",
                    help="NAME of the environment variable holding the API key")
    ap.add_argument("--no-key", action="store_true", help="server needs no key (local vLLM/Ollama)")
    ap.add_argument("--out", required=True, help="output folder (level JSONs + generation_log.jsonl)")
    ap.add_argument("--classes", help="';'-separated class names (default: params/datasets/<dataset>.yaml)")
    ap.add_argument("--classes-yaml", help="YAML file with a class_names list (default: "
                    "params/datasets/<dataset>.yaml)")
    ap.add_argument("--limit", type=int, help="only the first N classes")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--strategy", choices=["strict", "pool"], default=None,
                    help="default: pool for smollm2, strict otherwise")
    ap.add_argument("--max-attempts", type=int, default=3)
    ap.add_argument("--max-calls", type=int, default=4)
    ap.add_argument("--num-samples", type=int, default=1)
    ap.add_argument("--dialogues", default="spatial,temporal")
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--top-p", type=float, default=0.9)
    ap.add_argument("--max-new-tokens", type=int, default=384)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--provenance", help="JSONL file updated with one line per finished item")
    ap.add_argument("--threads", type=int, help="CPU threads (torch, or llama.cpp: default 1)")
    ap.add_argument("--n-ctx", type=int, default=4096, help="llama.cpp context window (tokens)")
    ap.add_argument("--skip-failed", action="store_true",
                    help="log a class whose turn fails and go on (rerun to retry it)")
    a = ap.parse_args(argv)

    from neuron.side_info import generate_side_info, get_backend

    if a.threads and a.backend in ("transformers", "smollm2"):
        import torch

        torch.set_num_threads(a.threads)

    if a.classes:
        classes = [c.strip() for c in a.classes.split(";") if c.strip()]
    else:
        import yaml

        path = a.classes_yaml or f"params/datasets/{a.dataset}.yaml"
        try:
            with open(path, encoding="utf-8") as fh:
                classes = list(yaml.safe_load(fh)["class_names"])
        except (OSError, KeyError, TypeError) as exc:
            ap.error(f"cannot read class_names from {path}: {exc!r}")
    if a.limit:
        classes = classes[: a.limit]
    if a.backend == "openai":
        if not a.model:
            ap.error("--model is required for --backend openai")
        backend = get_backend("openai", model=a.model, base_url=a.base_url, api_key_env=a.api_key_env,
                              require_key=not a.no_key, temperature=a.temperature, top_p=a.top_p,
                              max_tokens=a.max_new_tokens)
    elif a.backend in ("llamacpp", "smollm2-llamacpp"):
        kw = dict(max_tokens=a.max_new_tokens, temperature=a.temperature, top_p=a.top_p,
                  threads=a.threads or 1, n_ctx=a.n_ctx, k=a.k)
        if a.backend == "llamacpp":
            if not a.model:
                ap.error("--model (a .gguf file) is required for --backend llamacpp")
            kw["model_path"] = a.model
        backend = get_backend(a.backend, **kw)
    else:
        os.environ.setdefault("HF_HUB_OFFLINE", "1") if a.backend == "smollm2" else None
        kw = dict(max_new_tokens=a.max_new_tokens, temperature=a.temperature, top_p=a.top_p,
                  device=a.device)
        if a.backend == "transformers":
            if not a.model:
                ap.error("--model is required for --backend transformers")
            kw.update(model=a.model, gguf_file=a.gguf_file)
        backend = get_backend(a.backend, **kw)
    strategy = a.strategy or ("pool" if a.backend in ("smollm2", "smollm2-llamacpp") else "strict")
    t0 = time.time()
    generate_side_info(classes, backend, a.out, k=a.k, strategy=strategy,
                       max_attempts=a.max_attempts, max_calls=a.max_calls,
                       num_samples=a.num_samples, dialogues=tuple(a.dialogues.split(",")),
                       dataset=a.dataset,
                       on_error="skip" if a.skip_failed else "raise", progress=lambda s: print(f"[{time.time() - t0:7.1f}s] {s}",
                                                                    flush=True))
    if a.provenance:
        from neuron.side_info.generate import update_provenance
        update_provenance(a.provenance, a.out)
    print(f"done: {len(classes)} classes in {time.time() - t0:.1f} s -> {a.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
