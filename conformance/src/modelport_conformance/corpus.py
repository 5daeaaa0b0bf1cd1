"""A corpus of malicious checkpoints, built on demand from short recipes (never stored as binaries).

:func:`build` writes one folder per case: pickle payloads in every protocol and
in obfuscated forms, legacy bare pickles, polyglots, whole-model h5 files with
Lambda code, links and external or virtual storage in h5, object dtypes in
msgpack, traversal indexes, shards that are links out of the folder or special
files, and configs whose values would select code or drive allocation. Every
payload, if it ever ran, would only create the file ``PAYLOAD-RAN`` (or
``PAYLOAD-RAN.npy``) inside the corpus folder. Pickles call ``os``,
``subprocess`` and ``builtins`` functions, and functions inside the frameworks'
own namespaces (``torch.save``, ``numpy.savetxt``, TensorFlow's file writer,
``jax.numpy.save``, numpy's ``runstring``). Used by the conformance suite (every adapter's
``from_pretrained`` must refuse every case) and by modelport's own audit-hook
test.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["build", "MARKER", "payload_ran", "pickled_call"]

#: the file a payload would create if it ever ran
MARKER = "PAYLOAD-RAN"

def _zip_bin(path: Path, pkl: bytes, members: dict[str, bytes] | None = None, root: str = "archive") -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{root}/data.pkl", pkl)
        zf.writestr(f"{root}/version", b"3\n")
        zf.writestr(f"{root}/byteorder", b"little")
        for name, data in (members or {}).items():
            zf.writestr(f"{root}/data/{name}", data)


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _pickles(marker: Path) -> dict[str, bytes]:
    """Pickles that run code (they would touch ``marker``) under Python's own unpickler."""
    touch = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    out: dict[str, bytes] = {}
    import builtins
    import subprocess

    for protocol in (0, 1, 2, 3, 4, 5):
        out[f"os-system-p{protocol}"] = pickle.dumps({"w": _Reduce(os.system, (touch,))}, protocol=protocol)
    out["eval"] = pickle.dumps({"w": _Reduce(builtins.eval, (code,))}, protocol=2)
    out["exec"] = pickle.dumps({"w": _Reduce(builtins.exec, (code,))}, protocol=4)
    out["subprocess-popen"] = pickle.dumps({"w": _Reduce(subprocess.Popen, (["touch", str(marker)],))}, protocol=2)
    out["import-then-getattr"] = (b"\x80\x02}X\x01\x00\x00\x00wc__builtin__\n__import__\nX\x02\x00\x00\x00os\x85R.")
    out["getattr-chain"] = (b"\x80\x02}X\x01\x00\x00\x00wcbuiltins\ngetattr\ncos\nsystem\nX\x06\x00\x00\x00system\x86R.")
    # STACK_GLOBAL with module and name built through the memo (BINGET), protocol 4 framing
    out["stack-global-memo"] = (b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00}\x8c\x01w\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93"
                                + b"\x8c" + bytes([len(touch)]) + touch.encode() + b"\x85Rs.")
    out["inst-opcode"] = b"(ios\nsystem\nX" + struct.pack("<I", len(touch)) + touch.encode() + b"."
    out["obj-opcode"] = b"\x80\x02(cos\nsystem\nX" + struct.pack("<I", len(touch)) + touch.encode() + b"o."
    out["newobj"] = b"\x80\x02csubprocess\nPopen\n]X\x05\x00\x00\x00touch\x85\x85\x81."
    out["build-setstate"] = b"\x80\x02ccollections\nOrderedDict\n)R}X\x0c\x00\x00\x00__setstate__cos\nsystem\nsb."
    # an allowed rebuild function with a hostile global nested inside its arguments
    out["nested-in-rebuild"] = (b"\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n(cos\nsystem\nX"
                                + struct.pack("<I", len(touch)) + touch.encode() + b"\x85RK\x00K\x01\x85K\x01\x85\x89)tRs.")
    out["persistent-id-callable"] = b"\x80\x02}X\x01\x00\x00\x00w(cos\nsystem\nX\x02\x00\x00\x00idtQs."
    out.update(_framework_pickles(marker, code))
    return out


def pickled_call(module: str, name: str, *args: object) -> bytes:
    """``{"w": module.name(*args)}`` as a protocol-2 pickle, written opcode by opcode: building it imports nothing."""
    arguments = pickle.dumps(args, protocol=2)[2:-1]  # the tuple's opcodes, without PROTO and STOP
    return b"\x80\x02}X\x01\x00\x00\x00w" + f"c{module}\n{name}\n".encode() + arguments + b"Rs."


