"""Malformed and hostile checkpoint files: every reader refuses them with a modelport error.

Each case is built here from a short recipe (struct, zipfile, pickle opcodes,
h5py, msgpack), opened through ``Checkpoint.open`` and fully read. The test
asserts the error type, that the message names the file and the rule, that
no code ran (pickle payloads would create a marker file) and that nothing
was written into the folder.
"""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
from pathlib import Path

import h5py
import msgpack
import numpy as np
import pytest

from modelport.checkpoint import Checkpoint
from modelport.errors import FormatError
from modelport.formats import flax_msgpack, keras_h5
from modelport.formats import safetensors as st

from _support.bad_files import expect_refusal, good_h5_layer, storage_pickle, torch_like_zip

GOLDEN = Path(__file__).parent / "golden" / "data"


# -- truncation, every format ----------------------------------------------------------
TRUNCATE = [
    ("bert/pt-safetensors", "model.safetensors"),
    ("bert/pt-bin", "pytorch_model.bin"),
    ("bert/tf-h5", "tf_model.h5"),
    ("bert/flax-msgpack", "flax_model.msgpack"),
]


@pytest.mark.parametrize("source, name", TRUNCATE, ids=[t[1] for t in TRUNCATE])
@pytest.mark.parametrize("keep", [0.0, 0.05, 0.5, 0.99])
@pytest.mark.trust("A11", "B10", "C11", "D3")
def test_truncated_files(tmp_path, source, name, keep):
    data = (GOLDEN / source / name).read_bytes()
    (tmp_path / name).write_bytes(data[: int(len(data) * keep)])
    error = expect_refusal(tmp_path, "the file is empty" if keep == 0 else "", name)
    assert isinstance(error, FormatError)


# -- PyTorch .bin: the pickle and the zip ---------------------------------------------------
class _Payload:
    """A pickle that would run a command if unpickled by Python's pickle."""

    def __init__(self, marker: Path, func):
        self.marker, self.func = marker, func

    def __reduce__(self):
        if self.func == "system":
            return (os.system, (f"touch {self.marker}",))
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize(
    "func, protocol, global_name", [("system", 2, "posix.system"), ("eval", 2, "__builtin__.eval"), ("eval", 4, "builtins.eval")]
)
@pytest.mark.trust("B1")
def test_pickle_globals_outside_the_allow_list_are_refused_and_never_called(tmp_path, func, protocol, global_name):
    marker = tmp_path.parent / f"{tmp_path.name}-marker"
    payload = pickle.dumps({"weight": _Payload(marker, func)}, protocol=protocol)
    torch_like_zip(tmp_path / "pytorch_model.bin", payload)
    expect_refusal(tmp_path, f"the global {global_name} is not allowed", "pytorch_model.bin")
    assert not marker.exists()


def test_hand_assembled_state_dict_is_read(tmp_path):
    torch_like_zip(tmp_path / "pytorch_model.bin", storage_pickle(), {"0": np.array([1.5, -2.0], np.float32).tobytes()})
    assert Checkpoint.open(tmp_path)["w"].tolist() == [1.5, -2.0]


BIN_CASES = {
    "view past the storage": (dict(offset=1, size=(2,)), {"0": b"\0" * 8}, "reaches past the end of its storage"),
    "stride past the storage": (dict(size=(2,), stride=(5,)), {"0": b"\0" * 8}, "reaches past the end of its storage"),
    "numel larger than the member": (dict(numel=1000), {"0": b"\0" * 8}, "declared size does not match its data member"),
    "missing storage member": (dict(key="7"), {"0": b"\0" * 8}, "has no data member"),
    "unknown storage type": (dict(storage="ComplexFloatStorage"), {"0": b"\0" * 8}, "global torch.ComplexFloatStorage is not allowed"),
    "negative offset": (dict(offset=-1), {"0": b"\0" * 8}, "storage offset must be a non-negative integer"),
    "size and stride lengths differ": (dict(size=(2, 1), stride=(1,)), {"0": b"\0" * 8}, "equal-length tuples"),
}


