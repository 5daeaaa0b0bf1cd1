"""Conversion between the three frameworks, with their adapters installed: every golden checkpoint, round trips,
verification that catches a corrupted weight, the command line and the Hub."""

from __future__ import annotations

import json

import numpy as np
import pytest

import modelport
from modelport.checkpoint import Checkpoint
from modelport.conversion import verify_conversion
from modelport.errors import ConversionError
from modelport.saving import save_checkpoint

from _support import heads
from _support.golden import ARCHS

pytestmark = pytest.mark.skipif(not {"torch", "tf", "flax"} <= set(modelport.adapters.available()),
                                reason="needs the torch, tf and flax adapters")

FOLDERS = ["pt-safetensors", "pt-safetensors-sharded", "pt-bin", "pt-bin-sharded", "tf-h5", "tf-h5-sharded", "tf-safetensors",
           "tf-safetensors-sharded", "flax-msgpack", "flax-msgpack-sharded", "flax-safetensors"]
# the golden folder transformers wrote for each (target framework, format): converted tensors must equal it bit for bit
REFERENCE = {("pt", "safetensors"): "pt-safetensors", ("pt", "native"): "pt-bin", ("tf", "safetensors"): "tf-safetensors",
             ("tf", "native"): "tf-h5", ("flax", "safetensors"): "flax-safetensors", ("flax", "native"): "flax-msgpack"}


def assert_same_tensors(ours: Checkpoint, reference: Checkpoint) -> None:
    assert ours.framework == reference.framework and ours.format == reference.format
    names = set(ours)
    assert names <= set(reference) and names, sorted(names - set(reference))
    assert all(n.endswith(("lm_head.weight", "decoder.weight", "decoder.bias", "vocab_projector.weight", "embed_tokens.weight"))  # tied
               for n in set(reference) - names), sorted(set(reference) - names)
    for name in names:
        assert ours.info(name).shape == reference.info(name).shape, name
        assert ours[name].tobytes() == reference[name].tobytes(), name


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("folder", FOLDERS)
def test_every_golden_checkpoint_converts_to_the_other_frameworks_exactly(golden, tmp_path, arch, folder):
    source = folder.split("-")[0]
    for to in {"pt", "tf", "flax"} - {source}:
        for fmt in ("safetensors", "native"):
            out = tmp_path / f"{to}-{fmt}"
            report = modelport.convert(golden / arch / folder, out, to=to, format=fmt, max_shard_size="20KB", progress=False)
            assert report.ok and report.unexpected == [], report.summary()
            assert_same_tensors(Checkpoint.open(out), Checkpoint.open(golden / arch / REFERENCE[(to, fmt)]))


@pytest.mark.parametrize("case,folder", heads.CASE_FOLDERS)
def test_every_task_head_checkpoint_converts_to_the_other_frameworks_exactly(tmp_path, case, folder):
    """The BERT family's models and heads: the tensors transformers' own TF/Flax/PyTorch classes wrote, bit for bit (its
    PyTorch .bin files also hold the tied decoder, which modelport writes once)."""
    source = folder.split("-")[0]
    written = heads.MANIFEST["models"][case]["folders"]
    for to in {"pt", "tf", "flax"} - {source}:
        for fmt in ("safetensors", "native"):
            if REFERENCE[(to, fmt)] not in written:
                continue  # no file of transformers' to compare with (it has no Flax CamemBERT)
            out = tmp_path / f"{to}-{fmt}"
            report = modelport.convert(heads.folder(case, folder), out, to=to, format=fmt, max_shard_size="20KB", progress=False)
            assert report.ok and report.unexpected == [], report.summary()
            assert_same_tensors(Checkpoint.open(out), Checkpoint.open(heads.folder(case, REFERENCE[(to, fmt)])))


@pytest.mark.parametrize("source,to", [("tf-h5-sharded", "flax"), ("flax-msgpack-sharded", "tf"), ("pt-bin", "tf"),
                                       ("tf-safetensors", "pt"), ("pt-safetensors-sharded", "flax")])
def test_verify_runs_both_models_and_they_agree(golden, tmp_path, source, to):
    report = modelport.convert(golden / "gpt2" / source, tmp_path, to=to, format="native", verify=True, progress=False)
    assert report.verification and set(report.verification) >= {"logits", "last_hidden_state"}
    assert max(report.verification.values()) <= 1e-5


