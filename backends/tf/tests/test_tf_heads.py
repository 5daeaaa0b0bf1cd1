"""The TF BERT family (BERT, RoBERTa, XLM-RoBERTa, CamemBERT) with its heads: every golden checkpoint transformers
4.57.6 wrote loads and gives its PyTorch outputs and losses (the core's rules, so the same numbers in every
framework), and fit() trains on the model's own loss."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import modelport_tf
from modelport.errors import ConfigError
from modelport_tf import (
    TFAutoModel,
    TFAutoModelForImageClassification,
    TFAutoModelForMaskedLM,
    TFAutoModelForPreTraining,
    TFAutoModelForQuestionAnswering,
    TFAutoModelForSeq2SeqLM,
    TFAutoModelForSequenceClassification,
    TFAutoModelForTextEncoding,
    TFAutoModelForTokenClassification,
)

from _support import heads

AUTO = {"Model": TFAutoModel, "ForMaskedLM": TFAutoModelForMaskedLM,
        "ForSequenceClassification": TFAutoModelForSequenceClassification,
        "ForTokenClassification": TFAutoModelForTokenClassification, "ForQuestionAnswering": TFAutoModelForQuestionAnswering,
        "ForPreTraining": TFAutoModelForPreTraining, "ForImageClassification": TFAutoModelForImageClassification,
        "ForConditionalGeneration": TFAutoModelForSeq2SeqLM, "EncoderModel": TFAutoModelForTextEncoding}


def _keras_inputs(case: str) -> dict[str, np.ndarray]:
    """The case's inputs with integer ones (ids, masks) as int32, Keras' index type; pixels stay float."""
    return {k: v.astype(np.int32) if v.dtype.kind == "i" else v for k, v in heads.inputs(case).items()}


def _load(case: str, fmt: str):
    return heads.load(modelport_tf, "TF", case, fmt)


@pytest.mark.parametrize("case,fmt", heads.CASE_FOLDERS)
def test_golden_head_checkpoint_gives_transformers_outputs(case, fmt):
    model, info = _load(case, fmt)
    heads.assert_loads_with_transformers_outputs(model, info, case, lambda model, batch: model(batch))


@pytest.mark.parametrize("case,label_set", heads.LOSS_CASES)
def test_loss_and_problem_type_equal_transformers_pytorch(case, label_set):
    spec = dict(heads.label_sets(case))[label_set]
    model, _ = _load(case, "tf-h5")
    model.config.problem_type = spec["given"]
    loss = model({**heads.inputs(case), **spec["labels"]})["loss"]
    assert abs(float(loss) - spec["loss"]) <= heads.TOLERANCE
    assert model.config.problem_type == spec["chosen"]


@pytest.mark.parametrize("case", list(heads.CASES))
def test_auto_class_gives_the_head(case):
    assert type(AUTO[heads.head_kind(case)].from_pretrained(heads.folder(case, "tf-h5"))).__name__ == "TF" + heads.CASES[case]


TRAINED_LABEL_SETS = ("auto-single", "tags", "spans", "masked", "replaced")  # one label set of each head kind


@pytest.mark.parametrize("case,label_set", [(c, s) for c, s in heads.LOSS_CASES if s in TRAINED_LABEL_SETS])
def test_fit_with_the_models_own_loss_lowers_it(case, label_set):
    spec = dict(heads.label_sets(case))[label_set]
    model, _ = _load(case, "tf-h5")
    # no loss: the model's own (start and end positions for question answering)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01))
    columns = {**_keras_inputs(case), **spec["labels"]}
    data = model.prepare_tf_dataset(columns, batch_size=2, shuffle=False)
    before = model.evaluate(data, verbose=0)
    model.fit(data, epochs=10, verbose=0)
    after = model.evaluate(data, verbose=0)
    assert after < 0.5 * before, (before, after)


def test_albert_mlm_trained_in_tf_saves_the_decoder_bias_it_trained_for_pytorch(tmp_path):
    # TF ALBERT's logits add predictions/decoder/bias; PyTorch's add predictions.bias (one tensor under both names)
    torch = pytest.importorskip("torch")
    import modelport_torch

    case, spec = "albert-mlm", dict(heads.label_sets("albert-mlm"))["masked"]
    model, _ = _load(case, "tf-h5")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01))
    columns = {**{k: v.astype(np.int32) for k, v in heads.inputs(case).items()}, **spec["labels"]}
    model.fit(model.prepare_tf_dataset(columns, batch_size=2, shuffle=False), epochs=3, verbose=0)
    trained = model.predictions.decoder.bias.numpy()
    assert np.abs(trained - model.predictions.bias.numpy()).max() > 0  # fit moved the decoder bias only
    model.save_pretrained(tmp_path)
    inputs = {k: v.astype(np.int32) for k, v in heads.inputs(case).items()}
    want = model(**inputs)["logits"].numpy()
    loaded, info = modelport_torch.AlbertForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert info["error_msgs"] == [] and info["unexpected_keys"] == [] and info["missing_keys"] == []
    np.testing.assert_allclose(loaded.predictions.bias.detach().numpy(), trained, atol=0)
    with torch.no_grad():
        got = loaded.eval()(**{k: torch.from_numpy(v.astype(np.int64)) for k, v in inputs.items()}).logits.numpy()
    assert np.abs(got - want).max() <= heads.TOLERANCE


def test_albert_mlm_file_whose_two_biases_differ_is_reported_not_silently_chosen(tmp_path):
    # transformers' own PyTorch-to-TF cross-load leaves predictions/decoder/bias at zero (see make_heads_golden.py)
    import shutil

    import h5py

    folder = tmp_path / "albert"
    shutil.copytree(heads.folder("albert-mlm", "tf-h5"), folder)
    with h5py.File(folder / "tf_model.h5", "r+") as f:
        names: list[str] = []
        f.visititems(lambda name, node: names.append(name) if name.endswith("predictions/decoder/bias:0") else None)
        f[names[0]][...] = 0.0
    model, info = modelport_tf.TFAlbertForMaskedLM.from_pretrained(folder, output_loading_info=True)
    assert info["unexpected_keys"] == ["predictions/decoder/bias:0"]
    assert info["error_msgs"] == ["predictions/decoder/bias:0 is tied to 'predictions/bias:0' by the config but holds other values"]
    # the PyTorch meaning (predictions/bias) is the one loaded, in both variables
    np.testing.assert_array_equal(model.predictions.decoder.bias.numpy(), model.predictions.bias.numpy())


@pytest.mark.parametrize("case", heads.INTERPOLATED_CASES)
@pytest.mark.parametrize("fmt", ["tf-h5", "pt-safetensors", "flax-msgpack"])
def test_vit_on_other_image_sizes_resizes_its_positions_as_transformers_pytorch(case, fmt):
    # transformers' own TF ViT resizes with TF's bicubic kernel, whose numbers differ from PyTorch's
    model, _ = _load(case, fmt)
    images, want = heads.interpolated(case)
    got = model(pixel_values=images["pixel_values"], interpolate_pos_encoding=True)
    for name, value in want.items():
        assert heads.max_diff(got[name], value) <= heads.TOLERANCE, name
    with pytest.raises(ConfigError, match="not the size the model was built for"):
        model(pixel_values=images["pixel_values"])


@pytest.mark.parametrize("case", heads.GENERATION_CASES)
def test_encoder_decoder_generate_gives_transformers_ids_and_scores(case):
    model, _ = _load(case, "tf-h5")
    batch = {k: v for k, v in heads.inputs(case).items() if k in ("input_ids", "attention_mask")}
    for name, settings, want in heads.generation(case):
        got = model.generate(batch["input_ids"], attention_mask=batch["attention_mask"], output_scores=True,
                             return_dict_in_generate=True, **settings)
        np.testing.assert_array_equal(np.asarray(got.sequences), want["sequences"], err_msg=name)
        if "sequences_scores" in want:
            assert heads.max_diff(got.sequences_scores, want["sequences_scores"]) <= heads.TOLERANCE, name


@pytest.mark.parametrize("case", heads.GENERATION_CASES)
def test_t5_shifts_labels_right_into_decoder_inputs_as_transformers(case):
    model, _ = _load(case, "tf-h5")
    labels = dict(heads.label_sets(case))["masked"]["labels"]["labels"]
    np.testing.assert_array_equal(model.shift_right(labels).numpy(), heads.inputs(case)["decoder_input_ids"])


@pytest.mark.parametrize("case", ["vit-sequence", "t5-lm"])
def test_a_saved_model_export_serves_transformers_outputs(case, tmp_path):
    # the serving signature leaves every size open: the image-size check and T5's relative buckets must not need them
    import tensorflow as tf

    model, _ = _load(case, "tf-h5")
    model.export_saved_model(tmp_path / "saved")
    serve = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    inputs = {k: tf.constant(v) for k, v in _keras_inputs(case).items()}
    if "decoder_input_ids" in inputs:  # the signature takes every input it declares
        inputs["decoder_attention_mask"] = tf.ones_like(inputs["decoder_input_ids"])
    out = serve(**inputs)
    want = heads.reference(case)
    assert heads.max_diff(out["logits"].numpy(), want["logits"]) <= heads.TOLERANCE
