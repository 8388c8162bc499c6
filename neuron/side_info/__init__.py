"""Side information for Neuron (CVPR 2025, Sec. 3.2): LLM dialogues, backends, description
levels and their embedding.

Modules, lowest first: :mod:`~neuron.side_info.prompts` and :mod:`~neuron.side_info.backends`
(LLM dialogues), :mod:`~neuron.side_info.store` (description levels: load, validate, save),
:mod:`~neuron.side_info.generate` (LLM generation into the store), and
:mod:`~neuron.side_info.embed` (descriptions -> :class:`SemanticEmbeddings` through a text
encoder of :mod:`neuron.text`).
"""
from neuron.side_info.backends import (ChatBackend, LlamaCppChatBackend, OpenAIChatBackend,
                                       TransformersChatBackend, descriptions_schema, get_backend,
                                       smollm2_backend, smollm2_gguf_path,
                                       smollm2_llamacpp_backend)
from neuron.side_info.embed import (SemanticEmbeddings, embed_side_info, import_paper_semantics,
                                    load_paper_embeddings)
from neuron.side_info.generate import (extract_json_array, finished_items, generate_side_info,
                                       parse_answer)
from neuron.side_info.store import (LEVELS, SPATIAL_LEVELS, TEMPORAL_LEVELS, class_name_side_info,
                                    load_side_info, save_side_info, temporal_round_texts,
                                    validate_descriptions, validate_level)

__all__ = ["ChatBackend", "LlamaCppChatBackend", "descriptions_schema", "smollm2_llamacpp_backend",
           "OpenAIChatBackend", "TransformersChatBackend", "get_backend",
           "smollm2_backend", "smollm2_gguf_path", "SemanticEmbeddings", "embed_side_info",
           "import_paper_semantics", "load_paper_embeddings", "extract_json_array",
           "finished_items", "generate_side_info", "parse_answer", "LEVELS", "SPATIAL_LEVELS",
           "TEMPORAL_LEVELS", "class_name_side_info", "load_side_info", "save_side_info",
           "temporal_round_texts", "validate_descriptions", "validate_level"]