ROUND_TRIPS = [(arch, folder, path) for arch in ARCHS
               for folder, path in [("pt-safetensors", ("tf", "pt")), ("pt-safetensors", ("flax", "pt")), ("tf-h5", ("flax", "tf")),
                                    ("flax-msgpack", ("tf", "flax"))]]
ROUND_TRIPS += [("bert", "pt-safetensors-bf16", ("tf", "pt")), ("bert", "pt-safetensors-bf16", ("flax", "pt"))]  # bfloat16


@pytest.mark.parametrize("arch,folder,path", ROUND_TRIPS)
def test_a_to_b_to_a_is_bit_identical(golden, tmp_path, arch, folder, path):
    there, back = path
    fmt = "native"
    # bfloat16 in tf_model.h5 is modelport's tagged form, written only when asked for by name
    dtype = "bfloat16" if folder.endswith("bf16") and there == "tf" else None
    modelport.convert(golden / arch / folder, tmp_path / "there", to=there, format=fmt, dtype=dtype, progress=False)
    modelport.convert(tmp_path / "there", tmp_path / "back", to=back, format="safetensors" if back == "pt" else fmt, progress=False)
    original, again = Checkpoint.open(golden / arch / folder), Checkpoint.open(tmp_path / "back")
    for name in again:
        assert again.info(name).dtype == original.info(name).dtype, name
        assert again[name].tobytes() == original[name].tobytes(), name
    assert set(original) - set(again) <= {n for n in original if n.endswith(("lm_head.weight", "decoder.weight", "decoder.bias"))}


def test_verify_fails_loudly_on_a_corrupted_weight(golden, tmp_path):
    modelport.convert(golden / "bert" / "pt-safetensors", tmp_path / "tf", to="tf", format="native", progress=False)
    ckpt = Checkpoint.open(tmp_path / "tf")
    corrupted = "bert/encoder/layer_._1/attention/self/value/kernel:0"
    tensors = [(n, ckpt[n] + np.float32(0.05) if n == corrupted else ckpt[n]) for n in ckpt]
    save_checkpoint(tmp_path / "bad", tensors, format="h5", framework="tf")
    (tmp_path / "bad" / "config.json").write_bytes((tmp_path / "tf" / "config.json").read_bytes())
    with pytest.raises(ConversionError, match="outputs disagree") as caught:
        verify_conversion(golden / "bert" / "pt-safetensors", "pt", tmp_path / "bad", "tf", tolerance=1e-4)
    assert "last_hidden_state" in str(caught.value) and str(tmp_path / "bad") in str(caught.value)
    assert max(verify_conversion(golden / "bert" / "pt-safetensors", "pt", tmp_path / "tf", "tf").values()) <= 1e-5


