"""PreTrainedModel's utilities against values computed by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modelport import BertConfig, GPT2Config
from modelport.errors import ConfigError
from modelport_torch import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM
from modelport_torch.models import BertForMaskedLM, BertModel, GPT2LMHeadModel

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "data"
# golden BERT: vocab 64, hidden 24, 2 layers, intermediate 32, 32 positions, 2 token types
EMBEDDINGS = 64 * 24 + 32 * 24 + 2 * 24            # 2352 (the LayerNorm after them is not an embedding)
PER_LAYER = 3 * (24 * 24 + 24) + (24 * 24 + 24) + 48 + (24 * 32 + 32) + (32 * 24 + 24) + 48  # 4088
BERT_PARAMS = EMBEDDINGS + 48 + 2 * PER_LAYER + (24 * 24 + 24)  # 11176


def test_parameter_counts_flops_and_footprint():
    model = BertModel.from_pretrained(GOLDEN / "bert" / "pt-safetensors")
    assert model.num_parameters() == BERT_PARAMS == 11176
    assert model.num_parameters(exclude_embeddings=True) == BERT_PARAMS - EMBEDDINGS
    inputs = {"input_ids": torch.ones(2, 7, dtype=torch.long)}
    assert model.estimate_tokens(inputs) == 14
    assert model.floating_point_ops(inputs) == 6 * 14 * (BERT_PARAMS - EMBEDDINGS)
    assert model.get_memory_footprint() == 4 * BERT_PARAMS  # float32, no buffers
    for p in model.pooler.parameters():
        p.requires_grad_(False)
    assert model.num_parameters(only_trainable=True) == BERT_PARAMS - (24 * 24 + 24)


def test_resize_token_embeddings_keeps_rows_and_ties_the_head():
    model = GPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "pt-safetensors")
    old = model.get_input_embeddings().weight.detach().clone()
    model.resize_token_embeddings(70)
    new = model.get_input_embeddings().weight
    assert new.shape == (70, 24) and torch.equal(new[:64], old) and model.config.vocab_size == 70
    assert model.lm_head.weight is new
    assert torch.allclose(new[64:], old.mean(0).expand(6, -1), atol=1e-3)  # drawn tightly around the old mean
    assert model(input_ids=torch.tensor([[69, 1]])).logits.shape == (1, 2, 70)
    model.resize_token_embeddings(50, pad_to_multiple_of=16)
    assert model.get_input_embeddings().weight.shape[0] == 64 and torch.equal(model.get_input_embeddings().weight, new[:64])


def test_resize_bert_mlm_grows_the_decoder_bias():
    model = BertForMaskedLM.from_pretrained(GOLDEN / "bert-mlm" / "pt-safetensors")
    bias = model.cls.predictions.bias.detach().clone()
    model.resize_token_embeddings(66, mean_resizing=False)
    assert model.cls.predictions.decoder.bias is model.cls.predictions.bias
    assert torch.equal(model.cls.predictions.bias[:64], bias) and torch.equal(model.cls.predictions.bias[64:], torch.zeros(2))
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=32, n_embd=16, n_layer=2, n_head=2, n_positions=16, embd_pdrop=0.0,
                                        attn_pdrop=0.0, resid_pdrop=0.0))
    model.train()
    ids = torch.randint(0, 32, (2, 8))
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    plain = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.gradient_checkpointing_enable()
    assert model.is_gradient_checkpointing
    loss2 = model(input_ids=ids, labels=ids).loss
    loss2.backward()
    assert torch.allclose(loss, loss2)
    assert all(torch.allclose(plain[n], p.grad, atol=1e-6) for n, p in model.named_parameters())
    model.gradient_checkpointing_disable()
    assert not model.is_gradient_checkpointing


def test_auto_classes_pick_the_class_from_config():
    assert type(AutoModel.from_pretrained(GOLDEN / "bert" / "pt-safetensors")).__name__ == "BertModel"
    assert type(AutoModelForMaskedLM.from_pretrained(GOLDEN / "bert-mlm" / "tf-h5", from_tf=True)).__name__ == "BertForMaskedLM"
    assert type(AutoModelForCausalLM.from_pretrained(GOLDEN / "gpt2" / "flax-msgpack", from_flax=True)).__name__ == "GPT2LMHeadModel"
    with pytest.raises(ConfigError, match="no model for this model_type"):
        AutoModelForCausalLM.from_config(BertConfig())


def test_keep_in_fp32_modules_and_bf16_round_trip(tmp_path):
    class KeepPooler(BertModel):
        _keep_in_fp32_modules = ["pooler"]

    model = KeepPooler.from_pretrained(GOLDEN / "bert" / "pt-safetensors", dtype=torch.float16)
    assert model.pooler.dense.weight.dtype == torch.float32 and model.encoder.layer[0].output.dense.weight.dtype == torch.float16
    bf16 = BertModel.from_pretrained(GOLDEN / "bert" / "pt-safetensors-bf16", dtype="auto")
    bf16.save_pretrained(tmp_path)
    again = BertModel.from_pretrained(tmp_path, dtype="auto")
    assert again.dtype == torch.bfloat16
    assert all(
        torch.equal(a.view(torch.int16), b.view(torch.int16)) for a, b in zip(bf16.state_dict().values(), again.state_dict().values())
    )


@pytest.mark.parametrize("cls, arch", [(BertModel, "bert"), (GPT2LMHeadModel, "gpt2")])
def test_pruned_heads_equal_masked_heads_and_survive_saving(tmp_path, cls, arch):
    """Pruning a head must give exactly what masking it gives (its context is zero either way)."""
    import numpy as np

    model = cls.from_pretrained(GOLDEN / arch / "pt-safetensors")
    inputs = {k: torch.from_numpy(v) for k, v in np.load(GOLDEN / arch / "inputs.npz").items()}
    head_mask = torch.ones(2, 4)
    head_mask[0, 1] = head_mask[0, 3] = head_mask[1, 0] = 0
    with torch.no_grad():
        masked = model(**inputs, head_mask=head_mask)
    before = model.num_parameters()
    model.prune_heads({0: [1, 3], 1: [0]})
    model.prune_heads({0: [1]})  # already gone: nothing more happens
    with torch.no_grad():
        pruned = model(**inputs)
    key = "last_hidden_state" if arch == "bert" else "logits"
    assert torch.allclose(masked[key], pruned[key], atol=1e-5)
    # each pruned head removes 3 x (24 x 6 + 6) query/key/value values and 6 x 24 output-projection inputs
    assert before - model.num_parameters() == 3 * (3 * (24 * 6 + 6) + 6 * 24)
    assert model.config.pruned_heads == {0: [1, 3], 1: [0]}
    model.save_pretrained(tmp_path)
    again, info = cls.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == [] and info["mismatched_keys"] == []
    with torch.no_grad():
        assert torch.equal(again(**inputs)[key], pruned[key])


def test_load_sharded_checkpoint_one_tensor_at_a_time():
    from modelport.errors import ConversionError
    from modelport_torch.modeling import load_sharded_checkpoint

    model = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=32, n_embd=24, n_layer=2, n_head=4))
    with pytest.raises(ConversionError, match="does not match the model"):  # lm_head is tied, not stored
        load_sharded_checkpoint(model, GOLDEN / "gpt2" / "pt-safetensors-sharded")
    result = load_sharded_checkpoint(model, GOLDEN / "gpt2" / "pt-bin-sharded", strict=False, prefer_safe=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    reference = GPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "pt-safetensors")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))


def test_memory_hooks_record_rss():
    model = BertModel.from_pretrained(GOLDEN / "bert" / "pt-safetensors")
    model.add_memory_hooks()
    model(input_ids=torch.ones(1, 5, dtype=torch.long))
    assert model.mem_rss_pre_forward > 0 and model.mem_rss_post_forward > 0
    model.reset_memory_hooks_state()
    assert model.mem_rss_diff == 0 and model.mem_rss_pre_forward == 0


def test_small_utilities():
    model = GPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "pt-safetensors")
    assert model.can_generate() and not BertModel.from_pretrained(GOLDEN / "bert" / "pt-safetensors").can_generate()
    assert model.framework == "pt" and model.base_model is model.transformer
    assert model(**model.dummy_inputs).logits.shape == (3, 5, 64)
    model.add_model_tags(["a", "b"])
    model.add_model_tags("a")
    assert model.model_tags == ["a", "b"]
    for p in model.parameters():
        p.requires_grad_(False)
    model.enable_input_require_grads()
    out = model.transformer.wte(torch.tensor([[1, 2]]))
    assert out.requires_grad
    model.disable_input_require_grads()
    assert not model.transformer.wte(torch.tensor([[1, 2]])).requires_grad
    mask = model.get_extended_attention_mask(torch.tensor([[1, 0]]))
    assert mask.shape == (1, 1, 1, 2) and mask[0, 0, 0, 0] == 0 and mask[0, 0, 0, 1] == torch.finfo(torch.float32).min
