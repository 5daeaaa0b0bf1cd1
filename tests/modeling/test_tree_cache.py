"""Parameter trees kept on disk: equal to a fresh build, read back without importing the framework, rebuilt
when damaged, keyed by the code and the config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from modelport import AutoConfig, adapters
from modelport.modeling import tree_cache
from modelport.modeling.tree_cache import CACHE_ENV, cache_folder

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


@pytest.mark.parametrize("damage", ["", "{not json", '{"shapes": [["a", [-1]]], "framework": "pt", "base_model_prefix": "",'
                                    ' "model_class": "X"}', '{"shapes": 3}', "[]"])
def test_a_damaged_entry_is_built_and_written_again(cache, damage):
    adapter = adapters.get(FRAMEWORK_ADAPTERS[0])
    config = CONFIGS["gpt2"](2)
    built = adapter.parameter_tree(config)
    (entry,) = _entries(cache)
    entry.write_text(damage)
    again = adapter.parameter_tree(config)
    assert list(again.shapes.items()) == list(built.shapes.items())
    assert json.loads(entry.read_text())["shapes"][0][0] == next(iter(built.shapes))  # written again, whole


def test_the_key_follows_the_config_and_the_code(cache, tmp_path):
    adapter = adapters.get(FRAMEWORK_ADAPTERS[0])
    adapter.parameter_tree(CONFIGS["gpt2"](2))
    adapter.parameter_tree(CONFIGS["bert"](2))
    wider = CONFIGS["gpt2"](2)
    wider.n_embd = 32
    adapter.parameter_tree(wider)
    assert len(_entries(cache)) == 3
    package = tmp_path / "package"
    package.mkdir()
    (package / "layers.py").write_text("x = 1\n")
    before = tree_cache._code_fingerprint(str(package))
    tree_cache._code_fingerprint.cache_clear()
    (package / "layers.py").write_text("x = 12\n")  # an edited install: another size and time
    assert tree_cache._code_fingerprint(str(package)) != before


def test_off_keeps_nothing_and_an_unwritable_folder_only_costs_a_build(tmp_path, monkeypatch):
    adapter = adapters.get(FRAMEWORK_ADAPTERS[0])
    monkeypatch.setenv(CACHE_ENV, "off")
    assert cache_folder() is None
    assert adapter.parameter_tree(CONFIGS["gpt2"](2)).shapes
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder would go")
    monkeypatch.setenv(CACHE_ENV, str(blocked))
    assert adapter.parameter_tree(CONFIGS["gpt2"](2)).shapes
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "modelport" / "trees"


def test_code_without_files_of_its_own_keeps_no_trees(cache):
    adapter_class = type(adapters.get(FRAMEWORK_ADAPTERS[0]))
    made_here = type("MadeHere", (adapter_class,), {"__module__": "__main__"})()
    assert made_here.parameter_tree(CONFIGS["gpt2"](2)).shapes and not _entries(cache)
    assert tree_cache._code_fingerprint("") == ""
    module_file = tree_cache._code_location(__name__)  # a test module outside any package: its own file
    assert module_file.endswith("test_tree_cache.py") and tree_cache._code_fingerprint(module_file)


def test_one_model_read_from_two_folders_has_one_entry(cache, tmp_path):
    adapter = adapters.get(FRAMEWORK_ADAPTERS[0])
    for folder in ("a", "b"):
        CONFIGS["gpt2"](2).save_pretrained(tmp_path / folder)
        adapter.parameter_tree(AutoConfig.from_pretrained(tmp_path / folder))  # its _name_or_path is the folder
    assert len(_entries(cache)) == 1
