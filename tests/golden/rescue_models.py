"""Tiny random TF and Flax models of every architecture transformers 4.57.6 has TF or Flax classes for.

Shared by ``make_rescue_tables.py`` (which writes modelport's architecture tables) and
``tests/rescue`` (which checks conversions into PyTorch with them). Needs transformers 4.57.6
with TensorFlow (and tf-keras) and Flax: the golden environment, or ``nox -s coinstall``.

Sizes are shrunk by a generic rule (every size attribute a config class takes); the few
architectures whose configs tie sizes together get overrides. Every floating weight is then
perturbed, so that no bias is zero and no two weights are equal.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: size attributes and their tiny values, for every config class that takes them
SIZES = dict(
    hidden_size=32, d_model=32, n_embd=32, dim=32, num_hidden_layers=2, n_layer=2, n_layers=2, num_layers=2,
    encoder_layers=2, decoder_layers=2, num_decoder_layers=2, num_attention_heads=4, n_head=4, n_heads=4,
    encoder_attention_heads=4, decoder_attention_heads=4, num_key_value_heads=2, intermediate_size=37, n_inner=37,
    hidden_dim=37, d_ff=37, d_kv=8, encoder_ffn_dim=37, decoder_ffn_dim=37, ffn_dim=37, max_position_embeddings=64,
    n_positions=64, image_size=32, patch_size=8, head_dim=8, d_inner=37, d_head=8, num_labels=3, embedding_size=16,
    projection_dim=16, pooler_hidden_size=32,
)

#: architectures whose configs need more than the generic sizes (values are merged over them)
OVERRIDES: dict[str, dict[str, Any]] = {
    "big_bird": dict(attention_type="original_full"),
    "BlipVisionConfig": dict(num_channels=3),  # TF BLIP's input signature reads it; the config class has no such field
    "gpt_neo": dict(attention_types=[[["global", "local"], 1]]),
    "gptj": dict(rotary_dim=4),
    "convnext": dict(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], patch_size=4),
    "convnextv2": dict(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], patch_size=4),
    "dpr": dict(projection_dim=0),
    "roformer": dict(embedding_size=32),  # Flax RoFormer sizes its embeddings by hidden_size whatever embedding_size says
    "swin": dict(embed_dim=16, depths=[1, 2], num_heads=[2, 4], window_size=2, patch_size=4),
    "transfo-xl": dict(cutoffs=[50], d_embed=32, div_val=4, mem_len=8),  # TF implements only div_val > 1
    "segformer": dict(hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 2, 4], depths=[1, 1, 1, 1], decoder_hidden_size=16),
    "data2vec-vision": dict(num_hidden_layers=4, out_indices=[1, 2, 3, 4]),  # 1-based layer numbers, 4 for the FPN
    "efficientformer": dict(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 2], num_meta3d_blocks=1, downsamples=[True] * 4,
                            resolution=1, hidden_size=32),  # its TF distillation head reads hidden_size
    "layoutlmv3": dict(coordinate_size=6, shape_size=4, input_size=32),
    "regnet": dict(embedding_size=8, hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], groups_width=8),
    "resnet": dict(embedding_size=8, hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1]),
    "mobilebert": dict(embedding_size=16, intra_bottleneck_size=16, true_hidden_size=16, num_feedforward_networks=2),
    "flaubert": dict(emb_dim=32, initializer_range=0.02),  # its TF multiple-choice head reads initializer_range
    "xlm": dict(emb_dim=32, initializer_range=0.02),  # its TF multiple-choice head reads initializer_range
    "funnel": dict(block_sizes=[1, 1], d_model=32, n_head=4, d_head=8, d_inner=37),
    # the stable layer norm variant: transformers' Flax Wav2Vec2 supports no other
    "wav2vec2": dict(conv_dim=(16, 16, 16), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3), num_conv_pos_embeddings=16,
                     num_conv_pos_embedding_groups=2, num_feat_extract_layers=3, do_stable_layer_norm=True,
                     feat_extract_norm="layer"),
    "hubert": dict(conv_dim=(16, 16, 16), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3), num_conv_pos_embeddings=16,
                   num_conv_pos_embedding_groups=2, num_feat_extract_layers=3),
    "whisper": dict(num_mel_bins=8, max_source_positions=16, max_target_positions=32, encoder_layers=2, decoder_layers=2),
    "speech_to_text": dict(input_feat_per_channel=8, max_source_positions=64, conv_channels=16, num_conv_layers=2),
    "cvt": dict(image_size=32),  # TF's input signature reads it (CvtConfig has no such field)
    "deberta": dict(pooler_hidden_size=32),
    "idefics": dict(use_resampler=True, additional_vocab_size=2),
    "IdeficsVisionConfig": dict(embed_dim=32),
    "IdeficsPerceiverConfig": dict(use_resampler=True, resampler_n_latents=4, resampler_depth=1, resampler_n_heads=2,
                                   resampler_head_dim=8),
    "deberta-v2": dict(pooler_hidden_size=32),
}

#: architectures with a composite config: model_type -> (sub-config keyword, the part's config class)
COMPOSITES: dict[str, dict[str, str]] = {
    "clip": {"text_config": "CLIPTextConfig", "vision_config": "CLIPVisionConfig"},
    "groupvit": {"text_config": "GroupViTTextConfig", "vision_config": "GroupViTVisionConfig"},
    "blip": {"text_config": "BlipTextConfig", "vision_config": "BlipVisionConfig"},
    "idefics": {"vision_config": "idefics.configuration_idefics.IdeficsVisionConfig",  # not exported at the top
                "perceiver_config": "idefics.configuration_idefics.IdeficsPerceiverConfig"},
}


@dataclass(frozen=True)
class Case:
    """One TF or Flax class to rescue, and the PyTorch class transformers pairs it with."""

    model_type: str
    source_class: str  # TFBertForMaskedLM, FlaxBertForCausalLM
    pytorch_class: str  # BertForMaskedLM, BertLMHeadModel

    @property
    def framework(self) -> str:
        return "tf" if self.source_class.startswith("TF") else "flax"

    @property
    def id(self) -> str:
        return self.source_class if self.model_type != "gpt-sw3" else f"{self.model_type}-{self.source_class}"


def cases() -> list[Case]:
    """Every TF and Flax class of transformers' auto mappings, with its PyTorch counterpart (same mapping, same type)."""
    from transformers.models.auto import modeling_auto, modeling_flax_auto, modeling_tf_auto

    found: dict[tuple[str, str], Case] = {}
    for module, prefix in ((modeling_tf_auto, "TF_"), (modeling_flax_auto, "FLAX_")):
        for mapping_name in sorted(dir(module)):
            if not (mapping_name.startswith(prefix) and mapping_name.endswith("_MAPPING_NAMES")):
                continue
            pytorch_mapping = getattr(modeling_auto, mapping_name[len(prefix):], {})
            for model_type, names in getattr(module, mapping_name).items():
                names = list(names) if isinstance(names, (list, tuple)) else [names]
                pytorch = pytorch_mapping.get(model_type)
                pytorch = (list(pytorch) if isinstance(pytorch, (list, tuple)) else [pytorch]) if pytorch else []
                for index, name in enumerate(names):  # tuples pair by position (FunnelModel, FunnelBaseModel)
                    paired = pytorch[index] if len(pytorch) == len(names) else (pytorch[0] if pytorch else None)
                    key = (model_type, name)  # gpt2 and gpt-sw3 share classes: each model type gets its table
                    if key not in found or found[key].pytorch_class.startswith("?"):
                        found[key] = Case(model_type, name, paired or "?" + name.removeprefix("TF").removeprefix("Flax"))
    for key, case in list(found.items()):
        if case.pytorch_class.startswith("?"):
            found[key] = Case(case.model_type, case.source_class, case.pytorch_class[1:])
    return sorted(found.values(), key=lambda c: (c.model_type, c.source_class))


