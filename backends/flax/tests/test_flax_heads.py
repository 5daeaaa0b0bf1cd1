"""The Flax BERT family (BERT, RoBERTa, XLM-RoBERTa, CamemBERT) with its heads: every golden checkpoint transformers
4.57.6 wrote loads and gives its PyTorch outputs; ``labels=`` (modelport's addition) gives transformers' PyTorch
losses, and a jitted training step lowers them."""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest

import modelport_flax
from modelport.errors import ConfigError
from modelport_flax import (
    FlaxAutoModel,
    FlaxAutoModelForImageClassification,
    FlaxAutoModelForMaskedLM,
    FlaxAutoModelForPreTraining,
    FlaxAutoModelForQuestionAnswering,
    FlaxAutoModelForSeq2SeqLM,
    FlaxAutoModelForSequenceClassification,
    FlaxAutoModelForTextEncoding,
    FlaxAutoModelForTokenClassification,
)

from _support import heads

AUTO = {"Model": FlaxAutoModel, "ForMaskedLM": FlaxAutoModelForMaskedLM,
        "ForSequenceClassification": FlaxAutoModelForSequenceClassification,
        "ForTokenClassification": FlaxAutoModelForTokenClassification, "ForQuestionAnswering": FlaxAutoModelForQuestionAnswering,
        "ForPreTraining": FlaxAutoModelForPreTraining, "ForImageClassification": FlaxAutoModelForImageClassification,
        "ForConditionalGeneration": FlaxAutoModelForSeq2SeqLM, "EncoderModel": FlaxAutoModelForTextEncoding}


def _load(case: str, fmt: str):
    return heads.load(modelport_flax, "Flax", case, fmt)


@pytest.mark.parametrize("case,fmt", heads.CASE_FOLDERS)
def test_golden_head_checkpoint_gives_transformers_outputs(case, fmt):
    model, info = _load(case, fmt)
    heads.assert_loads_with_transformers_outputs(model, info, case, lambda model, batch: model(**batch))
    assert model(**heads.inputs(case)).get("loss") is None  # no labels, no loss


@pytest.mark.parametrize("case,label_set", heads.LOSS_CASES)
def test_loss_and_problem_type_equal_transformers_pytorch(case, label_set):
    spec = dict(heads.label_sets(case))[label_set]
    model, _ = _load(case, heads.own_or_pytorch(case, "flax-msgpack"))
    model.config.problem_type = spec["given"]
    loss = model(**heads.inputs(case), **spec["labels"])["loss"]
    assert abs(float(loss) - spec["loss"]) <= heads.TOLERANCE
    assert model.config.problem_type == spec["chosen"]


@pytest.mark.parametrize("case", list(heads.CASES))
def test_auto_class_gives_the_head(case):
    model = AUTO[heads.head_kind(case)].from_pretrained(heads.folder(case, heads.own_or_pytorch(case, "flax-msgpack")))
    assert type(model).__name__ == "Flax" + heads.CASES[case]


def test_labels_are_all_or_none_and_unknown_keywords_are_refused():
    model, _ = _load("bert-qa", "flax-msgpack")
    with pytest.raises(ConfigError, match="every label input"):
        model(**heads.inputs("bert-qa"), start_positions=np.array([1, 2]))
    with pytest.raises(TypeError, match="labels"):
        model(**heads.inputs("bert-qa"), labels=np.array([1, 2]))


TRAINED_LABEL_SETS = ("auto-single", "tags", "spans", "masked", "replaced")  # one label set of each head kind


@pytest.mark.parametrize("case,label_set", [(c, s) for c, s in heads.LOSS_CASES if s in TRAINED_LABEL_SETS])
def test_a_jitted_training_step_lowers_the_loss(case, label_set):
    spec = dict(heads.label_sets(case))[label_set]
    model, _ = _load(case, heads.own_or_pytorch(case, "flax-msgpack"))
    batch, labels = heads.inputs(case), spec["labels"]

    def loss_of(params, rng):
        return model(**batch, **labels, params=params, dropout_rng=rng, train=True)["loss"]

    optimizer = optax.adam(1e-2)  # the Flax ecosystem's optimiser (a dependency of flax)

    @jax.jit
    def step(params, state, rng):  # the framework's own autodiff through the whole model
        loss, grads = jax.value_and_grad(loss_of)(params, rng)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    params, rng, losses = model.params, jax.random.PRNGKey(0), []
    state = optimizer.init(params)
    for _ in range(20):  # jitted: the steps after the first cost little
        rng, dropout = jax.random.split(rng)
        params, state, loss = step(params, state, dropout)
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("case", heads.INTERPOLATED_CASES)
@pytest.mark.parametrize("fmt", ["flax-msgpack", "pt-safetensors", "tf-h5"])
def test_vit_on_other_image_sizes_resizes_its_positions_as_transformers_pytorch(case, fmt):
    model, _ = _load(case, fmt)
    images, want = heads.interpolated(case)
    got = model(images["pixel_values"], interpolate_pos_encoding=True)
    for name, value in want.items():
        assert heads.max_diff(got[name], value) <= heads.TOLERANCE, name
    with pytest.raises(ConfigError, match="not the size the model was built for"):
        model(images["pixel_values"])


@pytest.mark.parametrize("case", heads.GENERATION_CASES)
def test_encoder_decoder_generate_gives_transformers_ids_and_scores(case):
    model, _ = _load(case, "flax-msgpack")
    batch = {k: v for k, v in heads.inputs(case).items() if k in ("input_ids", "attention_mask")}
    for name, settings, want in heads.generation(case):
        got = model.generate(batch["input_ids"], attention_mask=batch["attention_mask"], output_scores=True,
                             return_dict_in_generate=True, **settings)
        sequences = np.asarray(got.sequences)  # Flax's generate pads every row to max_length, as transformers' does
        length = want["sequences"].shape[1]
        np.testing.assert_array_equal(sequences[:, :length], want["sequences"], err_msg=name)
        assert (sequences[:, length:] == model.config.pad_token_id).all(), name
        if "sequences_scores" in want:
            assert heads.max_diff(got.sequences_scores, want["sequences_scores"]) <= heads.TOLERANCE, name


@pytest.mark.parametrize("case", heads.GENERATION_CASES)
def test_t5_shifts_labels_right_into_decoder_inputs_as_transformers(case):
    model, _ = _load(case, "flax-msgpack")
    labels = dict(heads.label_sets(case))["masked"]["labels"]["labels"]
    np.testing.assert_array_equal(np.asarray(model.shift_right(labels)), heads.inputs(case)["decoder_input_ids"])
