"""The TF BERT family (BERT, RoBERTa, XLM-RoBERTa, CamemBERT) with its heads: every golden checkpoint transformers
4.57.6 wrote loads and gives its PyTorch outputs and losses (the core's rules, so the same numbers in every
framework), and fit() trains on the model's own loss."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import modelport_tf
from modelport_tf import (
    TFAutoModel,
    TFAutoModelForMaskedLM,
    TFAutoModelForQuestionAnswering,
    TFAutoModelForSequenceClassification,
    TFAutoModelForTokenClassification,
)

from _support import heads

AUTO = {"Model": TFAutoModel, "ForMaskedLM": TFAutoModelForMaskedLM,
        "ForSequenceClassification": TFAutoModelForSequenceClassification,
        "ForTokenClassification": TFAutoModelForTokenClassification, "ForQuestionAnswering": TFAutoModelForQuestionAnswering}


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


@pytest.mark.parametrize("case,label_set", [(c, s) for c, s in heads.LOSS_CASES if s in ("auto-single", "tags", "spans", "masked")])
def test_fit_with_the_models_own_loss_lowers_it(case, label_set):
    spec = dict(heads.label_sets(case))[label_set]
    model, _ = _load(case, "tf-h5")
    # no loss: the model's own (start and end positions for question answering)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01))
    columns = {**{k: v.astype(np.int32) for k, v in heads.inputs(case).items()}, **spec["labels"]}
    data = model.prepare_tf_dataset(columns, batch_size=2, shuffle=False)
    before = model.evaluate(data, verbose=0)
    model.fit(data, epochs=10, verbose=0)
    after = model.evaluate(data, verbose=0)
    assert after < 0.5 * before, (before, after)
