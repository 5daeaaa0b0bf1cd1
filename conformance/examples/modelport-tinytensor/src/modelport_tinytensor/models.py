"""A tiny reference model: BERT's weights as tinytensor tensors, loaded and saved by modelport's model layer.

tinytensor cannot compute, so the model only holds weights; that is all the
converter needs (a parameter tree with the architecture's names and shapes)
and all that shows how little a framework adds to the core: the tree, and one
``assign`` step. ``from_pretrained`` reads any checkpoint of any framework;
``save_pretrained`` writes ``model.safetensors`` tagged ``tinytensor``.
"""

from __future__ import annotations

import os
from typing import Any

from modelport import BertConfig
from modelport.adapters import ParameterTree
from modelport.modeling.loading import load_weights
from modelport.modeling.resolve import resolve_pretrained
from modelport.modeling.save import lazy_weights, save_pretrained

__all__ = ["TinyBertModel"]


def _bert_shapes(config: BertConfig) -> dict[str, tuple[int, ...]]:
    """PyTorch ``BertModel``'s weights and shapes, from the config alone."""
    h, i = config.hidden_size, config.intermediate_size
    shapes = {
        "embeddings.word_embeddings.weight": (config.vocab_size, h),
        "embeddings.position_embeddings.weight": (config.max_position_embeddings, h),
        "embeddings.token_type_embeddings.weight": (config.type_vocab_size, h),
        "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,),
    }
    for n in range(config.num_hidden_layers):
        layer = f"encoder.layer.{n}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            shapes[layer + name + ".weight"], shapes[layer + name + ".bias"] = (h, h), (h,)
        shapes[layer + "intermediate.dense.weight"], shapes[layer + "intermediate.dense.bias"] = (i, h), (i,)
        shapes[layer + "output.dense.weight"], shapes[layer + "output.dense.bias"] = (h, i), (h,)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[layer + norm + ".weight"], shapes[layer + norm + ".bias"] = (h,), (h,)
    shapes["pooler.dense.weight"], shapes["pooler.dense.bias"] = (h, h), (h,)
    return shapes


class TinyBertModel:
    """BERT's weights by PyTorch name (``model.weights``), as tinytensor tensors."""

    config_class = BertConfig
    base_model_prefix = "bert"

    def __init__(self, config: BertConfig) -> None:
        self.config = config
        self.weights: dict[str, Any] = {}

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike[str], **kwargs: Any) -> Any:
        from . import TinyTensorAdapter

        adapter = TinyTensorAdapter()
        found = resolve_pretrained(cls, pretrained_model_name_or_path, "tinytensor", kwargs, to_numpy=adapter.to_numpy)
        model = cls(found.config, **found.model_kwargs)
        tree = cls.parameter_tree(found.config).with_config_facts(found.config)

        def assign(name: str, array: Any) -> None:  # all a framework adds to loading
            model.weights[name] = adapter.from_numpy(array)

        report = load_weights(found.source, tree, assign,
                              ignore_mismatched_sizes=found.options.get("ignore_mismatched_sizes", False))
        return (model, report.as_dict()) if found.options.get("output_loading_info") else model

    @classmethod
    def parameter_tree(cls, config: BertConfig) -> ParameterTree:
        """Names and shapes without any tensor: what the converter plans against."""
        return ParameterTree("tinytensor", _bert_shapes(config), cls.base_model_prefix, "BertModel")

    def save_pretrained(self, save_directory: str | os.PathLike[str], **kwargs: Any) -> Any:
        from . import TinyTensorAdapter

        return save_pretrained(self, "tinytensor", save_directory, lambda: lazy_weights(self.weights, TinyTensorAdapter()),
                               kwargs, format="safetensors", tensor_framework="tinytensor", architecture="BertModel")