@pytest.mark.parametrize("case", list(BIN_CASES))
@pytest.mark.trust("B3", "B4", "B5")
def test_hostile_rebuild_arguments(tmp_path, case):
    kwargs, members, problem = BIN_CASES[case]
    torch_like_zip(tmp_path / "pytorch_model.bin", storage_pickle(**kwargs), members)
    expect_refusal(tmp_path, problem, "pytorch_model.bin")


RAW_PICKLES = {
    "memo index of 2**32-1 (C unpickler allocates gigabytes)": (b"\x80\x02]r\xff\xff\xff\xff.", "does not hold a state dict"),
    "BINUNICODE8 longer than the data": (b"\x80\x04\x8d" + struct.pack("<Q", 2**60) + b"x.", "runs past the end"),
    "BINBYTES longer than the data": (b"\x80\x02B" + struct.pack("<I", 2**31) + b"x.", "runs past the end"),
    "no STOP": (b"\x80\x02}", "ends without STOP"),
    "stack underflow": (b"\x80\x02t.", "no MARK"),
    "dangling memo reference": (b"\x80\x02h\x05.", "points at nothing"),
    "INST opcode": (b"\x80\x02(ios\nsystem\nX\x02\x00\x00\x00ls.", "is not allowed"),
    "OBJ opcode": (b"\x80\x02(o.", "is not allowed"),
    "SETITEM on a list": (b"\x80\x02]X\x01\x00\x00\x00aX\x01\x00\x00\x00bs.", "can only be added to a dict"),
    "APPEND on a dict": (b"\x80\x02}X\x01\x00\x00\x00aa.", "can only be added to a list"),
    "BUILD on a plain dict": (b"\x80\x02}}b.", "BUILD is only allowed"),
    "calling a storage type": (b"\x80\x02ctorch\nFloatStorage\n)R.", "only allow-listed rebuild functions"),
    "deep MARK nesting": (b"\x80\x02" + b"(" * 100_000 + b".", "STOP with a malformed stack"),
    "top level is a list": (b"\x80\x02].", "does not hold a state dict"),
}


@pytest.mark.parametrize("case", list(RAW_PICKLES))
@pytest.mark.trust("B2", "B7", "B8", "B9", "B10", "B11")
def test_malformed_pickles(tmp_path, case):
    data, problem = RAW_PICKLES[case]
    torch_like_zip(tmp_path / "pytorch_model.bin", data)
    expect_refusal(tmp_path, problem, "pytorch_model.bin")


@pytest.mark.trust("B15")
def test_legacy_non_zip_bin_is_refused_without_unpickling(tmp_path):
    marker = tmp_path.parent / f"{tmp_path.name}-marker"
    (tmp_path / "pytorch_model.bin").write_bytes(pickle.dumps({"w": _Payload(marker, "system")}, protocol=2))
    error = expect_refusal(tmp_path, "legacy, pre-1.6 torch.save format", "pytorch_model.bin")
    assert "Re-save it" in str(error) and not marker.exists()


@pytest.mark.parametrize(
    "build, problem",
    [
        (lambda p: torch_like_zip(p, storage_pickle(), {"0": b"\0" * 8}, compress=True), "a zip member is compressed"),
        (lambda p: torch_like_zip(p, storage_pickle(), {"0": b"\0" * 8}, extra_names=["other/x"]), "one top-level folder"),
        (lambda p: torch_like_zip(p, storage_pickle(), {"0": b"\0" * 8}, extra_names=["archive/data/0"]), "duplicate zip member names"),
    ],
    ids=["compressed", "two-roots", "duplicate-names"],
)
@pytest.mark.trust("B12", "B14")
def test_zip_structure_checks(tmp_path, build, problem):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we write on purpose
        build(tmp_path / "pytorch_model.bin")
    expect_refusal(tmp_path, problem, "pytorch_model.bin")


@pytest.mark.trust("B14")
def test_missing_data_pkl(tmp_path):
    with zipfile.ZipFile(tmp_path / "pytorch_model.bin", "w") as zf:
        zf.writestr("archive/version", b"3\n")
    expect_refusal(tmp_path, "no data.pkl", "pytorch_model.bin")


# -- Keras h5 ---------------------------------------------------------------------------------
def _h5(path: Path, build) -> None:
    with h5py.File(path, "w") as f:
        build(f)


