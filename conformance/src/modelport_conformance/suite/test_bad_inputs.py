"""Malformed files reach the user of ``from_pretrained`` as modelport errors that name the file, never as crashes."""

from __future__ import annotations

import io
import json
import shutil
import struct
import uuid
import zipfile
from pathlib import Path

import pytest

from modelport import AutoConfig, frameworks
from modelport.conversion.converter import convert
from modelport.errors import ModelportError
from modelport.formats import registry as formats
from modelport_conformance.corpus import payload_ran
from modelport_conformance.plugin import require
from modelport_conformance.references import reference
from modelport_conformance.samples import tiny_bert_config


def _safetensors(header: dict, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def _bin_with_global(marker: Path) -> bytes:
    """A PyTorch zip whose pickle would run a shell command (creating ``marker``) if unpickled naively."""
    from modelport_conformance.corpus import pickled_call

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickled_call("os", "system", f"touch {marker}"))
        z.writestr("archive/version", "3\n")
    return buffer.getvalue()


CASES = {
    "safetensors-huge-header": ("model.safetensors", struct.pack("<Q", 2**40) + b"{}"),
    "safetensors-not-json": ("model.safetensors", struct.pack("<Q", 8) + b"not json"),
    "safetensors-data-past-the-end": ("model.safetensors", _safetensors(
        {"embeddings.word_embeddings.weight": {"dtype": "F32", "shape": [64, 24], "data_offsets": [0, 6144]}}, b"\0" * 16)),
    "safetensors-unknown-dtype": ("model.safetensors", _safetensors(
        {"a": {"dtype": "Q99", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4)),
    "bin-pickle-global": ("pytorch_model.bin", _bin_with_global),
    "bin-not-a-zip": ("pytorch_model.bin", b"PK\x03\x04 truncated"),
    "h5-garbage": ("tf_model.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 64),
    "msgpack-garbage": ("flax_model.msgpack", b"\xc1\xc1\xc1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_checkpoint_is_a_modelport_error_naming_the_file(adapter, case, tmp_path):
    require(adapter, "reference_models")
    name, payload = CASES[case]
    marker = tmp_path / f"payload-ran-{uuid.uuid4().hex}"  # unique: a leftover of another run cannot fail this one
    config = tiny_bert_config()
    config.save_pretrained(tmp_path)
    (tmp_path / name).write_bytes(payload(marker) if callable(payload) else payload)
    with pytest.raises(ModelportError) as caught:
        adapter.model_class(config).from_pretrained(tmp_path)
    assert str(tmp_path / name) in str(caught.value), (
        f"{adapter.name}: the error does not name the bad file {tmp_path / name}: {caught.value}")
    assert not marker.exists(), f"{adapter.name}: a checkpoint ran code"


def test_a_damaged_preferred_file_is_an_error_even_beside_a_good_one(adapter, tmp_path):
    """A truncated file of the format the adapter loads first, beside a valid checkpoint of another format:
    loading must fail naming it, never fall back quietly to the other (perhaps older) weights."""
    require(adapter, "reference_models")
    ref = reference("bert")
    facts = frameworks.get(adapter.checkpoint_framework)
    folder = tmp_path / "model"
    convert(ref.folder, folder, to=facts.tag, format="native", progress=False)  # the adapter's native file and config
    shutil.copy(ref.folder / "model.safetensors", folder / "model.safetensors")  # transformers' PyTorch safetensors
    preferred = folder / formats.get(facts.load_preference[0]).weights_name
    others = sorted(p.name for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".h5", ".msgpack") and p != preferred)
    data = preferred.read_bytes()
    preferred.write_bytes(data[: len(data) // 2])  # an interrupted download
    with pytest.raises(ModelportError) as caught:
        adapter.model_class(AutoConfig.from_pretrained(folder)).from_pretrained(folder)
    assert preferred.name in str(caught.value), (
        f"{adapter.name}: the error does not name the damaged {preferred.name}: {caught.value}")
    assert others, "the test needs a valid file of another format beside the damaged one"


def test_a_config_with_nan_is_a_modelport_error(adapter, tmp_path):
    require(adapter, "reference_models")
    (tmp_path / "config.json").write_text('{"model_type": "bert", "hidden_size": NaN}')
    with pytest.raises(ModelportError, match="config.json"):
        adapter.load_model(tmp_path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from modelport_conformance.corpus import build

    root = tmp_path_factory.mktemp("malicious-corpus")
    return root, build(root)


def test_every_malicious_file_is_refused_by_from_pretrained(adapter, corpus):
    """The shared malicious corpus (pickles, polyglots, Lambda h5, traversal indexes, links...) through this adapter."""
    require(adapter, "reference_models")
    root, cases = corpus
    config = tiny_bert_config()
    problems = []
    for case in cases:
        folder = root / case
        if not (folder / "config.json").exists():
            config.save_pretrained(folder)
            is_config_case = False
        else:
            is_config_case = True
        files = [p.name for p in folder.iterdir() if is_config_case or p.name != "config.json"]
        try:
            if is_config_case:
                adapter.load_model(folder)
            else:
                adapter.model_class(config).from_pretrained(folder)
            problems.append(f"{case}: loaded")
        except ModelportError as exc:
            if not any(f"{case}/{name}" in str(exc) for name in files):
                problems.append(f"{case}: the error does not name the bad file (one of {files}): {str(exc)[:160]}")
        except Exception as exc:  # noqa: BLE001 - the finding
            problems.append(f"{case}: {type(exc).__name__} escaped: {str(exc)[:120]}")
        finally:
            if not is_config_case:
                (folder / "config.json").unlink()
    assert payload_ran(root) == [], f"{adapter.name}: a checkpoint ran code (it wrote {payload_ran(root)})"
    assert problems == [], f"{adapter.name}: " + "; ".join(problems)
