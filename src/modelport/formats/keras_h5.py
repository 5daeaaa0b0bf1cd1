"""transformers' Keras-2 ``tf_model.h5`` files, read and written with h5py.

Two layouts exist:

* unsharded (Keras 2 ``save_weights``): root attribute ``layer_names`` lists
  top-level layers; each layer group's ``weight_names`` lists full variable
  names with the model scope (``tf_bert_model/bert/.../kernel:0``) and each
  dataset sits at ``<layer>/<full name>``;
* sharded: root ``layer_names`` lists names without the model scope, each
  dataset at its name.

Both are presented with the model scope stripped (``bert/embeddings/...:0``),
which is also how TF safetensors files name tensors, so a TF checkpoint has
the same names whatever its layout. :func:`model_scope` tells the scope an
unsharded file used. A weight listed by two layer groups (transformers writes
``TFBertForMaskedLM``'s shared embeddings twice) is one tensor.

h5 has no bfloat16 or float8 type: those are stored as same-sized unsigned
integers with a ``modelport_dtype`` attribute and read back exactly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..dtypes import DTYPES, canonical_dtype
from ..errors import DtypeError, FormatError, ModelportError
from ._streaming import prefetched
from .base import TensorInfo, TensorLike, file_identity, info_of, materialise, read_array, write_array

__all__ = [
    "H5Layout",
    "ISOLATION_ENV",
    "read_layout",
    "prefetch_layouts",
    "list_tensors",
    "read_tensor",
    "iter_tensors",
    "model_scope",
    "write",
]

_ATTR_LIMIT = 64512  # HDF5 object header limit used by Keras 2 before splitting an attribute
_BITS_DTYPES = {"bfloat16": np.uint16, "float8_e4m3fn": np.uint8, "float8_e5m2": np.uint8}
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


#: ``child`` (default): parse h5 files this process did not write in a child process; ``off``: in-process
ISOLATION_ENV = "MODELPORT_H5_ISOLATION"
_MAX_INFLATION = 1000  # declared bytes per stored byte of a chunked dataset, before it counts as a bomb
_MAX_INFLATION_FLOOR = 1 << 30


@dataclass(frozen=True)
class H5Layout:
    """Where each tensor of an h5 file lives: stripped name -> dataset path, dtype, shape and byte offset."""

    path: str
    datasets: dict[str, str]
    scope: str | None
    sharded: bool
    infos: dict[str, TensorInfo] = field(default_factory=dict)
    #: (offset, byte order) of datasets stored as plain bytes; None: only libhdf5 can read it
    placements: dict[str, tuple[int, str] | None] = field(default_factory=dict)
    #: parsed in a child process: this process reads it by offset only
    isolated: bool = False


#: layouts already checked, by path and file identity (a changed file is parsed again)
_LAYOUTS: dict[tuple[str, tuple[int, ...]], H5Layout] = {}
#: identities of files this process wrote: trusted without a child
_WRITTEN_HERE: set[tuple[int, ...]] = set()


@contextmanager
def _open(path: str, mode: str = "r"):
    import h5py

    if mode == "r":
        with open(path, "rb") as fh:
            magic = fh.read(8)
        if magic != _HDF5_MAGIC:
            raise FormatError("not an HDF5 file", where=path, expected="the HDF5 signature", received=magic)
    try:
        handle = h5py.File(path, mode)
    except OSError as exc:
        locked = "lock" in str(exc).lower()
        raise FormatError(
            "cannot open the HDF5 file" + (" (it is locked by another process)" if locked else ""),
            where=path,
            received=str(exc)[:200],
            fix="Set HDF5_USE_FILE_LOCKING=FALSE if the other process is only reading." if locked else None,
        ) from None
    try:
        yield handle
    except ModelportError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:  # libhdf5 errors on damaged files
        raise FormatError(f"the HDF5 file is damaged ({type(exc).__name__}: {str(exc)[:200]})", where=path) from None
    finally:
        handle.close()


def _load_attr_list(obj, name: str, where: str) -> list[str]:
    """Read a string-list attribute, joining Keras 2's split form (name0, name1, ...)."""
    if name in obj.attrs:
        values = list(obj.attrs[name])
    else:
        values, index = [], 0
        while f"{name}{index}" in obj.attrs:
            values.extend(obj.attrs[f"{name}{index}"])
            index += 1
        if index == 0:
            raise FormatError(f"the {name!r} attribute is missing", where=where, fix="This is not a Keras weights file.")
        later = sorted(k for k in obj.attrs if k.startswith(name) and k[len(name):].isdigit() and int(k[len(name):]) > index)
        if later:  # the parts after the gap would be silently dropped
            raise FormatError(f"the split {name!r} attribute has a gap", where=where,
                              expected=f"{name}0 to {name}{index + len(later)} in sequence",
                              received=f"{name}0 to {name}{index - 1}, then {', '.join(later)} ({name}{index} is missing)",
                              fix="The file is damaged; save or download it again.")
    out = []
    for value in values:
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise FormatError(f"a name in {name!r} is not UTF-8", where=where, received=value[:60]) from None
        if not isinstance(value, str):
            raise FormatError(f"{name!r} must hold strings", where=where, received=type(value).__name__)
        out.append(value)
    return out