def _shrunk(config_class: type, extra: dict[str, Any]) -> Any:
    params = inspect.signature(config_class.__init__).parameters
    defaults = config_class()
    values = {key: value for key, value in SIZES.items() if key in params}
    ids = [getattr(defaults, attr, None) for attr in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id",
                                                       "sep_token_id", "cls_token_id")]
    ids = [i for x in ids for i in (x if isinstance(x, list) else [x]) if isinstance(i, int)]
    if "vocab_size" in params:
        values["vocab_size"] = max([99] + [i + 1 for i in ids])
    if getattr(defaults, "pad_token_id", 0) is None:
        values["pad_token_id"] = 0  # sequence classifiers of batches need one; ids drawn are never 0
    values.update(extra)
    return config_class(**values)


def tiny_config(model_type: str) -> Any:
    """A small config of ``model_type`` (sub-configs shrunk too)."""
    from transformers import EncoderDecoderConfig, VisionEncoderDecoderConfig, VisionTextDualEncoderConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if model_type == "encoder-decoder":
        return EncoderDecoderConfig.from_encoder_decoder_configs(tiny_config("bert"), _decoder(tiny_config("bert")))
    if model_type == "vision-encoder-decoder":
        return VisionEncoderDecoderConfig.from_encoder_decoder_configs(tiny_config("vit"), _decoder(tiny_config("gpt2")))
    if model_type == "speech-encoder-decoder":
        from transformers import SpeechEncoderDecoderConfig

        return SpeechEncoderDecoderConfig.from_encoder_decoder_configs(tiny_config("wav2vec2"), _decoder(tiny_config("gpt2")))
    if model_type == "vision-text-dual-encoder":
        return VisionTextDualEncoderConfig.from_vision_text_configs(tiny_config("vit"), tiny_config("bert"), projection_dim=16)
    import transformers

    extra = dict(OVERRIDES.get(model_type, {}))
    for keyword, part in COMPOSITES.get(model_type, {}).items():
        module, _, name = part.rpartition(".")
        config_class = getattr(importlib.import_module(f"transformers.models.{module}") if module else transformers, name)
        extra[keyword] = _shrunk(config_class, dict(OVERRIDES.get(name, {}))).to_dict()
    return _shrunk(CONFIG_MAPPING[model_type], extra)


