import json
import os

import pytest

from modelport import CONFIG_MAPPING, AutoConfig, BertConfig, GPT2Config, PretrainedConfig
from modelport.errors import CheckpointNotFoundError, ConfigError

from _support.golden import ARCHS

GOLDEN_FOLDERS = ["pt-safetensors", "tf-h5", "flax-msgpack"]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("folder", GOLDEN_FOLDERS)
def test_transformers_config_resaves_byte_identical(golden, tmp_path, arch, folder):
    """A config.json written by transformers 4.57.6, loaded and saved here, comes out byte for byte the same."""
    source = golden / arch / folder / "config.json"
    config = AutoConfig.from_pretrained(source.parent)
    config.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").read_bytes() == source.read_bytes()


@pytest.mark.parametrize("arch", ARCHS)
def test_transformers_config_values(golden, arch):
    config = AutoConfig.from_pretrained(golden / arch / "pt-safetensors")
    raw = json.loads((golden / arch / "pt-safetensors" / "config.json").read_text())
    assert type(config) is {"bert": BertConfig, "gpt2": GPT2Config}[raw["model_type"]]
    for key, value in raw.items():
        assert getattr(config, key) == value, key
    assert config.dtype == "float32" and config.num_labels == 2


def test_gpt2_aliases_read_and_write_the_real_attribute():
    config = GPT2Config(n_embd=48, n_layer=3)
    assert (config.hidden_size, config.num_hidden_layers, config.max_position_embeddings) == (48, 3, 1024)
    config.hidden_size = 64
    assert config.n_embd == 64 and "hidden_size" not in config.to_dict()
    assert GPT2Config(hidden_size=32).n_embd == 32


def test_diff_form_keeps_subclass_attributes_and_model_type_only():
    written = json.loads(BertConfig().to_json_string())
    assert written["model_type"] == "bert" and written["hidden_size"] == 768 and written["pad_token_id"] == 0
    assert "return_dict" not in written and "max_length" not in written and "transformers_version" not in written
    assert json.loads(PretrainedConfig().to_json_string()) == {}
    full = BertConfig().to_dict()
    assert full["return_dict"] is True and full["max_length"] == 20


def test_json_text_layout(tmp_path):
    BertConfig(vocab_size=10).save_pretrained(tmp_path / "new" / "folder")
    text = (tmp_path / "new" / "folder" / "config.json").read_text()
    assert text.endswith("}\n") and text.startswith('{\n  "attention_probs_dropout_prob"')
    keys = list(json.loads(text))
    assert keys == sorted(keys)
    assert not [p for p in (tmp_path / "new" / "folder").iterdir() if p.name != "config.json"]  # no temp file left


def test_kwargs_override_known_attributes_and_unused_are_returned(golden):
    config, unused = BertConfig.from_pretrained(
        golden / "bert" / "pt-safetensors", hidden_dropout_prob=0.0, foo="bar", return_unused_kwargs=True
    )
    assert config.hidden_dropout_prob == 0.0 and unused == {"foo": "bar"}
    assert not hasattr(config, "foo")
    config = BertConfig.from_pretrained(golden / "bert" / "pt-safetensors", num_labels=5)
    assert config.num_labels == 5 and config.id2label[4] == "LABEL_4" and config.label2id["LABEL_4"] == 4


def test_id2label_keys_come_back_as_ints_and_num_labels_follows(tmp_path):
    config = BertConfig(id2label={0: "neg", 1: "neutral", 2: "pos"}, label2id={"neg": 0, "neutral": 1, "pos": 2})
    config.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["id2label"] == {"0": "neg", "1": "neutral", "2": "pos"}
    back = BertConfig.from_pretrained(tmp_path)
    assert back.id2label == {0: "neg", 1: "neutral", 2: "pos"} and back.num_labels == 3
    assert back == config


def test_mismatched_num_labels_and_id2label_kwargs_are_refused(golden):
    with pytest.raises(ConfigError, match="num_labels and id2label disagree"):
        BertConfig.from_pretrained(golden / "bert" / "pt-safetensors", num_labels=3, id2label={0: "a"})


def test_dtype_and_legacy_torch_dtype(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "torch_dtype": "bfloat16"}))
    config = AutoConfig.from_pretrained(tmp_path)
    assert config.dtype == "bfloat16" and config.torch_dtype == "bfloat16"
    config.save_pretrained(tmp_path / "out")
    written = json.loads((tmp_path / "out" / "config.json").read_text())
    assert written["dtype"] == "bfloat16" and "torch_dtype" not in written
    assert BertConfig(dtype="torch.float16").dtype == "float16"
    assert BertConfig.from_pretrained(tmp_path, dtype="fp16").dtype == "float16"
    with pytest.raises(ConfigError, match="unknown dtype"):
        BertConfig(dtype="load")


def test_unknown_keys_are_kept_and_written_back(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "gpt2", "n_layer": 1, "my_custom_flag": [1, 2], "rope_scaling": {"type": "x"}})
    )
    config = AutoConfig.from_pretrained(tmp_path)
    assert config.my_custom_flag == [1, 2] and config.rope_scaling == {"type": "x"}
    config.save_pretrained(tmp_path / "out")
    written = json.loads((tmp_path / "out" / "config.json").read_text())
    assert written["my_custom_flag"] == [1, 2] and written["rope_scaling"] == {"type": "x"} and written["n_layer"] == 1


@pytest.mark.trust("F1")
def test_private_keys_in_files_are_ignored(tmp_path, caplog):
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "bert", "_attn_implementation_internal": "kernels-community/evil", "_name_or_path": "x"})
    )
    config = AutoConfig.from_pretrained(tmp_path)
    assert not any("evil" in repr(v) for v in vars(config).values())
    assert "ignoring the private key '_attn_implementation_internal'" in caplog.text