def _save_attr_list(obj, name: str, values: list[str]) -> None:
    data = np.asarray([v.encode("utf-8") for v in values]) if values else np.asarray([], dtype="S1")
    if data.nbytes <= _ATTR_LIMIT:
        obj.attrs[name] = data
        return
    chunks = int(np.ceil(data.nbytes / _ATTR_LIMIT))
    for i, part in enumerate(np.array_split(data, chunks)):
        obj.attrs[f"{name}{i}"] = part


def _check_inside(f, dataset_path: str, where: str, groups: dict[str, Any] | None = None) -> None:
    """The path must name a dataset reached through hard links only (no external or soft links).

    ``groups`` (one dict per file) remembers the groups already checked: a shard's weights share most of their
    path, and each step costs several calls into libhdf5.
    """
    import h5py

    groups = {} if groups is None else groups
    parts = dataset_path.split("/")
    known = next((i for i in range(len(parts) - 1, 0, -1) if "/".join(parts[:i]) in groups), 0)
    node = groups["/".join(parts[:known])] if known else f
    for i in range(known, len(parts)):
        part = parts[i]
        link = node.get(part, getlink=True)
        if link is None:
            raise FormatError("a listed weight has no dataset", where=where, received=dataset_path)
        if not isinstance(link, h5py.HardLink):
            raise FormatError("weights must not be links to other objects or files", where=where, received=dataset_path)
        node = node[part]
        if i < len(parts) - 1:
            if not isinstance(node, h5py.Group):
                raise FormatError("a weight path runs through a dataset", where=where, received=dataset_path)
            groups["/".join(parts[: i + 1])] = node
    if not isinstance(node, h5py.Dataset):
        raise FormatError("a listed weight is not a dataset", where=where, received=dataset_path)


def _layout(f, path: str) -> H5Layout:
    import h5py

    names = _load_attr_list(f, "layer_names", path)
    datasets: dict[str, str] = {}
    scope: str | None = None
    sharded = bool(names) and all(isinstance(f.get(n), h5py.Dataset) for n in names)
    groups: dict[str, Any] = {}  # checked groups, for _check_inside
    if sharded:
        for name in names:
            _check_inside(f, name, path, groups)
            datasets.setdefault(name, name)
        return H5Layout(path, datasets, None, True)
    for layer in names:
        if "/" in layer or layer in ("", ".", ".."):
            raise FormatError("a layer name must be a plain group name", where=path, received=layer)
        group = f.get(layer, getlink=True)
        if group is None or not isinstance(group, h5py.HardLink) or not isinstance(f[layer], h5py.Group):
            raise FormatError("a listed layer has no group", where=path, received=layer)
        for full in _load_attr_list(f[layer], "weight_names", f"{path} (layer {layer!r})"):
            if full.startswith("/") or ".." in full.split("/"):
                raise FormatError("a weight name must stay inside its layer group", where=f"{path} (layer {layer!r})", received=full)
            dataset_path = f"{layer}/{full}"
            _check_inside(f, dataset_path, f"{path} (layer {layer!r})", groups)
            head, sep, stripped = full.partition("/")
            if not sep:
                stripped = full
            elif scope is None:
                scope = head
            datasets.setdefault(stripped, dataset_path)
    return H5Layout(path, datasets, scope, False)


