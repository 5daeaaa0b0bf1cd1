"""Malformed files reach the user of ``from_pretrained`` as modelport errors that name the file, never as crashes."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile

import pytest

from modelport.errors import ModelportError
from modelport_conformance.plugin import require
from modelport_conformance.samples import tiny_bert_config


def _safetensors(header: dict, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


class _Evil:
    def __reduce__(self):  # a pickle that would run a command if unpickled naively
        import os

        return (os.system, ("echo pwned > /tmp/modelport-conformance-pwned",))


def _bin_with_global() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle.dumps({"weight": _Evil()}, protocol=2))
        z.writestr("archive/version", "3\n")
    return buffer.getvalue()


CASES = {
    "safetensors-huge-header": ("model.safetensors", struct.pack("<Q", 2**40) + b"{}"),
    "safetensors-not-json": ("model.safetensors", struct.pack("<Q", 8) + b"not json"),
    "safetensors-data-past-the-end": ("model.safetensors", _safetensors(
        {"embeddings.word_embeddings.weight": {"dtype": "F32", "shape": [64, 24], "data_offsets": [0, 6144]}}, b"\0" * 16)),
    "safetensors-unknown-dtype": ("model.safetensors", _safetensors(
        {"a": {"dtype": "Q99", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4)),
    "bin-pickle-global": ("pytorch_model.bin", _bin_with_global()),
    "bin-not-a-zip": ("pytorch_model.bin", b"PK\x03\x04 truncated"),
    "h5-garbage": ("tf_model.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 64),
    "msgpack-garbage": ("flax_model.msgpack", b"\xc1\xc1\xc1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_checkpoint_is_a_modelport_error(adapter, case, tmp_path):
    require(adapter, "reference_models")
    name, payload = CASES[case]
    config = tiny_bert_config()
    config.save_pretrained(tmp_path)
    (tmp_path / name).write_bytes(payload)
    with pytest.raises(ModelportError) as caught:
        adapter.model_class(config).from_pretrained(tmp_path)
    assert name in str(caught.value) or str(tmp_path) in str(caught.value), (
        f"{adapter.name}: the error does not name the file: {caught.value}")
    from pathlib import Path

    assert not Path("/tmp/modelport-conformance-pwned").exists(), "a checkpoint ran code"


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
    from modelport_conformance.corpus import MARKER

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
        try:
            if is_config_case:
                adapter.load_model(folder)
            else:
                adapter.model_class(config).from_pretrained(folder)
            problems.append(f"{case}: loaded")
        except ModelportError as exc:
            if case not in str(exc):
                problems.append(f"{case}: the error does not name the file: {str(exc)[:120]}")
        except Exception as exc:  # noqa: BLE001 - the finding
            problems.append(f"{case}: {type(exc).__name__} escaped: {str(exc)[:120]}")
        finally:
            if not is_config_case:
                (folder / "config.json").unlink()
    assert not (root / MARKER).exists(), f"{adapter.name}: a checkpoint ran code"
    assert problems == [], f"{adapter.name}: " + "; ".join(problems)