def test_subfolder_and_direct_file(tmp_path):
    BertConfig(hidden_size=8).save_pretrained(tmp_path / "sub")
    assert BertConfig.from_pretrained(tmp_path, subfolder="sub").hidden_size == 8
    assert BertConfig.from_pretrained(tmp_path / "sub" / "config.json").hidden_size == 8
    assert BertConfig.from_json_file(tmp_path / "sub" / "config.json").hidden_size == 8


def test_missing_config_names_the_path(tmp_path):
    with pytest.raises(CheckpointNotFoundError) as info:
        AutoConfig.from_pretrained(tmp_path / "nowhere")  # a folder that does not exist: named, never sent to the Hub
    assert os.fspath(tmp_path / "nowhere") in str(info.value) and "no such file or folder" in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointNotFoundError) as info:
        AutoConfig.from_pretrained(tmp_path / "empty")  # a folder without config.json: the file is named
    assert os.fspath(tmp_path / "empty" / "config.json") in str(info.value)


def test_update_and_update_from_string():
    config = GPT2Config()
    config.update({"n_layer": 4, "new_key": 1})
    assert config.n_layer == 4 and config.new_key == 1
    config.update_from_string("n_embd=10,resid_pdrop=0.2,scale_attn_weights=false,summary_type=cls_index")
    assert (config.n_embd, config.resid_pdrop, config.scale_attn_weights) == (10, 0.2, False)
    with pytest.raises(ConfigError, match="not in the configuration"):
        config.update_from_string("no_such_key=1")
    with pytest.raises(ConfigError, match="cannot read a boolean"):
        config.update_from_string("scale_attn_weights=maybe")
    with pytest.raises(ConfigError, match="cannot read a value"):
        config.update_from_string("n_layer=two")


def test_autoconfig_register_and_unknown_types(tmp_path):
    class TinyConfig(PretrainedConfig):
        model_type = "tiny-test"

        def __init__(self, width: int = 3, **kwargs):
            super().__init__(**kwargs)
            self.width = width

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "tiny-test", "width": 7}))
    with pytest.raises(ConfigError, match="unrecognised model_type"):
        AutoConfig.from_pretrained(tmp_path)
    AutoConfig.register("tiny-test", TinyConfig)
    try:
        assert AutoConfig.from_pretrained(tmp_path).width == 7
        class OtherTinyConfig(TinyConfig):
            pass

        with pytest.raises(ConfigError, match="already registered"):
            AutoConfig.register("tiny-test", OtherTinyConfig)
    finally:
        CONFIG_MAPPING.pop("tiny-test")
    with pytest.raises(ConfigError, match="does not match"):
        AutoConfig.register("other", TinyConfig)


@pytest.mark.parametrize(
    "text, problem",
    [
        ('{"model_type": "bert", "hidden_size": NaN}', "non-standard number NaN"),
        ('{"model_type": "bert", "layer_norm_eps": 1e999999}', "does not fit in a float"),
        ('{"model_type": "bert", "model_type": "gpt2"}', "appears twice"),
        ('["model_type"]', "top level must be a JSON object"),
        ('{"model_type": "bert", "hidden_size": "big"}', "'hidden_size' has the wrong type"),
        ('{"model_type": "bert", "use_cache": 1}', "'use_cache' has the wrong type"),
        ('{"model_type": "bert", "name": "\\ud800"}', "lone surrogate"),
        ('{"model_type": "bert",', "invalid JSON"),
        ("[" * 100000, "invalid JSON"),
        ('{"model_type": "bert", "x": ' + "9" * 5000 + "}", "invalid JSON"),
    ],
)
@pytest.mark.trust("F4", "F5", "F6", "F7", "F8")
def test_hostile_config_files_give_config_errors(tmp_path, text, problem):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ConfigError) as info:
        AutoConfig.from_pretrained(tmp_path)
    assert problem in str(info.value) and os.fspath(tmp_path / "config.json") in str(info.value)


@pytest.mark.trust("F8", "F9")
def test_bom_fifo_and_oversized_configs_are_refused(tmp_path):
    (tmp_path / "config.json").write_bytes(b'\xef\xbb\xbf{"model_type": "bert"}')
    with pytest.raises(ConfigError, match="byte-order mark"):
        AutoConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").unlink()
    os.mkfifo(tmp_path / "config.json")
    with pytest.raises(ConfigError, match="not a regular file"):  # and it does not block
        BertConfig.from_json_file(tmp_path / "config.json")
    (tmp_path / "config.json").unlink()
    with open(tmp_path / "config.json", "w") as fh:
        fh.write('{"model_type": "bert", "pad": "' + "x" * (5 * 1024 * 1024) + '"}')
    with pytest.raises(ConfigError, match="too large"):
        AutoConfig.from_pretrained(tmp_path)


def test_non_finite_values_are_not_written(tmp_path):
    config = BertConfig(layer_norm_eps=float("nan"))
    with pytest.raises(ConfigError, match="cannot be written as JSON"):
        config.save_pretrained(tmp_path)
    assert not (tmp_path / "config.json").exists()


def test_embedded_minilm_config(embedded):
    config = AutoConfig.from_pretrained(embedded)
    assert isinstance(config, BertConfig)
    assert (config.hidden_size, config.num_hidden_layers, config.vocab_size) == (384, 6, 30522)
    assert config.transformers_version == "4.8.2" and config.gradient_checkpointing is False