H5_CASES = {
    "no layer_names": (lambda f: f.create_dataset("x", data=np.ones(2)), "'layer_names' attribute is missing"),
    "dangling weight name": (
        lambda f: (good_h5_layer(f), f["bert"].attrs.__setitem__("weight_names", np.asarray([b"tf_bert_model/bert/missing:0"]))),
        "a listed weight has no dataset",
    ),
    "absolute weight name": (
        lambda f: (good_h5_layer(f), f["bert"].attrs.__setitem__("weight_names", np.asarray([b"/other/kernel:0"]))),
        "must stay inside its layer group",
    ),
    "layer without group": (lambda f: f.attrs.__setitem__("layer_names", np.asarray([b"ghost"])), "a listed layer has no group"),
    "external link": (
        lambda f: (
            good_h5_layer(f),
            f["bert/tf_bert_model/bert"].__delitem__("w:0"),
            f["bert/tf_bert_model/bert"].__setitem__("w:0", h5py.ExternalLink("/etc/passwd", "/x")),
        ),
        "must not be links",
    ),
    "soft link": (
        lambda f: (
            good_h5_layer(f),
            f.create_dataset("secret", data=np.ones(3, np.float32)),
            f["bert/tf_bert_model/bert"].__delitem__("w:0"),
            f["bert/tf_bert_model/bert"].__setitem__("w:0", h5py.SoftLink("/secret")),
        ),
        "must not be links",
    ),
    "string dataset": (
        lambda f: (
            good_h5_layer(f),
            f["bert/tf_bert_model/bert"].__delitem__("w:0"),
            f["bert/tf_bert_model/bert"].create_dataset("w:0", data=np.asarray([b"abc"])),
        ),
        "unsupported dataset dtype",
    ),
    "non-UTF-8 name": (lambda f: f.attrs.__setitem__("layer_names", np.asarray([b"\xff\xfe"])), "not UTF-8"),
    "split attribute with a gap": (
        lambda f: (
            good_h5_layer(f),
            f.attrs.__delitem__("layer_names"),
            f.attrs.__setitem__("layer_names0", np.asarray([b"bert"])),
            f.attrs.__setitem__("layer_names2", np.asarray([b"other"])),  # layer_names1 is missing
        ),
        "the split 'layer_names' attribute has a gap",
    ),
}


@pytest.mark.parametrize("case", list(H5_CASES))
@pytest.mark.trust("C2", "C7", "C8", "C9", "C10")
def test_malformed_h5(tmp_path, case):
    build, problem = H5_CASES[case]
    _h5(tmp_path / "tf_model.h5", build)
    expect_refusal(tmp_path, problem, "tf_model.h5")


@pytest.mark.trust("C1")
def test_h5_external_storage_is_never_read(tmp_path):
    secret = tmp_path.parent / f"{tmp_path.name}-secret.bin"
    secret.write_bytes(np.arange(3, dtype=np.float32).tobytes())

    def build(f):
        good_h5_layer(f)
        del f["bert/tf_bert_model/bert/w:0"]
        f["bert/tf_bert_model/bert"].create_dataset("w:0", shape=(3,), dtype=np.float32, external=[(str(secret), 0, 12)])

    _h5(tmp_path / "tf_model.h5", build)
    expect_refusal(tmp_path, "virtual or external datasets are not allowed", "tf_model.h5")


