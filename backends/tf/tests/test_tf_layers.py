"""Building a model from declared shapes (``modelport_tf.layers.build_from_declared_shapes``) instead of a traced call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelport import BertConfig, GPT2Config
from modelport_tf._keras import keras
from modelport_tf.layers import build_from_declared_shapes, named_variables
from modelport_tf.models import TFBertForMaskedLM, TFBertModel, TFGPT2LMHeadModel, TFGPT2Model

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "data"
BERT = dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=37, vocab_size=99)
GPT2 = dict(n_layer=2, n_embd=32, n_head=4, vocab_size=99)
MODELS = {
    "bert": (TFBertModel, BertConfig(**BERT)),
    "bert-mlm": (TFBertForMaskedLM, BertConfig(**BERT)),
    "bert-mlm-untied": (TFBertForMaskedLM, BertConfig(**BERT, tie_word_embeddings=False)),
    "gpt2": (TFGPT2Model, GPT2Config(**GPT2)),
    "gpt2-lm": (TFGPT2LMHeadModel, GPT2Config(**GPT2)),
    "gpt2-lm-untied": (TFGPT2LMHeadModel, GPT2Config(**GPT2, tie_word_embeddings=False)),
}


def _without_model_scope(path: str) -> str:
    return path.split("/", 1)[1]  # the model's own scope is numbered per instance (tf_bert_model_1)


@pytest.mark.parametrize("name", list(MODELS))
def test_declared_shapes_build_what_a_call_builds(name):
    cls, config = MODELS[name]
    called = cls(config)
    called(called.dummy_inputs, training=False)
    declared = cls(config)
    assert build_from_declared_shapes(declared) and declared.built
    by_call, by_shape = named_variables(called), named_variables(declared)
    assert list(by_shape) == list(by_call)
    for key, variable in by_call.items():
        other = by_shape[key]
        assert (tuple(other.shape), other.dtype, other.trainable) == (tuple(variable.shape), variable.dtype, variable.trainable), key
        assert _without_model_scope(other.path) == _without_model_scope(variable.path), key
    assert [_without_model_scope(v.path) for v in declared.weights] == [_without_model_scope(v.path) for v in called.weights]
    declared.set_weights(called.get_weights())  # the same variables in the same order: equal outputs
    first = called(called.dummy_inputs, training=False)
    second = declared(declared.dummy_inputs, training=False)
    key = "logits" if "logits" in first else "last_hidden_state"
    np.testing.assert_array_equal(np.asarray(second[key]), np.asarray(first[key]))


class _CountingGPT2(TFGPT2LMHeadModel):
    calls = 0

    def call(self, input_ids=None, training=False):
        type(self).calls += 1
        return super().call(input_ids, training=training)


def test_from_pretrained_builds_without_calling_the_model():
    model = _CountingGPT2.from_pretrained(GOLDEN / "gpt2" / "tf-h5")
    assert _CountingGPT2.calls == 0 and model.built
    model(model.dummy_inputs)
    assert _CountingGPT2.calls == 1


class _Scale(keras.layers.Layer):
    """A custom layer whose build reads its input shape and declares none."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, hidden):
        return hidden * self.scale


class _GPT2WithCustomLayer(TFGPT2Model):
    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.extra = _Scale(name="extra")

    def call(self, input_ids=None, training=False):
        out = super().call(input_ids, training=training)
        return out.__class__(last_hidden_state=self.extra(out["last_hidden_state"]))


def test_a_layer_without_declared_shape_is_built_by_a_call():
    config = GPT2Config(**GPT2)
    model = _GPT2WithCustomLayer(config)
    assert not build_from_declared_shapes(model)
    assert not model.built and not model.transformer.built  # nothing half-built
    model.build_in_name_scope()
    names = named_variables(model)
    assert names["extra/scale:0"].shape == (32,) and names["transformer/wte/embeddings:0"].shape == (99, 32)
