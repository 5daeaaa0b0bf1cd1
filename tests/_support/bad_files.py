"""Builders of damaged and hand-made checkpoint files, shared by the bad-input and trust tests."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from modelport.checkpoint import Checkpoint
from modelport.errors import ModelportError

__all__ = ["load_everything", "expect_refusal", "torch_like_zip", "storage_pickle", "good_h5_layer"]


def load_everything(folder: Path) -> None:
    ckpt = Checkpoint.open(folder)
    for name in ckpt:
        ckpt[name]


def expect_refusal(folder: Path, problem: str, file_name: str) -> ModelportError:
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(ModelportError) as info:
        load_everything(folder)
    message = str(info.value)
    assert problem in message, message
    assert file_name in message, message
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written, nothing left behind
    return info.value


def torch_like_zip(path: Path, pickle_bytes: bytes, members: dict[str, bytes] | None = None, *, compress: bool = False,
                   extra_names: list[str] | None = None) -> None:
    """A zip laid out like torch.save's, around any pickle."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        zf.writestr("archive/data.pkl", pickle_bytes)
        zf.writestr("archive/version", b"3\n")
        zf.writestr("archive/byteorder", b"little")
        for name, data in (members or {}).items():
            zf.writestr(f"archive/data/{name}", data)
        for name in extra_names or []:
            zf.writestr(name, b"x")


def storage_pickle(offset=0, size=(2,), stride=(1,), numel=2, storage="FloatStorage", key="0") -> bytes:
    """Hand-assembled protocol-2 pickle of {'w': _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())}."""
    def ints(values):
        return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"

    return (
        b"\x80\x02}(X\x01\x00\x00\x00w"
        b"ctorch._utils\n_rebuild_tensor_v2\n"
        b"((X\x07\x00\x00\x00storage" + f"ctorch\n{storage}\n".encode() + b"X" + struct.pack("<I", len(key)) + key.encode()
        + b"X\x03\x00\x00\x00cpuJ" + struct.pack("<i", numel) + b"tQ"
        + b"J" + struct.pack("<i", offset) + ints(size) + ints(stride)
        + b"\x89"  # requires_grad=False
        + b"ccollections\nOrderedDict\n)R"  # backward_hooks=OrderedDict()
        + b"tRu."  # close the argument tuple, call the rebuild, set the item, stop
    )


def good_h5_layer(f):
    f.attrs["layer_names"] = np.asarray([b"bert"])
    g = f.create_group("bert")
    g.attrs["weight_names"] = np.asarray([b"tf_bert_model/bert/w:0"])
    g.create_dataset("tf_bert_model/bert/w:0", data=np.ones(3, np.float32))
