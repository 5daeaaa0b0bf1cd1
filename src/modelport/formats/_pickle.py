"""A small pickle interpreter that can only build state dicts.

``torch.save`` writes a pickle. Python's unpickler, even with ``find_class``
overridden, runs in C and trusts lengths and memo indexes (a 9-byte input asks
it for gigabytes), and any global it resolves can be called. This interpreter
is written in Python with an opcode allow-list, a dict memo, bounds on every
length, and no real globals at all: ``GLOBAL`` resolves names to inert markers
from a fixed table, and only those markers can be "called", producing plain
descriptions (:class:`StorageRef`, :class:`TensorRef`), never objects of the
file's choosing. Nothing from the file is imported or executed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from ..errors import FormatError

__all__ = ["StorageRef", "TensorRef", "load_state_dict_pickle", "MAX_PICKLE_BYTES"]

#: largest data.pkl read (real state dicts: a few hundred kB for thousands of tensors)
MAX_PICKLE_BYTES = 64 * 1024 * 1024
_MAX_STACK = 1_000_000

# torch's legacy typed storages and the dtypes they hold
_STORAGE_TYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16", "BFloat16Storage": "bfloat16",
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8",
    "ByteStorage": "uint8", "BoolStorage": "bool",
}
_TORCH_DTYPES = {
    "float64": "float64", "double": "float64", "float32": "float32", "float": "float32", "float16": "float16",
    "half": "float16", "bfloat16": "bfloat16", "float8_e4m3fn": "float8_e4m3fn", "float8_e5m2": "float8_e5m2",
    "int64": "int64", "long": "int64", "int32": "int32", "int": "int32", "int16": "int16", "short": "int16",
    "int8": "int8", "uint8": "uint8", "bool": "bool",
}


@dataclass(frozen=True)
class _Global:
    """An allow-listed global, as an inert marker."""

    module: str
    name: str
    kind: str  # "rebuild_v2", "rebuild_v3", "parameter", "ordered_dict", "storage", "untyped_storage", "dtype"
    dtype: str | None = None


@dataclass(frozen=True)
class StorageRef:
    """A storage as the pickle's persistent id describes it."""

    key: str
    dtype: str | None  # None for UntypedStorage (bytes; the tensor gives the dtype)
    location: str
    numel: int


@dataclass(frozen=True)
class TensorRef:
    """A tensor view of a storage: what ``_rebuild_tensor_v2/v3`` would build."""

    storage: StorageRef
    dtype: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _StateDict(dict):
    """A dict built by an allowed ``OrderedDict()`` call; BUILD may attach ``_metadata``."""


def _allowed_global(module: str, name: str) -> _Global | None:
    if module == "collections" and name == "OrderedDict":
        return _Global(module, name, "ordered_dict")
    if module == "torch._utils" and name == "_rebuild_tensor_v2":
        return _Global(module, name, "rebuild_v2")
    if module == "torch._utils" and name == "_rebuild_tensor_v3":
        return _Global(module, name, "rebuild_v3")
    if module == "torch._utils" and name == "_rebuild_parameter":
        return _Global(module, name, "parameter")
    if module == "torch" and name in _STORAGE_TYPES:
        return _Global(module, name, "storage", _STORAGE_TYPES[name])
    if module == "torch.storage" and name == "UntypedStorage":
        return _Global(module, name, "untyped_storage")
    if module == "torch" and name in _TORCH_DTYPES:
        return _Global(module, name, "dtype", _TORCH_DTYPES[name])
    return None


def _nonneg_ints(value: Any) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)


