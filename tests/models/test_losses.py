"""The task heads' loss rules, written once in the core: on transformers' own logits, with numpy operations, they give
transformers 4.57.6's PyTorch losses (golden data), and choose the problem type as it does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelport import AutoConfig, BertConfig
from modelport.errors import ConfigError
from modelport.models import losses
from modelport.models.losses import NUMPY_LOSS_OPS as OPS

from _support import heads


def _core_loss(case: str, config: Any, labels: dict[str, np.ndarray]) -> float:
    outputs = heads.reference(case)
    if "start_positions" in labels:
        return float(losses.question_answering_loss(outputs["start_logits"], outputs["end_logits"], labels["start_positions"],
                                                    labels["end_positions"], OPS))
    if heads.CASES[case].endswith(("ForMaskedLM", "ForConditionalGeneration")):  # over the vocabulary, -100 ignored
        return float(losses.masked_lm_loss(config, outputs["logits"], labels["labels"], OPS))
    if heads.CASES[case].endswith("ForPreTraining"):  # ELECTRA: a replaced-token logit a token, over the kept tokens
        return float(losses.replaced_token_detection_loss(outputs["logits"], labels["labels"],
                                                          heads.inputs(case)["attention_mask"], OPS))
    if heads.CASES[case].endswith("TokenClassification"):
        return float(losses.token_classification_loss(config, outputs["logits"], labels["labels"], OPS))
    return float(losses.sequence_classification_loss(config, outputs["logits"], labels["labels"], OPS))


@pytest.mark.parametrize("case,label_set", heads.LOSS_CASES)
def test_the_core_rules_give_transformers_loss_on_its_logits(case, label_set):
    spec = dict(heads.label_sets(case))[label_set]
    config = AutoConfig.from_pretrained(heads.folder(case, "pt-safetensors"))
    config.problem_type = spec["given"]
    got = _core_loss(case, config, spec["labels"])
    assert abs(got - spec["loss"]) <= heads.TOLERANCE, (got, spec["loss"])
    if heads.CASES[case].endswith(("SequenceClassification", "ImageClassification")):
        assert config.problem_type == spec["chosen"]  # recorded in the config, as transformers does


def test_cross_entropy_ignores_minus_100_and_an_all_ignored_batch_is_zero():
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]], np.float32))
    assert float(losses.cross_entropy(logits, np.array([0, -100]), OPS)) == pytest.approx(-np.log(0.5), rel=1e-6)
    assert float(losses.cross_entropy(logits, np.array([0, 1]), OPS)) == pytest.approx(-(np.log(0.5) + np.log(0.8)) / 2, rel=1e-6)
    assert float(losses.cross_entropy(logits, np.array([-100, -100]), OPS)) == 0.0  # PyTorch gives NaN here


def test_replaced_token_detection_counts_only_the_tokens_the_mask_keeps():
    logits = np.array([[2.0, -1.0, 30.0]], np.float32)
    labels = np.array([[1, 0, 0]])
    per_token = np.logaddexp(0.0, logits) - logits * labels  # binary cross-entropy with logits
    kept = float(losses.replaced_token_detection_loss(logits, labels, np.array([[1, 1, 0]]), OPS))
    assert kept == pytest.approx(per_token[0, :2].mean(), rel=1e-6)  # the padded third token would add 30
    assert float(losses.replaced_token_detection_loss(logits, labels, None, OPS)) == pytest.approx(per_token.mean(), rel=1e-6)
    assert float(losses.replaced_token_detection_loss(logits, labels, np.zeros((1, 3), int), OPS)) == 0.0


def test_question_answering_ignores_an_answer_outside_the_sequence():
    start = np.log(np.array([[0.5, 0.5], [0.9, 0.1]], np.float32))
    end = np.log(np.array([[0.2, 0.8], [0.3, 0.7]], np.float32))
    # row 2's positions (5, -3) clamp to 2 (ignored: the sequence has 2 tokens) and 0
    got = float(losses.question_answering_loss(start, end, np.array([0, 5]), np.array([1, -3]), OPS))
    assert got == pytest.approx((-np.log(0.5) + -(np.log(0.8) + np.log(0.3)) / 2) / 2, rel=1e-6)


@pytest.mark.parametrize("num_labels,labels,expected", [
    (1, np.array([0, 1]), "regression"),  # one label is regression, whatever the labels' type
    (3, np.array([0, 2]), "single_label_classification"),
    (3, np.array([[0.0, 1.0, 1.0]]), "multi_label_classification"),
])
def test_problem_type_is_chosen_from_labels_and_kept(num_labels, labels, expected):
    config = BertConfig(num_labels=num_labels)
    assert losses.problem_type(config, labels, OPS) == expected
    assert config.problem_type == expected
    # once chosen, it stays: float labels on a single-label config are not reinterpreted
    assert losses.problem_type(config, labels.astype(np.float32), OPS) == expected


def test_an_unknown_problem_type_is_a_config_error():
    config = BertConfig(num_labels=2)
    config.problem_type = "ranking"
    with pytest.raises(ConfigError, match="problem_type"):
        losses.problem_type(config, np.array([0, 1]), OPS)
