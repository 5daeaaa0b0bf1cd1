"""Safe destinations and what travels with the weights (``modelport.conversion.sources``)."""

from __future__ import annotations

import secrets
import shutil

import numpy as np
import pytest

from modelport.checkpoint import Checkpoint
from modelport.cli import main
from modelport.conversion.converter import convert
from modelport.errors import ConversionError
from modelport.hub import upload_folder
from modelport.saving import save_checkpoint


@pytest.fixture
def source(golden, tmp_path):
    """A copy of transformers' tiny BERT checkpoint (safetensors and config.json)."""
    folder = tmp_path / "src"
    shutil.copytree(golden / "bert" / "pt-safetensors", folder)
    return folder


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("present", ["tf_model.h5", "model.safetensors", "flax_model.msgpack",
                                     "pytorch_model-00001-of-00002.bin"])
def test_a_folder_holding_other_weights_is_refused_and_left_untouched(source, tmp_path, capsys, present):
    out = tmp_path / "out"
    out.mkdir()
    (out / present).write_bytes(b"someone else's weights")
    (out / "config.json").write_text('{"model_type": "gpt2"}')
    before = _snapshot(out)
    assert main(["convert", str(source), str(out), "--to", "pt", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "already holds weights" in err and present in err and "--overwrite" in err
    assert _snapshot(out) == before


def test_overwrite_replaces_them_and_leaves_no_mixed_folder(source, tmp_path):
    out = tmp_path / "out"
    save_checkpoint(out, [("encoder.weight", np.full((2, 3), 9.0, np.float32))])
    (out / "tf_model.h5").write_bytes(b"another framework's weights")
    with pytest.raises(ConversionError, match="already holds weights"):
        convert(source, out, to="pt", progress=False)
    report = convert(source, out, to="pt", progress=False, overwrite=True)
    assert report.ok and sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    ours, theirs = Checkpoint.open(out), Checkpoint.open(source)
    assert len(ours) == len(report.converted) and "encoder.weight" not in ours
    assert all(np.array_equal(ours[n], theirs[n]) for n in ours)


def test_an_empty_or_weightless_folder_is_fine(source, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert convert(source, out, to="pt", progress=False).ok
    assert (out / "notes.txt").read_text() == "mine"


def test_a_hub_conversion_copies_only_the_allow_listed_files_and_records_base_model(hub, source, tmp_path):
    belongs = {
        "tokenizer.json": b"{}", "tokenizer_config.json": b"{}", "special_tokens_map.json": b"{}", "vocab.txt": b"a\nb\n",
        "merges.txt": b"#", "generation_config.json": b"{}", "spiece.model": b"\x00", "1_Pooling/config.json": b"{}",
        "modules.json": b"[]",
        "README.md": b"---\nlicense: apache-2.0\ntags:\n- text\n---\n# Tiny\n\nThe source's own card.\n",
    }
    stays = {"onnx/model.onnx": b"onnx", "openvino/openvino_model.xml": b"<x/>", "rust_model.ot": b"rust",
             "modeling_custom.py": b"import os", "coreml/model.mlmodel": b"ml", "model.onnx": b"onnx", "data/train.csv": b"1"}
    for name, data in {**belongs, **stays}.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    repo = f"modelport-test/conv-{secrets.token_hex(4)}"
    commit = upload_folder(source, repo).oid
    hub.clear_log()
    out = tmp_path / "out"
    report = convert(repo, out, to="pt", progress=False)
    written = set(_snapshot(out))
    assert written == {"model.safetensors", "config.json", *belongs}
    for name in stays:  # neither downloaded nor copied
        assert not hub.requests("GET", name) and name not in written
    assert {name for name, _ in report.skipped} == set()  # never downloaded, so nothing of them is in the snapshot
    from huggingface_hub import ModelCard

    card = ModelCard.load(out / "README.md")
    assert card.data.base_model == repo and card.data.license == "apache-2.0" and "modelport" in card.data.tags
    assert "The source's own card." in card.text and f"Converted from `{repo}` at commit `{commit}`" in card.text


def test_a_local_conversion_names_the_files_it_leaves_behind(source, tmp_path):
    (source / "onnx").mkdir()
    (source / "onnx" / "model.onnx").write_bytes(b"onnx")
    (source / "modeling_custom.py").write_text("import os")
    (source / "tokenizer.json").write_text("{}")
    report = convert(source, tmp_path / "out", to="pt", progress=False)
    assert dict(report.skipped) == {"modeling_custom.py": "code is never copied",
                                    "onnx/model.onnx": "weights or an export for another runtime"}
    assert "tokenizer.json" in report.copied and "not copied (2)" in report.summary()
    assert "base_model" not in (tmp_path / "out" / "README.md").read_text()  # a local source has no Hub id to record