def read_layout(path: str | os.PathLike[str], *, isolate: bool | None = None) -> H5Layout:
    """Map every tensor (scope-stripped name) to its dataset, dtype, shape and byte offset, checking structure and links.

    Args:
        isolate: parse the file with libhdf5 in a child process with memory and time
            limits (see :mod:`modelport.formats._h5_child`). ``None`` (the default)
            isolates every file except those this process wrote itself, unless
            ``MODELPORT_H5_ISOLATION=off``.
    """
    where = os.fspath(path)
    identity = file_identity(where)
    cached = _LAYOUTS.get((where, identity))
    if cached is not None:
        return cached
    if isolate is None:
        isolate = identity not in _WRITTEN_HERE and os.environ.get(ISOLATION_ENV, "child").lower() not in ("off", "0", "no")
    if isolate:
        from ._h5_child import analyse_in_child

        layout = analyse_in_child(where)
    else:
        with _open(where) as f:
            layout = _analyse(f, where)
    if len(_LAYOUTS) > 256:
        _LAYOUTS.clear()
    _LAYOUTS[(where, identity)] = layout
    return layout


def prefetch_layouts(paths: Sequence[str | os.PathLike[str]]) -> None:
    """Parse the layouts of several files that need the isolation child in one child (a sharded checkpoint).

    Only fills the cache: a file the child refuses, or a child that fails, is left
    for :func:`read_layout` to parse (and report) on its own.
    """
    if os.environ.get(ISOLATION_ENV, "child").lower() in ("off", "0", "no"):
        return
    todo = []
    for path in [os.fspath(p) for p in paths]:
        identity = file_identity(path)
        if identity not in _WRITTEN_HERE and (path, identity) not in _LAYOUTS:
            todo.append((path, identity))
    if len(todo) < 2:
        return
    from ._h5_child import analyse_many_in_child

    try:
        results = analyse_many_in_child([path for path, _ in todo])
    except FormatError:
        return
    for (path, identity), result in zip(todo, results):
        if isinstance(result, H5Layout) and file_identity(path) == identity:
            _LAYOUTS[(path, identity)] = result


def _dataset_dtype(ds, where: str) -> str:
    tagged = ds.attrs.get("modelport_dtype")
    if tagged is not None:
        tagged = tagged.decode() if isinstance(tagged, bytes) else str(tagged)
        if tagged not in _BITS_DTYPES or np.dtype(_BITS_DTYPES[tagged]).newbyteorder("=") != ds.dtype.newbyteorder("="):
            raise FormatError("a tagged dataset does not match its tag", where=where, received=f"{tagged} on {ds.dtype}")
        return tagged
    if ds.dtype.kind not in "fiub" or ds.dtype.fields is not None or ds.dtype.subdtype is not None:
        raise FormatError("unsupported dataset dtype", where=where, expected="a numeric or bool dataset", received=str(ds.dtype))
    try:
        return canonical_dtype(ds.dtype.newbyteorder("="))
    except DtypeError:
        raise FormatError("unsupported dataset dtype", where=where, received=str(ds.dtype)) from None


def _placement(ds, dtype: str, nbytes: int, file_size: int, where: str) -> tuple[int, str] | None:
    """``(offset, byte order)`` of a dataset stored as plain bytes, or None when only libhdf5 can read it."""
    if ds.is_virtual or ds.external:
        raise FormatError("virtual or external datasets are not allowed", where=where)
    if ds.chunks is None and not ds.compression:
        offset = ds.id.get_offset()
        if offset is None:  # never written: HDF5 allocates contiguous storage lazily
            if nbytes:
                raise FormatError("a dataset has no stored data", where=where, expected=f"{nbytes} bytes")
            return 0, "<"
        if offset + nbytes > file_size:
            raise FormatError(
                "a dataset reaches past the end of the file",
                where=where,
                expected=f"{nbytes} bytes at offset {offset}",
                received=f"a file of {file_size} bytes",
                fix="The file is truncated or declares more data than it holds.",
            )
        order = ds.dtype.byteorder
        return int(offset), (">" if order == ">" or (order == "=" and sys.byteorder == "big") else "<")
    # Chunked or compressed: the declared size must be backed by stored bytes (a few
    # hundred bytes can declare terabytes of zeros), the rule Keras applies too.
    stored = ds.id.get_storage_size()
    if nbytes > _MAX_INFLATION_FLOOR and nbytes > _MAX_INFLATION * max(stored, 1):
        raise FormatError(
            "a dataset declares far more data than the file stores",
            where=where,
            expected=f"at most {_MAX_INFLATION}x its {stored} stored bytes",
            received=f"{nbytes} bytes declared",
        )
    return None


