"""Side information for Neuron (CVPR 2025, Sec. 3.2): LLM dialogues, backends, loading/import."""
from neuron.side_info.backends import (ChatBackend, LlamaCppChatBackend, OpenAIChatBackend,
                                       TransformersChatBackend, descriptions_schema, get_backend,
                                       smollm2_backend, smollm2_gguf_path,
                                       smollm2_llamacpp_backend)
from neuron.side_info.generate import (extract_json_array, finished_items, generate_side_info,
                                       parse_answer)
from neuron.side_info.store import (LEVELS, SPATIAL_LEVELS, TEMPORAL_LEVELS, class_name_side_info,
                                    import_paper_semantics, load_side_info, save_side_info,
                                    temporal_round_texts, validate_descriptions, validate_level)

__all__ = ["ChatBackend", "LlamaCppChatBackend", "descriptions_schema", "smollm2_llamacpp_backend",
           "OpenAIChatBackend", "TransformersChatBackend", "get_backend",
           "smollm2_backend", "smollm2_gguf_path", "extract_json_array", "finished_items",
           "generate_side_info", "parse_answer", "LEVELS", "SPATIAL_LEVELS", "TEMPORAL_LEVELS",
           "class_name_side_info", "import_paper_semantics", "load_side_info", "save_side_info",
           "temporal_round_texts", "validate_descriptions", "validate_level"]
