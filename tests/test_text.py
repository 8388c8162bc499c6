"""Text encoders, embedding cache (neuron.text) and SemanticEmbeddings (neuron.side_info.embed)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from neuron.errors import BackendError, SideInfoError
from neuron.side_info import LEVELS, class_name_side_info
from neuron.side_info.embed import SemanticEmbeddings, embed_side_info, load_paper_embeddings
from neuron.text import CLIPTextEncoder, TextEncoder, cached_encode, get_text_encoder

SEM = Path(os.environ.get("NEURON_SHARED", Path(__file__).resolve().parents[2] / "shared")) \
    / "data" / "neuron_semantics"


class CountingEncoder(TextEncoder):
    """Deterministic fake encoder recording every text it is asked to encode."""

    def __init__(self, dim=8, model_id="fake:count", out_dim=None):
        self.dim, self.model_id, self.out_dim = dim, model_id, out_dim or dim
        self.seen: list[str] = []

    def _encode_batch(self, texts):
        self.seen += texts
        return np.stack([np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(self.out_dim)
                         for t in texts]).astype(np.float32)


def _side(classes, k=3):
    side = class_name_side_info(classes, k=k)
    for c in classes:
        for j, lv in enumerate(LEVELS[3:]):
            side[lv][c] = [f"{c} phase{j + 1} d{i}" for i in range(k)]
    return side


def test_embed_shapes_cache_and_temporal_concat(tmp_path):
    classes = ["wave", "clap"]
    enc = CountingEncoder()
    emb = embed_side_info(_side(classes), classes, enc, tmp_path / "cache")
    assert [t.shape for t in emb.spatial + emb.temporal] == [(2, 3, 8)] * 6
    assert all(t.dtype == torch.float32 for t in emb.spatial)
    assert "clap phase1 d2 clap phase2 d2 clap phase3 d2" in enc.seen  # round 3 = fp+sp+tp
    assert "wave phase1 d0 wave phase2 d0" in enc.seen
    ref = enc.encode(["clap phase1 d1 clap phase2 d1"])[0]
    assert np.allclose(emb.temporal[1][1, 1].numpy(), ref)
    n_first = len(enc.seen)
    enc.seen.clear()
    emb2 = embed_side_info(_side(classes), classes, enc, tmp_path / "cache")
    assert enc.seen == [] and n_first > 0  # cache hit: the encoder was not called
    assert all(torch.equal(a, b) for a, b in zip(emb.temporal, emb2.temporal))
    emb.save(tmp_path / "e.pt")
    back = SemanticEmbeddings.load(tmp_path / "e.pt")
    assert back.class_names == classes and back.encoder_id == "fake:count" and back.dim == 8
    assert torch.equal(back.spatial[2], emb.spatial[2])


def test_embed_errors(tmp_path):
    side = _side(["wave"])
    with pytest.raises(SideInfoError, match=r"class 'kick' missing from level spatial_cg"):
        embed_side_info(side, ["wave", "kick"], CountingEncoder(), None)
    side["spatial_mg"]["wave"][1] = ""
    with pytest.raises(SideInfoError, match=r"class 'wave', level spatial_mg.*description 1"):
        embed_side_info(side, ["wave"], CountingEncoder(), None)
    with pytest.raises(SideInfoError, match=r"level spatial_cg.*expected 4"):
        embed_side_info(_side(["wave"]), ["wave"], CountingEncoder(), None, k=4)
    with pytest.raises(SideInfoError, match=r"returned shape .*expected \(\d+, 8\)"):
        embed_side_info(_side(["wave"]), ["wave"], CountingEncoder(dim=8, out_dim=5), None)
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(SideInfoError, match="bad.pt is unreadable"):
        SemanticEmbeddings.load(tmp_path / "bad.pt")


def test_clip_code_path_tiny_random_model(tmp_path):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from neuron.side_info.backends import smollm2_gguf_path  # noqa: F401 (import check)

    torch.manual_seed(0)
    cfg = CLIPTextConfig(vocab_size=99, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=77, projection_dim=12,
                         eos_token_id=2, pad_token_id=1, bos_token_id=0)
    model = CLIPTextModelWithProjection(cfg)

    class Tok:  # minimal tokenizer: characters -> ids, pads, returns attention mask
        def __call__(self, texts, padding, truncation, max_length, return_tensors):
            rows = [[0] + [3 + ord(ch) % 90 for ch in t][: max_length - 2] + [2] for t in texts]
            n = max(map(len, rows))
            ids = torch.tensor([r + [1] * (n - len(r)) for r in rows])
            mask = torch.tensor([[1] * len(r) + [0] * (n - len(r)) for r in rows])
            from transformers import BatchEncoding
            return BatchEncoding({"input_ids": ids, "attention_mask": mask})

    enc = CLIPTextEncoder(model, Tok(), model_id="clip:tiny-random", batch_size=2)
    out = enc.encode(["a person waves", "a person claps", "x" * 200])
    assert out.shape == (3, 12) and out.dtype == np.float32 and np.isfinite(out).all()
    assert np.allclose(enc.encode(["a person claps"])[0], out[1], atol=1e-5)  # batching-invariant
    emb = embed_side_info(_side(["wave"], k=2), ["wave"], enc, tmp_path)
    assert emb.dim == 12 and emb.temporal[2].shape == (1, 2, 12)


def test_clip_hub_unreachable_is_clear(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackendError, match="cannot load CLIP text model 'openai/clip-vit-large-patch14-336'"):
        get_text_encoder("clip:openai/clip-vit-large-patch14-336")
    with pytest.raises(BackendError, match="unknown text encoder"):
        get_text_encoder("word2vec")


@pytest.mark.parametrize("name,dim", [("all-MiniLM-L6-v2", 384), ("all-mpnet-base-v2", 768)])
def test_sentence_transformers_offline(name, dim, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = get_text_encoder(name)
    assert enc.dim == dim and enc.model_id.endswith(name)
    out = cached_encode(enc, ["a person waves the right hand", "a person sits down", "x"], tmp_path)
    assert out.shape == (3, dim) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-3)


@pytest.mark.skipif(not SEM.is_dir(), reason=f"paper side information not found at {SEM}")
def test_load_paper_embeddings_and_errors(tmp_path):
    e = load_paper_embeddings(SEM / "pku", "pkuv1_gpt4omini_incontext")
    assert e.dim == 768 and len(e.class_names) == 51 and e.temporal[1].shape == (51, 10, 768)
    assert e.class_names[0] == "bow"
    (tmp_path / "x_spatial_cg.tar").write_bytes(b"garbage")
    with pytest.raises(SideInfoError, match=r"spatial_cg: embedding file .*x_spatial_cg.tar is unreadable"):
        load_paper_embeddings(tmp_path, "x")
    with pytest.raises(SideInfoError, match="no embedding file y_spatial_cg.tar"):
        load_paper_embeddings(tmp_path, "y")
