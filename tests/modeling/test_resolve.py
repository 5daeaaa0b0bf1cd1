"""The first half of every from_pretrained: config and weights from one commit, keywords checked (numpy only)."""

from __future__ import annotations

import re
import secrets
import shutil

import pytest

from modelport import BertConfig
from modelport.errors import UnsupportedKeywordError
from modelport.hub import upload_folder
from modelport.modeling.resolve import resolve_pretrained

from _support.golden import GOLDEN


class Bare:
    """The least a model class needs for resolve_pretrained: a config class and a constructor."""

    config_class = BertConfig

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True) -> None:
        self.config = config


def _repo(tmp_path):
    repo = f"modelport-test/resolve-{secrets.token_hex(4)}"
    shutil.copytree(GOLDEN / "bert" / "pt-safetensors", tmp_path / "upload")
    upload_folder(tmp_path / "upload", repo)
    return repo


def test_weights_come_from_the_commit_config_json_came_from(hub, tmp_path):
    repo = _repo(tmp_path)
    hub.clear_log()
    found = resolve_pretrained(Bare, repo, "pt", {"cache_dir": tmp_path / "cache"})
    assert found.commit is not None and re.fullmatch(r"[0-9a-f]{40}", found.commit)
    paths = [r["path"] for r in hub.requests(contains="/resolve/")]
    config = [p for p in paths if p.endswith("/config.json")]
    weights = [p for p in paths if p.endswith("/model.safetensors")]
    assert config and all("/resolve/main/" in p for p in config)
    assert weights and all(f"/resolve/{found.commit}/" in p for p in weights)  # pinned, not "main" again
    assert found.source.framework == "pt" and "embeddings.word_embeddings.weight" in found.source


def test_config_attributes_and_constructor_arguments_are_separated(tmp_path):
    found = resolve_pretrained(Bare, GOLDEN / "bert" / "pt-safetensors", "pt",
                               {"layer_norm_eps": 1e-3, "add_pooling_layer": False, "output_loading_info": True})
    assert found.config.layer_norm_eps == 1e-3
    assert found.model_kwargs == {"add_pooling_layer": False} and found.options == {"output_loading_info": True}
    with pytest.raises(UnsupportedKeywordError, match="add_pooling_layr") as caught:
        resolve_pretrained(Bare, GOLDEN / "bert" / "pt-safetensors", "pt", {"add_pooling_layr": False})
    assert "add_pooling_layer" in str(caught.value)  # the message lists what the class takes


def test_from_flags_pick_the_framework_and_state_dicts_need_no_files(tmp_path):
    found = resolve_pretrained(Bare, GOLDEN / "bert", "pt", {"subfolder": "tf-h5", "from_tf": True})
    assert found.source.framework == "tf" and found.source.format == "h5"
    arrays = {"embeddings.word_embeddings.weight": __import__("numpy").zeros((2, 2), "float32")}
    found = resolve_pretrained(Bare, "not/a-repo-anyone-has", "pt", {"config": BertConfig(), "state_dict": arrays},
                               to_numpy=lambda a: a)
    assert list(found.source) == ["embeddings.word_embeddings.weight"] and found.commit is None
