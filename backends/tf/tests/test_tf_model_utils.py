"""save_pretrained, SavedModel export, training, embeddings resizing and the Hub for the TF models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from modelport.checkpoint import Checkpoint
from modelport.errors import AdapterError, ConfigError
from modelport.index import read_index
from modelport_conformance.hub import start_test_hub
from modelport_tf.models import TFBertForMaskedLM, TFBertModel, TFGPT2LMHeadModel

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "data"
HUB = start_test_hub()  # the session's local Hub (one per process; set up before huggingface_hub is imported)


@pytest.fixture
def hub():
    HUB.clear_log()
    HUB.faults.clear()
    yield HUB
    HUB.faults.clear()


def weights(model) -> dict[str, bytes]:
    return {name: v.numpy().tobytes() for name, v in model.tf_weights().items()}


KINDS = {"safetensors": ({}, ("pt", "safetensors")), "tf-safetensors": ({"layout": "tf"}, ("tf", "safetensors")),
         "h5": ({"safe_serialization": False}, ("tf", "h5"))}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("shard", [None, "9KB"], ids=["single", "sharded"])
@pytest.mark.parametrize("cls,arch", [(TFBertForMaskedLM, "bert-mlm"), (TFGPT2LMHeadModel, "gpt2")])
def test_save_pretrained_reloads_bit_identical(tmp_path, cls, arch, kind, shard):
    model = cls.from_pretrained(GOLDEN / arch / "tf-h5")
    kwargs, expected = KINDS[kind]
    model.save_pretrained(tmp_path, max_shard_size=shard or "5GB", **kwargs)
    ckpt = Checkpoint.open(tmp_path)
    assert (ckpt.framework, ckpt.format) == expected  # the default is the canonical form
    if shard:
        index = read_index(next(tmp_path.glob("*.index.json")))
        assert len(index.shard_files) > 1
        per_shard: dict[str, list[int]] = {}
        for name in ckpt:
            info = ckpt.info(name)
            per_shard.setdefault(str(info.file), []).append(int(np.prod(info.shape)) * 4)
        assert len(per_shard) == len(index.shard_files)
        assert all(sum(sizes) <= 9000 or len(sizes) == 1 for sizes in per_shard.values())  # a bigger tensor stands alone
    back = cls.from_pretrained(tmp_path)
    assert weights(back) == weights(model)


def test_canonical_save_has_pytorch_names_and_layouts():
    import tempfile

    model = TFGPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "tf-h5")
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        ours = Checkpoint.open(tmp)
        reference = Checkpoint.open(GOLDEN / "gpt2" / "pt-safetensors")
        assert set(ours) == set(reference) - {"lm_head.weight"}  # the tied head is written once, as transformers does
        for name in ours:
            assert np.array_equal(ours[name], reference[name]), name


def test_saved_model_export_serves_the_same_outputs(tmp_path):
    model = TFBertModel.from_pretrained(GOLDEN / "bert" / "tf-h5")
    model.save_pretrained(tmp_path, saved_model=True, version=3)
    loaded = tf.saved_model.load(str(tmp_path / "saved_model" / "3"))
    inputs = {k: tf.constant(v, tf.int32) for k, v in np.load(GOLDEN / "bert" / "inputs.npz").items()}
    inputs.setdefault("token_type_ids", tf.zeros_like(inputs["input_ids"]))
    served = loaded.signatures["serving_default"](**inputs)
    direct = model(inputs)
    for name in ("last_hidden_state", "pooler_output"):
        assert np.abs(served[name].numpy() - direct[name].numpy()).max() <= 1e-6, name


@pytest.mark.parametrize("cls,arch", [(TFGPT2LMHeadModel, "gpt2"), (TFBertForMaskedLM, "bert-mlm")])
def test_fit_lowers_the_loss_with_the_models_own_loss(cls, arch):
    model = cls.from_pretrained(GOLDEN / arch / "tf-h5")
    ids = np.load(GOLDEN / arch / "inputs.npz")["input_ids"].astype(np.int32)
    labels = ids.copy()
    if arch == "bert-mlm":
        labels[:, ::2] = -100  # only some positions count
    model.compile(optimizer="adam")  # no loss: the model's own
    data = model.prepare_tf_dataset({"input_ids": ids, "labels": labels, "unused": ids}, batch_size=2, shuffle=False)
    before = model.evaluate(data, verbose=0)
    history = model.fit(data, epochs=8, verbose=0)
    after = model.evaluate(data, verbose=0)
    assert after < before * 0.9, (before, after)
    assert len(history.history["loss"]) == 8


def test_prepare_tf_dataset_drops_unknown_columns_and_needs_padding_or_a_collator():
    model = TFBertModel.from_pretrained(GOLDEN / "bert" / "tf-h5")
    data = model.prepare_tf_dataset({"input_ids": np.ones((5, 4), np.int32), "text": ["a"] * 5}, batch_size=2, shuffle=False)
    batches = list(data)
    assert [b["input_ids"].shape[0] for b in batches] == [2, 2, 1] and all(set(b) == {"input_ids"} for b in batches)
    ragged = {"input_ids": [[1, 2], [3], [4, 5, 6]]}
    with pytest.raises(ConfigError, match="differ in length"):
        model.prepare_tf_dataset(ragged)

    def pad(rows):
        width = max(len(r["input_ids"]) for r in rows)
        return {"input_ids": np.array([r["input_ids"] + [0] * (width - len(r["input_ids"])) for r in rows], np.int32)}

    padded = list(model.prepare_tf_dataset(ragged, batch_size=2, shuffle=False, collate_fn=pad))
    assert padded[0]["input_ids"].numpy().tolist() == [[1, 2], [3, 0]] and padded[1]["input_ids"].numpy().tolist() == [[4, 5, 6]]


def test_create_model_card_records_the_history(tmp_path):
    model = TFGPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "tf-h5")
    ids = np.load(GOLDEN / "gpt2" / "inputs.npz")["input_ids"].astype(np.int32)
    model.compile()
    model.fit({"input_ids": ids, "labels": ids}, epochs=2, batch_size=2, verbose=0)
    card = model.create_model_card(tmp_path, "tiny-gpt2", finetuned_from="gpt2-golden", license="apache-2.0").read_text()
    assert "base_model: gpt2-golden" in card and "| epoch | loss |" in card
    losses = [float(line.split("|")[2]) for line in card.splitlines() if line.startswith("| 0 |") or line.startswith("| 1 |")]
    assert np.allclose(losses, model.history.history["loss"], atol=1e-4)


def test_resize_token_embeddings_keeps_rows_and_ties_the_head():
    model = TFBertForMaskedLM.from_pretrained(GOLDEN / "bert-mlm" / "tf-h5")
    old_table = model.get_input_embeddings().weight.numpy()
    old_bias = model.get_bias()["bias"].numpy()
    model.resize_token_embeddings(70)
    table = model.get_input_embeddings().weight.numpy()
    assert table.shape == (70, 24) and np.array_equal(table[:64], old_table)
    assert model.get_output_embeddings() is model.get_input_embeddings()
    assert model.get_bias()["bias"].shape == (70,) and np.array_equal(model.get_bias()["bias"].numpy()[:64], old_bias)
    logits = model({"input_ids": np.array([[1, 69]], np.int32)})["logits"]
    assert logits.shape == (1, 2, 70)
    assert model.config.vocab_size == 70
    names = model.tf_weights()
    assert names["bert/embeddings/word_embeddings/weight:0"].shape == (70, 24)  # the name survives the swap
    smaller = TFGPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "tf-h5")
    old = smaller.get_input_embeddings().weight.numpy()
    smaller.resize_token_embeddings(60)
    assert np.array_equal(smaller.get_input_embeddings().weight.numpy(), old[:60])
    assert smaller({"input_ids": np.array([[1, 2]], np.int32)})["logits"].shape == (1, 2, 60)


def test_get_bias_set_bias_round_trip():
    model = TFBertForMaskedLM.from_pretrained(GOLDEN / "bert-mlm" / "tf-h5")
    value = np.arange(64, dtype=np.float32)
    model.set_bias({"bias": value})
    assert np.array_equal(model.get_bias()["bias"].numpy(), value)
    assert TFGPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "tf-h5").get_bias() is None


def test_utilities():
    model = TFBertModel.from_pretrained(GOLDEN / "bert" / "tf-h5")
    ckpt = Checkpoint.open(GOLDEN / "bert" / "tf-h5")
    assert model.num_parameters() == sum(int(np.prod(ckpt.info(n).shape)) for n in ckpt)
    assert model.num_parameters(only_trainable=True) == model.num_parameters()
    assert not model.can_generate()
    assert model.get_head_mask(None, 2) == [None, None]
    heads = model.config.num_attention_heads
    assert model.get_head_mask(np.ones(heads), 2).shape == (2, 1, heads, 1, 1)
    masked = np.ones((2, heads), np.float32)
    masked[0, 1] = 0.0
    inputs = {"input_ids": np.array([[1, 2, 3]], np.int32)}
    assert not np.allclose(model(inputs, head_mask=masked)["last_hidden_state"], model(inputs)["last_hidden_state"])
    with pytest.raises(AdapterError, match="prune_heads"):
        model.prune_heads({0: [1]})
    config = model.get_config()
    clone = TFBertModel.from_config(config)
    assert clone.config == model.config
    assert set(model.input_signature) == {"input_ids", "attention_mask", "token_type_ids"}
    assert model.dummy_inputs["input_ids"].shape == (3, 5)
    TFBertModel.register_for_auto_class()
    assert TFBertModel._auto_class == "TFAutoModel"


def test_subfolder_is_honoured_for_config_and_shards(tmp_path):
    model = TFBertModel.from_pretrained(GOLDEN / "bert" / "tf-h5")
    model.save_pretrained(tmp_path / "sub", max_shard_size="9KB", safe_serialization=False)
    back = TFBertModel.from_pretrained(tmp_path, subfolder="sub")
    assert weights(back) == weights(model)


def test_push_to_hub_with_create_pr_reaches_the_hub(hub, tmp_path):
    model = TFBertModel.from_pretrained(GOLDEN / "bert" / "tf-h5")
    model.push_to_hub("tester/tf-bert")
    model.save_pretrained(tmp_path, push_to_hub=True, repo_id="tester/tf-bert", create_pr=True, safe_serialization=False)
    main = hub.files("tester/tf-bert")
    pr = hub.files("tester/tf-bert", revision="refs/pr/1")
    assert "model.safetensors" in main and "tf_model.h5" not in main
    assert "tf_model.h5" in pr
    back = TFBertModel.from_pretrained("tester/tf-bert", revision="refs/pr/1")
    assert weights(back) == weights(model)


def test_mismatched_sizes_are_errors_unless_ignored():
    from modelport.errors import ConversionError

    with pytest.raises(ConversionError, match="does not fit the model") as caught:
        TFBertModel.from_pretrained(GOLDEN / "bert" / "tf-h5", vocab_size=70)  # a config override the weights do not fit
    assert "word_embeddings" in str(caught.value) and "ignore_mismatched_sizes" in str(caught.value)
    model, info = TFBertModel.from_pretrained(GOLDEN / "bert" / "tf-h5", vocab_size=70, ignore_mismatched_sizes=True,
                                             output_loading_info=True)
    assert info["mismatched_keys"] == [("bert/embeddings/word_embeddings/weight:0", (64, 24), (70, 24))]
    assert info["missing_keys"] == []  # kept at its drawn initial value, reported as mismatched only (transformers' meaning)
    assert model.get_input_embeddings().weight.shape == (70, 24) and np.abs(model.get_input_embeddings().weight.numpy()).max() > 0


def test_auto_classes_pick_the_model_from_the_config():
    from modelport_tf import TFAutoModel, TFAutoModelForCausalLM, TFAutoModelForMaskedLM

    assert type(TFAutoModel.from_pretrained(GOLDEN / "gpt2" / "pt-safetensors")).__name__ == "TFGPT2Model"
    assert type(TFAutoModelForCausalLM.from_pretrained(GOLDEN / "gpt2" / "tf-h5")).__name__ == "TFGPT2LMHeadModel"
    model = TFAutoModelForMaskedLM.from_pretrained(GOLDEN / "bert-mlm" / "flax-msgpack")
    assert type(model).__name__ == "TFBertForMaskedLM" and model.get_lm_head() is model.mlm.predictions


def test_set_input_embeddings_replaces_the_table_and_the_tied_head_follows():
    model = TFGPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "tf-h5")
    table = np.random.default_rng(0).standard_normal((80, 24)).astype(np.float32)
    model.set_output_embeddings(table)
    assert np.array_equal(model.get_input_embeddings().weight.numpy(), table)
    hidden = model({"input_ids": np.array([[1, 2]], np.int32)})
    assert np.allclose(hidden["logits"].numpy(), hidden["last_hidden_state"].numpy() @ table.T, atol=1e-5)
