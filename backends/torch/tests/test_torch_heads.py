"""The PyTorch BERT family (BERT, RoBERTa, XLM-RoBERTa, CamemBERT) with its heads load every golden checkpoint
transformers 4.57.6 wrote for them, give its outputs and losses, pick the same problem type, and train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import modelport_torch
from modelport.errors import ConfigError
from modelport_torch import (
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForMaskedLM,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoModelForTextEncoding,
    AutoModelForTokenClassification,
)

from _support import heads

AUTO = {"Model": AutoModel, "ForMaskedLM": AutoModelForMaskedLM,
        "ForSequenceClassification": AutoModelForSequenceClassification,
        "ForTokenClassification": AutoModelForTokenClassification, "ForQuestionAnswering": AutoModelForQuestionAnswering,
        "ForPreTraining": AutoModelForPreTraining, "ForImageClassification": AutoModelForImageClassification,
        "ForConditionalGeneration": AutoModelForSeq2SeqLM, "EncoderModel": AutoModelForTextEncoding}


def _load(case: str, fmt: str):
    return heads.load(modelport_torch, "", case, fmt)


def _outputs(model, case: str, masked: bool, **labels) -> dict:
    batch = {k: torch.from_numpy(v) for k, v in heads.inputs(case, masked).items()}
    with torch.no_grad():
        return model(**batch, **{k: torch.from_numpy(v) for k, v in labels.items()})


@pytest.mark.parametrize("case,fmt", heads.CASE_FOLDERS)
def test_golden_head_checkpoint_gives_transformers_outputs(case, fmt):
    model, info = _load(case, fmt)

    def run(model, batch):
        with torch.no_grad():
            return {k: v.numpy() for k, v in model.eval()(**{k: torch.from_numpy(v) for k, v in batch.items()}).items()}

    heads.assert_loads_with_transformers_outputs(model, info, case, run)


@pytest.mark.parametrize("case,label_set", heads.LOSS_CASES)
def test_loss_and_problem_type_equal_transformers(case, label_set):
    spec = dict(heads.label_sets(case))[label_set]
    model, _ = _load(case, "pt-safetensors")
    model.config.problem_type = spec["given"]
    loss = _outputs(model.eval(), case, True, **spec["labels"]).loss
    assert abs(float(loss) - spec["loss"]) <= heads.TOLERANCE
    assert model.config.problem_type == spec["chosen"]


@pytest.mark.parametrize("case", list(heads.CASES))
def test_auto_class_gives_the_head(case):
    assert type(AUTO[heads.head_kind(case)].from_pretrained(heads.folder(case, "pt-safetensors"))).__name__ == heads.CASES[case]


TRAINED_LABEL_SETS = ("auto-single", "tags", "spans", "masked", "replaced")  # one label set of each head kind


@pytest.mark.parametrize("case,label_set", [(c, s) for c, s in heads.LOSS_CASES if s in TRAINED_LABEL_SETS])
def test_backward_reaches_every_parameter_and_steps_lower_the_loss(case, label_set):
    spec = dict(heads.label_sets(case))[label_set]
    model, _ = _load(case, "pt-safetensors")
    model.train()
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    batch = {k: torch.from_numpy(v) for k, v in heads.inputs(case).items()}
    labels = {k: torch.from_numpy(v) for k, v in spec["labels"].items()}
    losses = []
    for _ in range(20):
        loss = model(**batch, **labels).loss
        optimizer.zero_grad()
        loss.backward()
        if not losses:  # the pooler is unused without pooling; everything else gets a gradient
            assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for n, p in model.named_parameters()
                       if "pooler" not in n or "Sequence" in heads.CASES[case]), case
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


def test_save_reloads_bit_identical_with_outputs(tmp_path):
    case = "bert-sequence"
    model, _ = _load(case, "pt-safetensors")
    model.save_pretrained(tmp_path)
    back = type(model).from_pretrained(tmp_path)
    for (name, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), name
    assert np.array_equal(_outputs(model.eval(), case, True).logits.numpy(), _outputs(back.eval(), case, True).logits.numpy())


@pytest.mark.parametrize("case", heads.INTERPOLATED_CASES)
@pytest.mark.parametrize("fmt", ["pt-safetensors", "tf-h5", "flax-msgpack"])
def test_vit_on_other_image_sizes_resizes_its_positions_as_transformers(case, fmt):
    model, _ = _load(case, fmt)
    images, want = heads.interpolated(case)
    with torch.no_grad():
        got = model.eval()(torch.from_numpy(images["pixel_values"]), interpolate_pos_encoding=True)
    for name, value in want.items():
        assert heads.max_diff(got[name].numpy(), value) <= heads.TOLERANCE, name
    with pytest.raises(ConfigError, match="not the size the model was built for"):
        model(torch.from_numpy(images["pixel_values"]))


@pytest.mark.parametrize("case", heads.GENERATION_CASES)
def test_encoder_decoder_generate_gives_transformers_ids_and_scores(case):
    model, _ = _load(case, "pt-safetensors")
    batch = {k: torch.from_numpy(v) for k, v in heads.inputs(case).items() if k in ("input_ids", "attention_mask")}
    for name, settings, want in heads.generation(case):
        got = model.eval().generate(**batch, output_scores=True, return_dict_in_generate=True, **settings)
        np.testing.assert_array_equal(got.sequences.numpy(), want["sequences"], err_msg=name)
        if "sequences_scores" in want:
            assert heads.max_diff(got.sequences_scores.numpy(), want["sequences_scores"]) <= heads.TOLERANCE, name


@pytest.mark.parametrize("case", heads.GENERATION_CASES)
def test_t5_shifts_labels_right_into_decoder_inputs_as_transformers(case):
    model, _ = _load(case, "pt-safetensors")
    labels = dict(heads.label_sets(case))["masked"]["labels"]["labels"]
    np.testing.assert_array_equal(model.shift_right(torch.from_numpy(labels)).numpy(), heads.inputs(case)["decoder_input_ids"])


def test_t5_generates_with_a_decoder_deeper_than_its_encoder_the_same_ids_with_and_without_cache():
    # transformers 4.57.6 cannot (its cache is sized by num_layers); the cache here follows num_decoder_layers
    from modelport import T5Config

    torch.manual_seed(0)
    config = T5Config(vocab_size=64, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_decoder_layers=3, num_heads=4,
                      relative_attention_num_buckets=8, relative_attention_max_distance=16, decoder_start_token_id=0)
    model = modelport_torch.T5ForConditionalGeneration(config).eval()
    ids = torch.randint(2, 64, (2, 6))
    cached = model.generate(ids, max_new_tokens=10, no_repeat_ngram_size=1, num_beams=2)
    recomputed = model.generate(ids, max_new_tokens=10, no_repeat_ngram_size=1, num_beams=2, use_cache=False)
    assert cached.shape[1] > 5 and torch.equal(cached, recomputed)


def test_config_keywords_of_an_auto_class_set_the_config_as_in_transformers():
    from modelport_torch import AutoModelForSequenceClassification

    base = Path(__file__).resolve().parents[3] / "tests" / "golden" / "data" / "bert" / "pt-safetensors"
    model, info = AutoModelForSequenceClassification.from_pretrained(base, num_labels=5, output_loading_info=True,
                                                                      classifier_dropout=0.3)
    assert model.config.num_labels == 5 and list(model.config.id2label) == [0, 1, 2, 3, 4]
    assert tuple(model.classifier.weight.shape) == (5, model.config.hidden_size)
    assert model.config.classifier_dropout == 0.3
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight"]
