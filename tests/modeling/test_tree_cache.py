"""Parameter trees kept on disk: equal to a fresh build, read back without importing the framework, rebuilt
when damaged, keyed by the code and the config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from modelport import AutoConfig, GPT2Config, adapters
from modelport.adapters.base import ParameterTree
from modelport.modeling import tree_cache
from modelport.modeling.tree_cache import CACHE_ENV, cache_folder, cached_tree

from _support.architectures import CONFIGS, FRAMEWORK_ADAPTERS, architectures


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "trees"


def _entries(folder):
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


@pytest.mark.parametrize("adapter_name,architecture,model_type", list(architectures()))
def test_a_tree_read_back_equals_the_build(cache, monkeypatch, adapter_name, architecture, model_type):
    adapter = adapters.get(adapter_name)
    config = CONFIGS[model_type](5)
    config.architectures = [architecture]
    built = adapter.parameter_tree(config)  # builds two layers, keeps them, extends to five
    assert len(_entries(cache)) == 1
    monkeypatch.setattr(type(adapter), "model_tree", lambda *a: pytest.fail("a kept tree must not be built again"))
    read = adapter.parameter_tree(config)
    assert list(read.shapes.items()) == list(built.shapes.items())  # names, shapes and order
    assert (read.framework, read.base_model_prefix, read.model_class, dict(read.tied), read.model_type) == (
        built.framework, built.base_model_prefix, built.model_class, dict(built.tied), built.model_type)


@pytest.mark.skipif("tf" not in FRAMEWORK_ADAPTERS, reason="needs the tf adapter")
def test_a_second_conversion_into_tf_does_not_import_tensorflow_and_writes_the_same_bytes(golden, tmp_path, cache):
    script = textwrap.dedent("""
        import sys, modelport
        report = modelport.convert(sys.argv[1], sys.argv[2], to="tf", format="native", progress=False)
        assert report.ok, report
        print("tensorflow" in sys.modules)
    """)
    imported = []
    for run in ("first", "second"):
        done = subprocess.run([sys.executable, "-c", script, str(golden / "gpt2" / "flax-msgpack"), str(tmp_path / run)],
                              capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=True)
        imported.append(done.stdout.strip().splitlines()[-1])
    assert imported == ["True", "False"]
    assert (tmp_path / "first" / "tf_model.h5").read_bytes() == (tmp_path / "second" / "tf_model.h5").read_bytes()


class Builds:
    """A build the cache mechanics are tested with (in the core alone too): a fixed tree, and how often it ran."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> ParameterTree:
        self.count += 1
        return ParameterTree("tf", {"h_._0/w:0": (3, 4), "h_._0/b:0": (4,)}, base_model_prefix="transformer",
                             model_class="TFGPT2Model")


CORE = adapters.get("numpy")  # an adapter whose code is modelport's own files


def _config(**changes) -> GPT2Config:
    return GPT2Config(**{"n_layer": 2, "n_embd": 8, "n_head": 2, **changes})


@pytest.mark.parametrize("damage", ["", "{not json", '{"shapes": [["a", [-1]]], "framework": "pt", "base_model_prefix": "",'
                                    ' "model_class": "X"}', '{"shapes": 3}', "[]"])
def test_a_damaged_entry_is_built_and_written_again(cache, damage):
    build = Builds()
    first = cached_tree(CORE, _config(), build)
    assert build.count == 1 and cached_tree(CORE, _config(), build).shapes == first.shapes and build.count == 1
    (entry,) = _entries(cache)
    entry.write_text(damage)
    again = cached_tree(CORE, _config(), build)
    assert build.count == 2 and list(again.shapes.items()) == list(first.shapes.items())
    assert json.loads(entry.read_text())["shapes"][0][0] == next(iter(first.shapes))  # written again, whole


def test_the_key_follows_the_config_and_the_code(cache, tmp_path):
    build = Builds()
    for config in (_config(), _config(n_embd=16), _config(architectures=["GPT2LMHeadModel"])):
        cached_tree(CORE, config, build)
    assert len(_entries(cache)) == 3 and build.count == 3
    package = tmp_path / "package"
    package.mkdir()
    (package / "layers.py").write_text("x = 1\n")
    before = tree_cache._code_fingerprint(str(package))
    tree_cache._code_fingerprint.cache_clear()
    (package / "layers.py").write_text("x = 12\n")  # an edited install: another size and time
    assert tree_cache._code_fingerprint(str(package)) != before


def test_off_keeps_nothing_and_an_unwritable_folder_only_costs_a_build(tmp_path, monkeypatch):
    build = Builds()
    monkeypatch.setenv(CACHE_ENV, "off")
    assert cache_folder() is None
    cached_tree(CORE, _config(), build)
    cached_tree(CORE, _config(), build)
    assert build.count == 2
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder would go")
    monkeypatch.setenv(CACHE_ENV, str(blocked))
    assert cached_tree(CORE, _config(), build).shapes and build.count == 3
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "modelport" / "trees"


def test_code_without_files_of_its_own_keeps_no_trees(cache):
    made_here = type("MadeHere", (type(CORE),), {"__module__": "__main__"})()
    build = Builds()
    cached_tree(made_here, _config(), build)
    cached_tree(made_here, _config(), build)
    assert build.count == 2 and not _entries(cache)
    assert tree_cache._code_fingerprint("") == ""
    module_file = tree_cache._code_location(__name__)  # a test module outside any package: its own file
    assert module_file.endswith("test_tree_cache.py") and tree_cache._code_fingerprint(module_file)


def test_one_model_read_from_two_folders_has_one_entry(cache, tmp_path):
    build = Builds()
    for folder in ("a", "b"):
        _config().save_pretrained(tmp_path / folder)
        cached_tree(CORE, AutoConfig.from_pretrained(tmp_path / folder), build)  # its _name_or_path is the folder
    assert len(_entries(cache)) == 1 and build.count == 1