def _decoder(config: Any) -> Any:
    config.is_decoder = True
    config.add_cross_attention = True
    return config


def build(case: Case, seed: int = 0) -> tuple[Any, Any, dict[str, np.ndarray]]:
    """``(model, config, inputs)``: the source model, built, every floating weight perturbed, and inputs to run it on."""
    import transformers

    config = tiny_config(case.model_type)
    model = getattr(transformers, case.source_class)(config)
    inputs = model_inputs(model, config, case)
    rng = np.random.default_rng(seed)
    if case.framework == "tf":
        model(inputs, training=False)
        for variable in model.weights:
            value = variable.numpy()
            if value.dtype.kind == "f":
                noise = rng.normal(0.0, 0.02, value.shape).astype(value.dtype)
                variable.assign(value + (np.abs(noise) if "moving_variance" in variable.name else noise))
    else:
        import jax

        def perturb(path: Any, value: Any) -> Any:
            value = np.asarray(value)
            if value.dtype.kind != "f":
                return value
            noise = rng.normal(0.0, 0.02, value.shape).astype(value.dtype)
            return value + (np.abs(noise) if str(path[-1]).strip("[]'\".") == "var" else noise)

        model.params = jax.tree_util.tree_map_with_path(perturb, model.params)
    return model, config, inputs