def _framework_pickles(marker: Path, code: str) -> dict[str, bytes]:
    """Callables inside the frameworks' own namespaces that write files or run code: an allow-list that admits
    "anything from torch" (or numpy, TensorFlow, JAX) would run them."""
    return {
        "torch-save": pickled_call("torch", "save", {"w": 1}, str(marker)),
        "torch-serialization-save": pickled_call("torch.serialization", "save", {"w": 1}, str(marker)),
        "numpy-savetxt": pickled_call("numpy", "savetxt", str(marker), [1.0]),
        "numpy-testing-runstring": pickled_call("numpy.testing._private.utils", "runstring", code, {}),
        "tensorflow-write-string-to-file": pickled_call("tensorflow.python.lib.io.file_io", "write_string_to_file", str(marker), "x"),
        "jax-numpy-save": pickled_call("jax.numpy", "save", str(marker), [1.0]),  # writes MARKER.npy
    }


def payload_ran(root: Path) -> list[str]:
    """The marker files a payload created under the corpus ``root`` (``MARKER`` and ``MARKER.npy``...)."""
    return sorted(p.name for p in root.glob(MARKER + "*"))


def _h5_cases(root: Path, marker: Path) -> None:
    import h5py

    def layer(f, name=b"bert"):
        f.attrs["layer_names"] = np.asarray([name])
        g = f.create_group(name.decode())
        g.attrs["weight_names"] = np.asarray([b"tf_bert_model/bert/w:0"])
        return g

    lambda_config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Lambda", "config": {"name": "evil", "function": [f"open({str(marker)!r}, 'w').close()", None, None],
                                            "function_type": "lambda"}}]}}
    folder = root / "h5-lambda-full-model"
    folder.mkdir()
    with h5py.File(folder / "tf_model.h5", "w") as f:  # a whole Keras model file, not weights: Lambda code in model_config
        f.attrs["model_config"] = json.dumps(lambda_config).encode()
        f.create_group("model_weights").attrs["layer_names"] = np.asarray([b"evil"])
    secret = root / "secret.bin"
    secret.write_bytes(np.arange(3, dtype=np.float32).tobytes())
    for name, build in {
        "h5-external-link": lambda f: layer(f).__setitem__("tf_bert_model/bert/w:0", h5py.ExternalLink("/etc/passwd", "/x")),
        "h5-soft-link-up": lambda f: (f.create_dataset("elsewhere", data=np.ones(3, np.float32)),
                                      layer(f).__setitem__("tf_bert_model/bert/w:0", h5py.SoftLink("/elsewhere"))),
        "h5-external-storage": lambda f: layer(f).create_dataset("tf_bert_model/bert/w:0", shape=(3,), dtype=np.float32,
                                                                 external=[(str(secret), 0, 12)]),
        "h5-absolute-weight-name": lambda f: (layer(f).attrs.__setitem__("weight_names", np.asarray([b"/etc/passwd"]))),
        "h5-dotdot-weight-name": lambda f: (layer(f).attrs.__setitem__("weight_names", np.asarray([b"../../x:0"]))),
        "h5-shape-bomb": lambda f: layer(f).create_dataset("tf_bert_model/bert/w:0", shape=(2**20, 2**20), dtype=np.float32,
                                                           chunks=(1, 1024), compression="gzip"),
        "h5-object-dtype": lambda f: layer(f).create_dataset("tf_bert_model/bert/w:0", data=np.asarray([b"x"], dtype=object),
                                                             dtype=h5py.string_dtype()),
    }.items():
        folder = root / name
        folder.mkdir()
        with h5py.File(folder / "tf_model.h5", "w") as f:
            build(f)
    folder = root / "h5-virtual"
    folder.mkdir()
    with h5py.File(folder / "tf_model.h5", "w") as f:
        vl = h5py.VirtualLayout(shape=(3,), dtype=np.float32)
        vl[:] = h5py.VirtualSource("/etc/hostname", "x", shape=(3,))
        layer(f).create_virtual_dataset("tf_bert_model/bert/w:0", vl)


