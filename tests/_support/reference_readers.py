"""Independent readers of each format, used as the reference in tests.

They use the formats' own libraries (safetensors, h5py, msgpack) or, for the
trusted golden ``.bin`` files only, Python's C unpickler, so that a bug shared
with modelport's readers is unlikely. Never use them on untrusted files.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import h5py
import msgpack
import numpy as np
import safetensors

from modelport.dtypes import DTYPES, from_safetensors_code


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    out = {}
    for name, entry in safetensors.deserialize(path.read_bytes()):
        dtype = from_safetensors_code(entry["dtype"]).numpy
        out[name] = np.frombuffer(bytes(entry["data"]), dtype=dtype).reshape(entry["shape"])
    return out


_TORCH_STORAGES = {"FloatStorage": "float32", "HalfStorage": "float16", "BFloat16Storage": "bfloat16", "LongStorage": "int64",
                   "IntStorage": "int32", "BoolStorage": "bool", "DoubleStorage": "float64", "ByteStorage": "uint8"}


def read_torch_bin(path: Path) -> dict[str, np.ndarray]:
    """Trusted files only: rebuilds tensors with numpy through the C unpickler."""
    zf = zipfile.ZipFile(path)
    root = zf.namelist()[0].split("/")[0]

    class Storage:
        def __init__(self, dtype, key):
            self.array = np.frombuffer(zf.read(f"{root}/data/{key}"), dtype=DTYPES[dtype].numpy)

    def rebuild(storage, offset, size, stride, *rest):
        item = storage.array.itemsize
        return np.lib.stride_tricks.as_strided(storage.array[offset:], shape=size, strides=[s * item for s in stride]).copy()

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return rebuild
            if (module, name) == ("collections", "OrderedDict"):
                return dict
            if module == "torch" and name in _TORCH_STORAGES:
                return _TORCH_STORAGES[name]
            raise pickle.UnpicklingError(f"{module}.{name}")

        def persistent_load(self, pid):
            return Storage(pid[1], pid[2])

    return Unpickler(io.BytesIO(zf.read(f"{root}/data.pkl"))).load()


def read_h5(path: Path) -> dict[str, np.ndarray]:
    """Datasets by their path inside the file (unsharded files: ``<layer>/<scope>/<name>``)."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def read_msgpack(path: Path) -> dict[str, np.ndarray]:
    def ext(code, data):
        shape, dtype, buf = msgpack.unpackb(data, raw=True)
        return np.frombuffer(buf, dtype=DTYPES[dtype.decode()].numpy).reshape(shape)

    tree = msgpack.unpackb(path.read_bytes(), ext_hook=ext, raw=False)
    out: dict[str, np.ndarray] = {}

    def walk(node, prefix):
        for key, value in node.items():
            name = f"{prefix}/{key}" if prefix else key
            walk(value, name) if isinstance(value, dict) else out.__setitem__(name, value)

    walk(tree, "")
    return out


def read_any(path: Path) -> dict[str, np.ndarray]:
    return {".safetensors": read_safetensors, ".bin": read_torch_bin, ".h5": read_h5, ".msgpack": read_msgpack}[path.suffix](path)