def test_cli_convert_with_verify_and_a_failing_tolerance(golden, tmp_path, capsys):
    from modelport.cli import main

    assert main(["convert", str(golden / "bert-mlm" / "pt-bin-sharded"), str(tmp_path / "ok"), "--to", "flax", "--verify",
                 "--max-shard-size", "20KB", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "pt -> flax (safetensors)" in out and "verify: max |diff| logits" in out and ": OK" in out
    assert main(["convert", str(golden / "bert-mlm" / "pt-bin"), str(tmp_path / "bad"), "--to", "tf", "--verify",
                 "--dtype", "bfloat16", "--tolerance", "1e-7", "--no-progress"]) == 2
    assert "outputs disagree" in capsys.readouterr().err


def test_convert_from_the_hub_and_push_the_result(golden, hub, tmp_path):
    import shutil

    from modelport.hub import upload_folder

    shutil.copytree(golden / "gpt2" / "pt-safetensors-sharded", tmp_path / "src")
    (tmp_path / "src" / "tokenizer_config.json").write_text('{"model_max_length": 32}')
    upload_folder(tmp_path / "src", "tester/gpt2-source")
    report = modelport.convert("tester/gpt2-source", tmp_path / "out", to="tf", format="native", push="tester/gpt2-tf",
                               progress=False)
    assert report.ok and "tokenizer_config.json" in report.copied
    files = hub.files("tester/gpt2-tf")
    assert {"tf_model.h5", "config.json", "tokenizer_config.json"} <= set(files)
    from modelport_tf import TFGPT2LMHeadModel

    model = TFGPT2LMHeadModel.from_pretrained("tester/gpt2-tf")
    inputs = dict(np.load(golden / "gpt2" / "inputs.npz"))
    logits = np.asarray(model(inputs)["logits"])
    assert np.abs(logits - np.load(golden / "gpt2" / "outputs-tf.npz")["masked/logits"]).max() <= 1e-5


@pytest.mark.trust("J1")
def test_bfloat16_into_h5_is_refused_unless_asked_for(golden, tmp_path):
    source = golden / "bert" / "pt-safetensors-bf16"
    with pytest.raises(ConversionError, match="tf_model.h5 has no bfloat16 type") as info:
        modelport.convert(source, tmp_path / "refused", to="tf", format="native", progress=False)
    assert "dtype='float32'" in str(info.value) and "tensor '" in str(info.value)
    assert not (tmp_path / "refused" / "tf_model.h5").exists()
    modelport.convert(source, tmp_path / "f32", to="tf", format="native", dtype="float32", progress=False)
    widened, stored = Checkpoint.open(tmp_path / "f32"), Checkpoint.open(source)
    assert all(widened.info(n).dtype == "float32" for n in widened)
    kernel = widened["bert/embeddings/word_embeddings/weight:0"]
    assert kernel.tobytes() == stored["embeddings.word_embeddings.weight"].astype(np.float32).tobytes()
    safetensors = modelport.convert(source, tmp_path / "st", to="tf", format="safetensors", progress=False)
    assert safetensors.ok and Checkpoint.open(tmp_path / "st").info("bert/embeddings/word_embeddings/weight:0").dtype == "bfloat16"


LLAMA_FAMILY = ["llama", "llama-tied", "mistral", "qwen2", "gemma", "llama-seqcls"]


@pytest.mark.parametrize("case", LLAMA_FAMILY)
def test_the_llama_family_goes_pt_tf_flax_pt_bit_identical_and_verified(golden, tmp_path, case):
    source = golden / "llama-family" / case / "pt-safetensors"
    report = modelport.convert(source, tmp_path / "tf", to="tf", format="native", verify=True, progress=False)
    assert max(report.verification.values()) <= 1e-5
    modelport.convert(tmp_path / "tf", tmp_path / "flax", to="flax", format="native", progress=False)
    modelport.convert(tmp_path / "flax", tmp_path / "back", to="pt", format="safetensors", progress=False)
    original, again = Checkpoint.open(source), Checkpoint.open(tmp_path / "back")
    assert set(again) == set(original)
    for name in original:
        assert again[name].tobytes() == original[name].tobytes(), name


def test_a_gguf_file_converts_to_safetensors_with_its_config(tmp_path):
    """`modelport convert model.gguf out --to pt`: dequantized weights and a config.json from the metadata."""
    torch = pytest.importorskip("torch")
    from modelport_torch import AutoModelForCausalLM

    from _support.gguf import assert_transformers_logits, input_ids, smollm2_file

    report = modelport.convert(smollm2_file(), tmp_path / "pt", to="pt", format="safetensors", progress=False)
    assert report.ok and report.missing == [] and report.unexpected == [] and "config.json" in report.copied
    # the tokenizer travels too, built from the metadata (tests/test_tokenization.py checks its ids)
    assert {"tokenizer.json", "tokenizer_config.json"} <= set(report.copied)
    assert json.loads((tmp_path / "pt" / "tokenizer_config.json").read_text())["eos_token"] == "<|im_end|>"
    assert modelport.AutoConfig.from_pretrained(tmp_path / "pt").num_hidden_layers == 30
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "pt")
    with torch.no_grad():
        assert_transformers_logits(model(torch.from_numpy(input_ids())).logits.numpy())


@pytest.mark.parametrize("case", ["vit-sequence", "t5-lm", "t5-encoder", "electra-pretraining"])
@pytest.mark.parametrize("to", ["tf", "flax"])
def test_verification_runs_modelports_classes_on_the_inputs_each_model_takes(case, to, tmp_path):
    # pixels for ViT, decoder ids for T5's decoder (not its encoder), token ids for the rest
    report = modelport.convert(heads.folder(case, "pt-safetensors"), tmp_path / to, to=to, verify=True, progress=False)
    assert report.verified_with == "modelport's adapters"
    assert report.verification and max(report.verification.values()) <= 1e-4, report.verification