def build(root: Path) -> list[str]:
    """Write every case under ``root``; returns the case names."""
    from safetensors.numpy import save_file

    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER
    good = {"w": np.arange(4, dtype=np.float32)}

    def case(name: str) -> Path:
        folder = root / name
        folder.mkdir()
        return folder

    for name, pkl in _pickles(marker).items():
        _zip_bin(case(f"bin-{name}") / "pytorch_model.bin", pkl)
        if name.startswith("os-system-p") and name[-1] in "0245":
            (case(f"legacy-pickle-{name}") / "pytorch_model.bin").write_bytes(pkl)  # a bare pickle: the pre-1.6 format
    _zip_bin(case("bin-two-roots") / "pytorch_model.bin", pickle.dumps({}), root="archive")
    with zipfile.ZipFile(root / "bin-two-roots" / "pytorch_model.bin", "a") as zf:
        zf.writestr("other/data.pkl", pickle.dumps({"w": _Reduce(os.system, (f"touch {marker}",))}))

    # polyglots: a valid file with a payload appended, and content that lies about its name
    folder = case("polyglot-safetensors-plus-pickle")
    save_file(good, folder / "model.safetensors")
    with open(folder / "model.safetensors", "ab") as fh:
        fh.write(pickle.dumps(_Reduce(os.system, (f"touch {marker}",))))
    folder = case("polyglot-safetensors-plus-zip")
    save_file(good, folder / "model.safetensors")
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"w": _Reduce(os.system, (f"touch {marker}",))}))
    with open(folder / "model.safetensors", "ab") as fh:
        fh.write(zbuf.getvalue())
    folder = case("pickle-named-safetensors")
    (folder / "model.safetensors").write_bytes(pickle.dumps({"w": _Reduce(os.system, (f"touch {marker}",))}, protocol=2))
    folder = case("zip-pickle-named-msgpack")
    _zip_bin(folder / "flax_model.msgpack", pickle.dumps({"w": _Reduce(os.system, (f"touch {marker}",))}))

    _h5_cases(root, marker)

    # msgpack: object dtypes (numpy would unpickle them) and ext codes that are not arrays
    import msgpack

    for name, dtype in {"msgpack-object-dtype": "O", "msgpack-structured-dtype": "f4,", "msgpack-syntax-error-dtype": "(1,",
                        "msgpack-datetime-dtype": "M8[ns]"}.items():
        payload = msgpack.packb(([1], dtype, pickle.dumps(_Reduce(os.system, (f"touch {marker}",)))), use_bin_type=True)
        (case(name) / "flax_model.msgpack").write_bytes(msgpack.packb({"w": msgpack.ExtType(1, payload)}))
    (case("msgpack-unknown-ext") / "flax_model.msgpack").write_bytes(msgpack.packb({"w": msgpack.ExtType(42, b"\x00")}))

    # indexes that point outside the folder, and shards that are links out or special files
    shard = "model-00001-of-00001.safetensors"
    for name, target in {"index-dotdot": "../../secret.bin", "index-absolute": "/etc/passwd", "index-drive": "C:\\x.safetensors",
                         "index-unc": "\\\\server\\share\\x.safetensors", "index-subfolder": "sub/x.safetensors"}.items():
        folder = case(name)
        (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": {"w": target}}))
    for name, make in {
        "shard-symlink-out": lambda p: p.symlink_to("/etc/passwd"),
        "shard-symlink-secret": lambda p: p.symlink_to(root / "secret.bin"),
        "shard-fifo": lambda p: os.mkfifo(p),
        "shard-device": lambda p: p.symlink_to("/dev/zero"),
    }.items():
        folder = case(name)
        (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": {"w": shard}}))
        make(folder / shard)
    (case("single-symlink-out") / "model.safetensors").symlink_to(root / "outside-model.safetensors")
    save_file(good, root / "outside-model.safetensors")
    folder = case("index-bin-in-safetensors-index")
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": {"w": "pytorch_model.bin"}}))
    _zip_bin(folder / "pytorch_model.bin", pickle.dumps({"w": _Reduce(os.system, (f"touch {marker}",))}))

    # configs whose values would select code or drive allocation
    for name, config in {
        "config-hidden-act-eval": {"model_type": "bert", "hidden_act": "eval"},
        "config-dtype-lookup": {"model_type": "bert", "torch_dtype": "__import__"},
        "config-remote-code-type": {"model_type": "evil-remote", "auto_map": {"AutoConfig": "evil.Config"}, "trust_remote_code": True},
        "config-vocab-bomb": {"model_type": "bert", "vocab_size": 10**13},
        "config-nan": None,
    }.items():
        text = json.dumps(config) if config is not None else '{"model_type": "bert", "layer_norm_eps": NaN}'
        (case(name) / "config.json").write_text(text)
    return sorted(p.name for p in root.iterdir() if p.is_dir())