@pytest.mark.trust("C11")
def test_random_bytes_named_h5(tmp_path):
    (tmp_path / "tf_model.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(2000))
    expect_refusal(tmp_path, "", "tf_model.h5")


# -- Flax msgpack -------------------------------------------------------------------------
def _ext_array(shape, dtype: str, data: bytes, code: int = 1) -> msgpack.ExtType:
    return msgpack.ExtType(code, msgpack.packb((list(shape), dtype, data), use_bin_type=True))


MSGPACK_CASES = {
    "unknown ext code": (msgpack.packb({"w": msgpack.ExtType(5, b"\x00")}), "unknown msgpack extension type"),
    "byte count does not match": (msgpack.packb({"w": _ext_array((3,), "float32", b"\0" * 8)}), "byte count does not match"),
    "object dtype": (msgpack.packb({"w": _ext_array((1,), "O", b"\0" * 8)}), "unsupported array dtype"),
    "structured dtype": (msgpack.packb({"w": _ext_array((1,), "f4,", b"\0" * 4)}), "unsupported array dtype"),
    "syntax-error dtype": (msgpack.packb({"w": _ext_array((1,), "(1,", b"\0" * 4)}), "unsupported array dtype"),
    "negative shape": (msgpack.packb({"w": _ext_array((-1,), "float32", b"")}), "non-negative integers"),
    "trailing bytes": (msgpack.packb({"w": _ext_array((1,), "float32", b"\0" * 4)}) + b"\x00", "stray bytes"),
    "top level not a map": (msgpack.packb([1, 2]), "not a checkpoint file of any known format"),
    "top level a string": (b"\xa3abc", "not a checkpoint file of any known format"),
    "non-string key": (msgpack.packb({1: _ext_array((1,), "float32", b"\0" * 4)}), "keys must be strings"),
    "duplicate key": (
        b"\x82\xa1w"
        + msgpack.packb(_ext_array((1,), "float32", b"\0" * 4))
        + b"\xa1w"
        + msgpack.packb(_ext_array((1,), "float32", b"\0" * 4)),
        "appears twice",
    ),
    "map claims 2**32-1 entries": (b"\xdf\xff\xff\xff\xff", "claims more entries than bytes remain"),
    "deep nesting": (b"\x81\xa1a" * 1000 + b"\x80", "nesting is too deep"),
    "leaf that is not an array": (msgpack.packb({"w": 3}), "unsupported value"),
    "name with a slash": (msgpack.packb({"a/b": _ext_array((1,), "float32", b"\0" * 4)}), "contain no '/'"),
    "chunk missing": (
        msgpack.packb(
            {"w": {"__msgpack_chunked_array__": True, "shape": {"0": 4}, "chunks": {"1": _ext_array((4,), "float32", b"\0" * 16)}}}
        ),
        "numbered 0..n-1",
    ),
    "chunks do not add up": (
        msgpack.packb(
            {"w": {"__msgpack_chunked_array__": True, "shape": {"0": 5}, "chunks": {"0": _ext_array((4,), "float32", b"\0" * 16)}}}
        ),
        "do not add up",
    ),
    "invalid type byte": (b"\x81\xa1w\xc1", "invalid msgpack type byte"),
}


@pytest.mark.parametrize("case", list(MSGPACK_CASES))
@pytest.mark.trust("D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8", "D9")
def test_malformed_msgpack(tmp_path, case):
    data, problem = MSGPACK_CASES[case]
    (tmp_path / "flax_model.msgpack").write_bytes(data)
    expect_refusal(tmp_path, problem, "flax_model.msgpack")


def test_valid_chunked_msgpack_written_by_hand_reads(tmp_path):
    data = msgpack.packb(
        {
            "w": {
                "__msgpack_chunked_array__": True,
                "shape": {"0": 2, "1": 2},
                "chunks": {
                    "0": _ext_array((3,), "float32", np.arange(3, dtype=np.float32).tobytes()),
                    "1": _ext_array((1,), "float32", np.float32(9).tobytes()),
                },
            }
        }
    )
    (tmp_path / "flax_model.msgpack").write_bytes(data)
    assert Checkpoint.open(tmp_path)["w"].tolist() == [[0, 1], [2, 9]]


# -- the same checks through the format modules directly ------------------------------------
@pytest.mark.parametrize("module", [st, keras_h5, flax_msgpack], ids=["safetensors", "h5", "msgpack"])
@pytest.mark.trust("A1", "C11", "D3")
def test_empty_files(tmp_path, module):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with pytest.raises(FormatError) as info:
        module.list_tensors(path)
    assert str(path) in str(info.value)


def test_nothing_in_this_module_uses_pickle_load_on_files():
    """The .bin reader never hands file bytes to Python's unpickler."""
    import inspect

    from modelport.formats import _pickle, torch_zip

    for module in (_pickle, torch_zip):
        source = inspect.getsource(module)
        assert "pickle.load" not in source and "Unpickler" not in source and "import pickle" not in source