class _Machine:
    def __init__(self, data: bytes, where: str) -> None:
        self.data = data
        self.where = where
        self.pos = 0
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}

    # -- helpers ----------------------------------------------------------------
    def fail(self, problem: str, **kwargs: Any) -> FormatError:
        return FormatError(f"refused pickle at byte {self.pos}: {problem}", where=self.where, **kwargs)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(
                "a length runs past the end of the data", expected=f"{n} more bytes", received=f"{len(self.data) - self.pos} left"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def push(self, value: Any) -> None:
        if len(self.stack) >= _MAX_STACK:
            raise self.fail("the stack grew past its limit")
        self.stack.append(value)

    def pop(self) -> Any:
        floor = self.marks[-1] if self.marks else 0
        if len(self.stack) <= floor:
            raise self.fail("stack underflow")
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise self.fail("no MARK to pop to")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def text(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("a string is not valid UTF-8") from None

    # -- calls to allow-listed globals --------------------------------------------
    def call(self, func: Any, args: Any) -> Any:
        if not isinstance(func, _Global) or func.kind in ("storage", "untyped_storage", "dtype"):
            raise self.fail("only allow-listed rebuild functions can be called", received=repr(func)[:80])
        if not isinstance(args, tuple):
            raise self.fail("call arguments must be a tuple")
        if func.kind == "ordered_dict":
            if args:
                raise self.fail("OrderedDict() must be called without arguments")
            return _StateDict()
        if func.kind == "parameter":
            if len(args) < 1 or not isinstance(args[0], TensorRef):
                raise self.fail("_rebuild_parameter needs a tensor")
            return args[0]
        if func.kind == "rebuild_v2":
            if len(args) not in (6, 7):
                raise self.fail("_rebuild_tensor_v2 takes 6 or 7 arguments", received=len(args))
            storage, offset, size, stride = args[:4]
            if not isinstance(storage, StorageRef) or storage.dtype is None:
                raise self.fail("_rebuild_tensor_v2 needs a typed storage")
            dtype = storage.dtype
        else:  # rebuild_v3
            if len(args) not in (7, 8):
                raise self.fail("_rebuild_tensor_v3 takes 7 or 8 arguments", received=len(args))
            storage, offset, size, stride = args[:4]
            marker = args[6]
            if not isinstance(storage, StorageRef) or not isinstance(marker, _Global) or marker.kind != "dtype":
                raise self.fail("_rebuild_tensor_v3 needs a storage and a torch dtype")
            dtype = str(marker.dtype)
        if not (isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0):
            raise self.fail("a storage offset must be a non-negative integer", received=offset)
        if not (_nonneg_ints(size) and _nonneg_ints(stride) and len(size) == len(stride)):
            raise self.fail("size and stride must be equal-length tuples of non-negative integers", received=(size, stride))
        extent = 1
        for d in size:
            extent *= max(d, 1)
        if extent >= 2**60:
            raise self.fail("the tensor's size is too large for any array", received=size)
        return TensorRef(storage, dtype, offset, size, stride)

    def persistent(self, pid: Any) -> StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise self.fail("a persistent id must be ('storage', type, key, location, numel)", received=repr(pid)[:80])
        _, kind, key, location, numel = pid
        if not isinstance(kind, _Global) or kind.kind not in ("storage", "untyped_storage"):
            raise self.fail("unknown storage type", received=repr(kind)[:80])
        if not (isinstance(key, str) and key and isinstance(location, str)):
            raise self.fail("storage key and location must be strings")
        if not (isinstance(numel, int) and not isinstance(numel, bool) and numel >= 0):
            raise self.fail("storage size must be a non-negative integer", received=numel)
        return StorageRef(key, kind.dtype, location, numel)

    # -- the loop -------------------------------------------------------------------
    def run(self) -> Any:
        while True:
            if self.pos >= len(self.data):
                raise self.fail("the pickle ends without STOP")
            op = self.data[self.pos : self.pos + 1]
            self.pos += 1
            if op == b"\x80":  # PROTO
                proto = self.unpack("<B")
                if proto > 5:
                    raise self.fail("unsupported pickle protocol", received=proto)
            elif op == b"\x95":  # FRAME: a length hint only
                self.unpack("<Q")
            elif op == b".":  # STOP
                if len(self.stack) != 1 or self.marks:
                    raise self.fail("STOP with a malformed stack")
                return self.stack[0]
            elif op == b"(":  # MARK
                self.marks.append(len(self.stack))
                if len(self.marks) > _MAX_STACK:
                    raise self.fail("too many MARKs")
            elif op == b"}":
                self.push({})
            elif op == b"]":
                self.push([])
            elif op == b")":
                self.push(())
            elif op == b"t":
                self.push(tuple(self.pop_mark()))
            elif op in (b"\x85", b"\x86", b"\x87"):  # TUPLE1..3
                n = op[0] - 0x84
                items = [self.pop() for _ in range(n)][::-1]
                self.push(tuple(items))
            elif op == b"l":  # LIST
                self.push(self.pop_mark())
            elif op == b"d":  # DICT
                items = self.pop_mark()
                if len(items) % 2:
                    raise self.fail("DICT with an odd number of items")
                self.push(self.make_dict(items))
            elif op == b"a":  # APPEND
                value = self.pop()
                self.target(list).append(value)
            elif op == b"e":  # APPENDS
                items = self.pop_mark()
                self.target(list).extend(items)
            elif op == b"s":  # SETITEM
                value, key = self.pop(), self.pop()
                self.set_items(self.target(dict), [key, value])
            elif op == b"u":  # SETITEMS
                items = self.pop_mark()
                if len(items) % 2:
                    raise self.fail("SETITEMS with an odd number of items")
                self.set_items(self.target(dict), items)
            elif op == b"q":  # BINPUT
                self.memo[self.unpack("<B")] = self.top()
            elif op == b"r":  # LONG_BINPUT
                self.memo[self.unpack("<I")] = self.top()
            elif op == b"\x94":  # MEMOIZE
                self.memo[len(self.memo)] = self.top()
            elif op == b"h":  # BINGET
                self.push(self.memo_get(self.unpack("<B")))
            elif op == b"j":  # LONG_BINGET
                self.push(self.memo_get(self.unpack("<I")))
            elif op == b"c":  # GLOBAL "module\nname\n"
                module = self.text(self.line())
                name = self.text(self.line())
                self.push(self.global_(module, name))
            elif op == b"\x93":  # STACK_GLOBAL
                name, module = self.pop(), self.pop()
                if not (isinstance(module, str) and isinstance(name, str)):
                    raise self.fail("STACK_GLOBAL needs two strings")
                self.push(self.global_(module, name))
            elif op == b"R":  # REDUCE
                args, func = self.pop(), self.pop()
                self.push(self.call(func, args))
            elif op == b"b":  # BUILD
                state = self.pop()
                obj = self.top()
                if not isinstance(obj, _StateDict) or not isinstance(state, dict):
                    raise self.fail("BUILD is only allowed on a state dict with a dict state")
                # the only state a state dict carries is its `_metadata` attribute; nothing to keep
            elif op == b"Q":  # BINPERSID
                self.push(self.persistent(self.pop()))
            elif op == b"J":
                self.push(self.unpack("<i"))
            elif op == b"K":
                self.push(self.unpack("<B"))
            elif op == b"M":
                self.push(self.unpack("<H"))
            elif op == b"\x8a":  # LONG1
                n = self.unpack("<B")
                self.push(int.from_bytes(self.take(n), "little", signed=True))
            elif op == b"N":
                self.push(None)
            elif op == b"\x88":
                self.push(True)
            elif op == b"\x89":
                self.push(False)
            elif op == b"G":  # BINFLOAT
                self.push(self.unpack(">d"))
            elif op == b"X":  # BINUNICODE
                self.push(self.text(self.take(self.unpack("<I"))))
            elif op == b"\x8c":  # SHORT_BINUNICODE
                self.push(self.text(self.take(self.unpack("<B"))))
            elif op == b"\x8d":  # BINUNICODE8
                self.push(self.text(self.take(self.unpack("<Q"))))
            elif op == b"C":  # SHORT_BINBYTES
                self.push(self.take(self.unpack("<B")))
            elif op == b"B":  # BINBYTES
                self.push(self.take(self.unpack("<I")))
            elif op == b"0":  # POP
                self.pop()
            else:
                self.pos -= 1
                raise self.fail(f"opcode {op!r} is not allowed in a state dict")

    def line(self) -> bytes:
        end = self.data.find(b"\n", self.pos, self.pos + 256)
        if end < 0:
            raise self.fail("a GLOBAL name is not terminated within 256 bytes")
        raw = self.data[self.pos : end]
        self.pos = end + 1
        return raw

    def global_(self, module: str, name: str) -> _Global:
        found = _allowed_global(module, name)
        if found is None:
            raise self.fail(
                f"the global {module}.{name} is not allowed",
                expected="only tensor-rebuilding globals (torch._utils._rebuild_tensor_v2, storage types, OrderedDict)",
                fix="This file may try to run code; do not load it with torch.load either.",
            )
        return found

    def top(self) -> Any:
        if not self.stack:
            raise self.fail("memo write with an empty stack")
        return self.stack[-1]

    def memo_get(self, index: int) -> Any:
        if index not in self.memo:
            raise self.fail("a memo reference points at nothing", received=index)
        return self.memo[index]

    def target(self, kind: type) -> Any:
        obj = self.top() if not self.marks or len(self.stack) > self.marks[-1] else None
        if not isinstance(obj, kind):
            raise self.fail(f"items can only be added to a {kind.__name__}", received=type(obj).__name__)
        return obj

    def make_dict(self, items: list[Any]) -> dict:
        out: dict = {}
        self.set_items(out, items)
        return out

    def set_items(self, target: dict, items: list[Any]) -> None:
        for key, value in zip(items[::2], items[1::2]):
            if not isinstance(key, (str, int)):
                raise self.fail("dict keys must be strings or integers", received=type(key).__name__)
            target[key] = value


def load_state_dict_pickle(data: bytes, *, where: str) -> Any:
    """Interpret a state-dict pickle; return its top object with tensors as :class:`TensorRef`.

    Raises:
        FormatError: for any opcode, global, call or structure outside the allow-list.
    """
    if len(data) > MAX_PICKLE_BYTES:
        raise FormatError(
            "the pickle is too large for a state dict", where=where, expected=f"at most {MAX_PICKLE_BYTES} bytes", received=len(data)
        )
    return _Machine(data, where).run()
