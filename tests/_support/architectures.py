"""Tiny configs of every architecture with repeated layers, and every (adapter, architecture) pair installed."""

from __future__ import annotations

import pytest

from modelport import AutoConfig, BertConfig, GPT2Config, adapters

_DECODER = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_attention_heads=4, num_key_value_heads=2)
CONFIGS = {
    "bert": lambda depth: BertConfig(vocab_size=64, hidden_size=24, num_hidden_layers=depth, num_attention_heads=4,
                                     intermediate_size=37, max_position_embeddings=32),
    **{model_type: (lambda depth, model_type=model_type: AutoConfig.for_model(
        model_type, vocab_size=64, hidden_size=24, num_hidden_layers=depth, num_attention_heads=4, intermediate_size=37,
        max_position_embeddings=32, type_vocab_size=1)) for model_type in ("roberta", "xlm-roberta", "camembert")},
    "distilbert": lambda depth: AutoConfig.for_model("distilbert", vocab_size=64, dim=24, n_layers=depth, n_heads=4,
                                                     hidden_dim=37, max_position_embeddings=32),
    # one group a step: the groups are the repeated list
    "albert": lambda depth: AutoConfig.for_model("albert", vocab_size=64, embedding_size=16, hidden_size=24, num_hidden_layers=depth,
                                                 num_hidden_groups=depth, num_attention_heads=4, intermediate_size=37,
                                                 max_position_embeddings=32),
    "electra": lambda depth: AutoConfig.for_model("electra", vocab_size=64, embedding_size=16, hidden_size=24,
                                                  num_hidden_layers=depth, num_attention_heads=4, intermediate_size=37,
                                                  max_position_embeddings=32),
    "vit": lambda depth: AutoConfig.for_model("vit", hidden_size=24, num_hidden_layers=depth, num_attention_heads=4,
                                              intermediate_size=37, image_size=32, patch_size=8),
    "t5": lambda depth: AutoConfig.for_model("t5", vocab_size=64, d_model=16, d_kv=4, d_ff=37, num_layers=depth, num_heads=4,
                                             relative_attention_num_buckets=8, decoder_start_token_id=0),
    "gpt2": lambda depth: GPT2Config(vocab_size=64, n_positions=32, n_embd=24, n_layer=depth, n_head=4),
    "llama": lambda depth: AutoConfig.for_model("llama", num_hidden_layers=depth, attention_bias=True, **_DECODER),
    "mistral": lambda depth: AutoConfig.for_model("mistral", num_hidden_layers=depth, **_DECODER),
    # sliding attention from layer 1 on: the layers differ in behaviour, not in names
    "qwen2": lambda depth: AutoConfig.for_model("qwen2", num_hidden_layers=depth, use_sliding_window=True, max_window_layers=1,
                                                **_DECODER),
    "gemma": lambda depth: AutoConfig.for_model("gemma", num_hidden_layers=depth, head_dim=16, **_DECODER),
}
FRAMEWORK_ADAPTERS = [name for name in ("torch", "tf", "flax") if name in adapters.available()]


def architectures():
    for name in FRAMEWORK_ADAPTERS:
        for architecture, model_class in sorted(adapters.get(name).architectures()[0].items()):
            yield pytest.param(name, architecture, model_class.config_class.model_type, id=f"{name}-{architecture}")