def _analyse(f, path: str) -> H5Layout:
    """The layout plus every tensor's dtype, shape and placement (runs where libhdf5 may crash: see read_layout)."""
    layout = _layout(f, path)
    file_size = os.path.getsize(path)
    infos: dict[str, TensorInfo] = {}
    placements: dict[str, tuple[int, str] | None] = {}
    declared = 0
    for name, dataset_path in layout.datasets.items():
        ds = f[dataset_path]
        where = f"{path} (tensor {name!r})"
        dtype = _dataset_dtype(ds, where)
        shape = tuple(int(d) for d in ds.shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * DTYPES[dtype].itemsize if shape else DTYPES[dtype].itemsize
        if any(d >= 2**48 for d in shape) or nbytes < 0:
            raise FormatError("a dataset shape is impossible", where=where, received=list(shape))
        infos[name] = TensorInfo(name, dtype, shape, path, nbytes)
        placements[name] = _placement(ds, dtype, nbytes, file_size, where)
        if placements[name] is None:
            declared += nbytes
    if declared > _MAX_INFLATION * max(file_size, 1) and declared > _MAX_INFLATION_FLOOR:
        raise FormatError(
            "the file's chunked datasets declare far more data than it stores",
            where=path,
            received=f"{declared} bytes declared in a {file_size}-byte file",
        )
    return H5Layout(path, layout.datasets, layout.scope, layout.sharded, infos, placements)


def _read(f, layout: H5Layout, name: str) -> np.ndarray:
    ds = f[layout.datasets[name]]
    info = layout.infos[name]
    stored = np.dtype(_BITS_DTYPES[info.dtype]) if info.dtype in _BITS_DTYPES else DTYPES[info.dtype].numpy
    # read_direct fills our array without an intermediate copy (and converts byte order)
    out = np.empty(info.shape, dtype=stored)
    if out.size:
        ds.read_direct(out)
    return out.view(DTYPES[info.dtype].numpy) if info.dtype in _BITS_DTYPES else out


def list_tensors(path: str | os.PathLike[str], *, layout: H5Layout | None = None) -> dict[str, TensorInfo]:
    """Scope-stripped names, dtypes and shapes, without reading data (pass ``layout`` to skip re-checking it)."""
    return dict((layout or read_layout(path)).infos)


def model_scope(path: str | os.PathLike[str]) -> str | None:
    """The model scope (first name component) an unsharded file was saved under, if any."""
    return read_layout(path).scope


def read_tensor(path: str | os.PathLike[str], name: str, *, layout: H5Layout | None = None) -> np.ndarray:
    """One tensor, by its scope-stripped name (pass the file's ``layout`` to skip re-checking it).

    Datasets stored as plain bytes (everything transformers and modelport write)
    are read by offset, without libhdf5; others only from files parsed in this process.
    """
    where = os.fspath(path)
    layout = layout or read_layout(where)
    if name not in layout.infos:
        raise FormatError(f"no tensor named {name!r}", where=where)
    info, placement = layout.infos[name], layout.placements[name]
    tensor_where = f"{where} (tensor {name!r})"
    if placement is not None:
        offset, order = placement
        out = read_array(where, offset, info.dtype, info.shape, where=tensor_where)
        if order == ">" and DTYPES[info.dtype].itemsize > 1:
            bits = out.view(f"u{DTYPES[info.dtype].itemsize}")
            bits.byteswap(inplace=True)
        return out
    if layout.isolated:  # chunked or compressed: libhdf5 decodes it, in a child again
        from ._h5_child import read_in_child

        data = read_in_child(where, layout.datasets[name], info.nbytes, tensor_where)
        return np.frombuffer(bytearray(data), dtype=DTYPES[info.dtype].numpy).reshape(info.shape)
    with _open(where) as f:
        return _read(f, layout, name)


def read_dataset_here(path: str, dataset_path: str) -> np.ndarray:
    """Decode one dataset with libhdf5 in this process, little-endian (the child's half of read_tensor)."""
    layout = read_layout(path, isolate=False)
    names = {v: k for k, v in layout.datasets.items()}
    if dataset_path not in names:
        raise FormatError("no such weight dataset", where=path, received=dataset_path)
    with _open(path) as f:
        out = _read(f, layout, names[dataset_path])
    return out if out.dtype.byteorder != ">" else out.astype(out.dtype.newbyteorder("<"))


def iter_tensors(path: str | os.PathLike[str]) -> Iterator[tuple[str, np.ndarray]]:
    """Every tensor, one in memory at a time."""
    layout = read_layout(path)
    for name in layout.datasets:
        yield name, read_tensor(path, name, layout=layout)


def write(
    path: str | os.PathLike[str],
    tensors: Sequence[tuple[str, TensorLike]],
    *,
    scope: str | None = "tf_model",
    sharded: bool = False,
) -> None:
    """Write tensors named without the model scope (``bert/embeddings/...:0``).

    ``sharded=False`` writes transformers' unsharded layout under ``scope``;
    ``sharded=True`` writes the layout of a shard of a sharded checkpoint.
    """
    where = os.fspath(path)
    names = [name for name, _ in tensors]
    if len(set(names)) != len(names):
        raise FormatError("a tensor name is given twice", where=where)
    for name in names:
        parts = name.split("/")
        if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise FormatError("a TF weight name must be a relative path without empty or dot parts", where=where, received=name)
    import h5py

    # libhdf5 writes the structure (attributes, groups, datasets with their space allocated); the data
    # then goes in by offset like any other format's: libhdf5 holds the GIL while it copies (so the
    # next tensor could not load meanwhile) and its writes ran about 1.3-2x slower (docs/benchmarks.md)
    placements: list[tuple[str, TensorLike, int | None, int]] = []  # tensors whose bytes go in by offset
    with _open(where, "w") as f:
        if sharded:
            _save_attr_list(f, "layer_names", names)
        else:
            if not scope or "/" in scope:
                raise FormatError("the model scope must be a plain name", where=where, received=scope)
            layers: dict[str, list[str]] = {}
            for name in names:
                layers.setdefault(name.split("/", 1)[0] if "/" in name else name, []).append(f"{scope}/{name}")
            f.attrs["backend"] = b"tensorflow"
            f.attrs["keras_version"] = b"2.21.0"
            _save_attr_list(f, "layer_names", list(layers))
            for layer, full_names in layers.items():
                _save_attr_list(f.require_group(layer), "weight_names", full_names)
            _save_attr_list(f.create_group("top_level_model_weights"), "weight_names", [])
        for name, tensor in tensors:
            dtype, shape = info_of(tensor)
            stored = np.dtype(_BITS_DTYPES.get(dtype, DTYPES[dtype].numpy)).newbyteorder("<")
            target = name if sharded else f"{name.split('/', 1)[0] if '/' in name else name}/{scope}/{name}"
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)  # contiguous space now, so it has an offset
            dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)  # not zeros first: the data comes next
            ds = f.create_dataset(target, shape=shape, dtype=stored, dcpl=dcpl)
            if dtype in _BITS_DTYPES:
                ds.attrs["modelport_dtype"] = dtype
            if not shape:  # libhdf5 allocates no space for a scalar before it is written: it goes in here
                ds[()] = materialise(tensor, where=f"{where} (tensor {name!r})").view(stored)
            elif 0 not in shape:
                placements.append((name, tensor, ds.id.get_offset(), ds.id.get_storage_size()))
    with open(where, "r+b") as fh, closing(prefetched([(n, t) for n, t, _, _ in placements], where=where)) as arrays:
        for (name, array), (_, _, offset, size) in zip(arrays, placements):
            if array.nbytes != size or offset is None:
                raise FormatError(
                    "libhdf5 did not allocate the dataset's space as asked",
                    where=f"{where} (tensor {name!r})",
                    expected=f"{array.nbytes} contiguous bytes",
                    received=f"{size} bytes at offset {offset}",
                )
            fh.seek(offset)
            write_array(fh, array)
    _WRITTEN_HERE.add(file_identity(where))