def model_inputs(model: Any, config: Any, case: Case) -> dict[str, np.ndarray]:
    """Inputs for the model's call, from its signature and config (batch 2; token ids, pixels, audio or features)."""
    rng = np.random.default_rng(1)
    params = inspect.signature(model.call if case.framework == "tf" else model.__call__).parameters
    text = getattr(config, "text_config", None) or getattr(config, "encoder", None) or config
    vision = getattr(config, "vision_config", None) or getattr(config, "encoder", None) or config
    vocab = int(getattr(text, "vocab_size", None) or 99)
    inputs: dict[str, np.ndarray] = {}
    if "input_ids" in params and case.model_type not in ("vision-encoder-decoder", "speech-encoder-decoder"):
        ids = rng.integers(4, min(vocab, 99), (2, 8)).astype("int32")
        eos = getattr(config, "eos_token_id", None)
        if isinstance(eos, int) and "SequenceClassification" in case.source_class:
            ids[:, -1] = eos  # BART-like classifiers read the last end-of-sequence token
        if case.model_type == "longformer" and ("QuestionAnswering" in case.source_class or "MultipleChoice" in case.source_class):
            ids[:, [2, 5, 7]] = config.sep_token_id  # its question answering finds the question by three separators
        inputs["input_ids"] = ids
        if "attention_mask" in params:
            inputs["attention_mask"] = np.ones((2, 8), "int32")
    if "bbox" in params:
        corner = rng.integers(0, 500, (2, 8, 2))
        inputs["bbox"] = np.concatenate([corner, corner + rng.integers(0, 400, (2, 8, 2))], -1).astype("int32")
    if "pixel_values" in params:
        size = getattr(vision, "image_size", None) or getattr(vision, "input_size", None) or 32
        channels = getattr(vision, "num_channels", 3)
        inputs["pixel_values"] = rng.normal(size=(2, channels, size, size)).astype("float32")
        if "image_attention_mask" in params:  # IDEFICS: images per text, and which tokens attend to which image
            inputs["pixel_values"] = inputs["pixel_values"][:, None]
            inputs["image_attention_mask"] = np.ones((2, 8, 1), "int32")
    if "input_values" in params:
        inputs["input_values"] = rng.normal(size=(2, 1600)).astype("float32")
    if "inputs" in params and case.model_type == "speech-encoder-decoder":  # Flax names its audio input `inputs`
        inputs["inputs"] = rng.normal(size=(2, 1600)).astype("float32")
    if "input_features" in params:
        if case.model_type == "whisper":
            shape = (2, config.num_mel_bins, 2 * config.max_source_positions)
        else:
            shape = (2, 32, config.input_feat_per_channel * config.input_channels)
        inputs["input_features"] = rng.normal(size=shape).astype("float32")
    if "visual_feats" in params:
        inputs["visual_feats"] = rng.normal(size=(2, 3, config.visual_feat_dim)).astype("float32")
        inputs["visual_pos"] = rng.normal(size=(2, 3, config.visual_pos_dim)).astype("float32")
    if "noise" in params:  # ViT-MAE masks patches at random: the same draw for both frameworks
        patches = (vision.image_size // vision.patch_size) ** 2
        inputs["noise"] = rng.uniform(size=(2, patches)).astype("float32")
    if "decoder_input_ids" in params and not any(head in case.source_class for head in ("SequenceClassification", "QuestionAnswering")):
        decoder = getattr(config, "decoder", None) or config
        inputs["decoder_input_ids"] = rng.integers(4, min(int(getattr(decoder, "vocab_size", 99)), 99), (2, 5)).astype("int32")
    if "MultipleChoice" in case.source_class:
        inputs = {key: np.stack([value, value[::-1]], 1) for key, value in inputs.items()}
    return inputs


def pytorch_inputs(inputs: dict[str, np.ndarray], case: Case) -> dict[str, Any]:
    """The same inputs for the PyTorch class (int64 ids), with the source's documented quirks reproduced."""
    import torch

    converted = {key: torch.from_numpy(value.astype("int64") if value.dtype.kind == "i" else value) for key, value in inputs.items()}
    if "inputs" in converted:  # Flax's speech encoder-decoder calls PyTorch's input_values `inputs`
        converted["input_values"] = converted.pop("inputs")
    if case.model_type == "electra" and case.framework == "flax" and "attention_mask" in converted:
        # transformers 4.57.6's FlaxElectraModule hands the attention mask to the embeddings as token types
        # (its embedding output equals word + position + token_type[attention_mask]); PyTorch is given the same
        converted["token_type_ids"] = converted["attention_mask"]
    return converted


def as_saved(model: Any, folder: Path, case: Case) -> Any:
    """The source model as its saved files hold it: what a conversion must reproduce.

    TF's ``save_pretrained`` can leave a weight out (TFVisionTextDualEncoderModel never saves ``logit_scale``;
    reloaded, it holds the config's value): such a model is reloaded. Any other is kept as built, since TF's reload is
    itself wrong for some classes (TFIdeficsModel's reloaded weights are not the saved ones); Flax saves its whole
    parameter tree."""
    from modelport.checkpoint import Checkpoint

    if case.framework != "tf" or len(list(Checkpoint.open(folder))) >= len({id(v) for v in model.weights}):
        return model
    return type(model).from_pretrained(folder)


def source_outputs(model: Any, inputs: dict[str, np.ndarray], case: Case) -> dict[str, np.ndarray]:
    outputs = model(inputs, training=False) if case.framework == "tf" else model(**inputs)
    return {key: np.asarray(value) for key, value in outputs.items() if _is_array(value)}


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and np.asarray(value).dtype.kind == "f"


def compare(source: dict[str, np.ndarray], pytorch: Any) -> dict[str, float]:
    """Max absolute difference of every floating output both give with the same shape."""
    diffs = {}
    for key, value in pytorch.items():
        if key in source and hasattr(value, "detach"):
            theirs = value.detach().numpy()
            if theirs.shape == source[key].shape:
                diffs[key] = float(np.max(np.abs(theirs - source[key]))) if theirs.size else 0.0
    return diffs


def iter_cases(selected: list[str] | None = None) -> Iterator[Case]:
    for case in cases():
        if not selected or case.model_type in selected or case.source_class in selected:
            yield case
