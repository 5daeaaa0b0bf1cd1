"""A seeded mutation fuzzer for every parser that reads files from strangers.

    python tests/fuzz.py [--parsers safetensors bin msgpack h5 index config] [--seconds 20] [--seed 0]

For each parser, a child process mutates valid seed files (bit flips, interesting
integers, truncation, deleted and repeated chunks, and for JSON: huge numbers,
NaN, duplicate keys, deep nesting) and feeds each input to the public entry
point the way a user would reach it (``Checkpoint.open`` and reading every
tensor; ``read_index``; ``AutoConfig.from_pretrained``). An input may load or be
refused with a :class:`modelport.errors.ModelportError`; anything else is an
*escape*:

* any other exception;
* an input that takes over 2 s;
* peak memory growing by over 256 MB (inputs are all under 1 MB);
* the child dying from a signal (the input it was on is kept).

h5 inputs go through the real isolation (libhdf5 in its own limited child), so
a crash there must come back as a FormatError. Every escaping input is saved in
``tests/fuzz_regressions/<parser>/`` and replayed by ``tests/test_fuzz.py`` on
every run. Exit status 1 if anything escaped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden" / "data"
REGRESSIONS = HERE / "fuzz_regressions"
PARSERS = ("safetensors", "bin", "msgpack", "h5", "index", "config")
FILE_NAMES = {
    "safetensors": "model.safetensors", "bin": "pytorch_model.bin", "msgpack": "flax_model.msgpack",
    "h5": "tf_model.h5", "index": "model.safetensors.index.json", "config": "config.json",
}
TIME_LIMIT_S = 2.0
MEMORY_GROWTH_MB = 256


# -- seeds --------------------------------------------------------------------------------------
def seeds(parser: str) -> list[bytes]:
    """Valid files to mutate, small enough to make many inputs per second."""
    if parser == "safetensors":
        import numpy as np
        from safetensors.numpy import save_file

        out = [(GOLDEN / "bert" / "pt-safetensors-sharded" / "model-00003-of-00003.safetensors").read_bytes()]
        with tempfile.TemporaryDirectory() as tmp:
            import ml_dtypes

            tensors = {
                "f": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([True, False]),
                "h": np.arange(4, dtype=ml_dtypes.bfloat16), "i": np.arange(3, dtype=np.int64), "e": np.zeros((0, 3), np.float16),
            }
            save_file(tensors, f"{tmp}/a.safetensors", metadata={"format": "pt"})
            out.append(Path(f"{tmp}/a.safetensors").read_bytes())
        return out
    if parser == "bin":
        return [(GOLDEN / "gpt2" / "pt-bin-sharded" / "pytorch_model-00003-of-00003.bin").read_bytes()
                if (GOLDEN / "gpt2" / "pt-bin-sharded" / "pytorch_model-00003-of-00003.bin").exists()
                else (GOLDEN / "bert" / "pt-bin" / "pytorch_model.bin").read_bytes()]
    if parser == "msgpack":
        return [(GOLDEN / "bert" / "flax-msgpack" / "flax_model.msgpack").read_bytes()]
    if parser == "h5":
        return [(GOLDEN / "bert" / "tf-h5" / "tf_model.h5").read_bytes()]
    if parser == "index":
        return [(GOLDEN / "bert" / "pt-safetensors-sharded" / "model.safetensors.index.json").read_bytes()]
    return [(GOLDEN / "bert" / "pt-safetensors" / "config.json").read_bytes(),
            (GOLDEN / "gpt2" / "pt-safetensors" / "config.json").read_bytes()]


# -- mutations ----------------------------------------------------------------------------------
_INTS = [0, 1, 2**7 - 1, 2**8 - 1, 2**15, 2**16 - 1, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**64 - 1]
_JSON_SNIPPETS = [b"NaN", b"Infinity", b"-1", b"1e999999", b"9" * 400, b"18446744073709551616", b'"\\ud800"', b"null",
                  b"[" * 200, b"{}", b"[]", b'"../../x"', b'"C:\\\\x"', b"true", b"1.5"]


def mutate(data: bytes, rng: random.Random, text: bool) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 6))):
        if not buf:
            buf.extend(rng.randbytes(rng.randint(1, 16)))
            continue
        op = rng.randrange(8 if text else 7)
        at = rng.randrange(len(buf))
        if op == 0:  # flip bits
            buf[at] ^= 1 << rng.randrange(8)
        elif op == 1:  # an interesting byte
            buf[at] = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x01, ord("{"), ord('"')))
        elif op == 2:  # an interesting integer, little or big endian
            size = rng.choice((2, 4, 8))
            value = rng.choice(_INTS) % (1 << (8 * size))
            buf[at:at + size] = value.to_bytes(size, rng.choice(("little", "big")))
        elif op == 3:  # truncate
            del buf[at:]
        elif op == 4:  # delete a chunk
            del buf[at:at + rng.randint(1, 64)]
        elif op == 5:  # repeat a chunk
            chunk = buf[at:at + rng.randint(1, 64)]
            buf[at:at] = chunk * rng.randint(1, 4)
        elif op == 6:  # splice random bytes
            buf[at:at + rng.randint(1, 8)] = rng.randbytes(rng.randint(1, 8))
        else:  # JSON: replace a number, string or literal with a hostile one
            end = at
            while end < len(buf) and buf[end] not in b",:}] \n":
                end += 1
            buf[at:end] = rng.choice(_JSON_SNIPPETS)
    return bytes(buf[: 1 << 20])


# -- running one input ----------------------------------------------------------------------------
def run_input(parser: str, data: bytes, folder: Path) -> str:
    """Feed one input to the parser's public entry point; 'loaded' or 'refused' (raises on an escape)."""
    from modelport.errors import ModelportError

    for path in folder.iterdir():
        path.unlink()
    (folder / FILE_NAMES[parser]).write_bytes(data)
    if parser == "index":  # the seed's shards exist, so a valid index can load
        for i in range(1, 4):
            (folder / f"model-0000{i}-of-00003.safetensors").touch()
    try:
        if parser in ("safetensors", "bin", "msgpack", "h5"):
            from modelport.checkpoint import Checkpoint

            ckpt = Checkpoint.open(folder)
            for name in ckpt:
                ckpt[name]
        elif parser == "index":
            from modelport.index import read_index

            index = read_index(folder / FILE_NAMES[parser])
            index.check_shards_exist(folder)
        else:
            from modelport.auto import AutoConfig

            config = AutoConfig.from_pretrained(folder)
            config.to_json_string()
    except ModelportError:
        return "refused"
    return "loaded"


def child(parser: str, seconds: float, seed: int, work: Path) -> dict:
    """The fuzz loop (runs in its own process)."""
    # Warm up imports and caches before measuring memory, then cap the address space so a
    # runaway allocation is a MemoryError (an escape), not a machine out of memory.
    folder = work / "input"
    folder.mkdir(parents=True, exist_ok=True)
    corpus = seeds(parser)
    for data in corpus:
        run_input(parser, data, folder)
    if parser == "h5":
        from modelport.formats import _h5_child

        _h5_child.TIME_LIMIT_S = 5  # the isolation child's own limit; the fuzz limit below is what counts
    vm_kb = int(Path("/proc/self/status").read_text().split("VmSize:")[1].split()[0])
    limit = (vm_kb << 10) + (1 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    rng = random.Random(seed)
    counts = {"inputs": 0, "loaded": 0, "refused": 0}
    escapes: list[dict] = []
    current = work / "current.bin"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = mutate(rng.choice(corpus), rng, text=parser in ("index", "config"))
        current.write_bytes(data)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        try:
            outcome = run_input(parser, data, folder)
        except Exception as exc:  # noqa: BLE001 - anything not ours is the finding
            outcome = "escape"
            escapes.append({"kind": type(exc).__name__, "message": str(exc)[:300], "input": _keep(parser, data),
                            "trace": traceback.format_exc()[-800:]})
        elapsed = time.perf_counter() - start
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        if outcome != "escape" and elapsed > TIME_LIMIT_S:
            escapes.append({"kind": "slow", "message": f"{elapsed:.1f} s", "input": _keep(parser, data)})
        elif outcome != "escape" and grown_mb > MEMORY_GROWTH_MB:
            escapes.append({"kind": "memory", "message": f"+{grown_mb:.0f} MB", "input": _keep(parser, data)})
        counts["inputs"] += 1
        if outcome != "escape":
            counts[outcome] += 1
    current.unlink(missing_ok=True)
    return {"parser": parser, **counts, "escapes": escapes}


def _keep(parser: str, data: bytes) -> str:
    """Save an escaping input as a regression file; returns its path."""
    target = REGRESSIONS / parser / f"{hashlib.sha256(data).hexdigest()[:16]}.bin"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return str(target.relative_to(HERE.parent))


def run(parser: str, seconds: float, seed: int) -> dict:
    """Run one parser's fuzz loop in a child; a child killed by a signal is an escape too."""
    work = Path(tempfile.mkdtemp(prefix=f"modelport-fuzz-{parser}-"))
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", parser, "--seconds", str(seconds), "--seed", str(seed), "--work", str(work)],
            capture_output=True, text=True, timeout=seconds + 300,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        if done.returncode == 0:
            return json.loads(done.stdout.strip().splitlines()[-1])
        current = work / "current.bin"
        saved = _keep(parser, current.read_bytes()) if current.exists() else None
        kind = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
        return {"parser": parser, "inputs": 0, "loaded": 0, "refused": 0,
                "escapes": [{"kind": kind, "message": done.stderr[-800:], "input": saved}]}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parsers", nargs="+", default=list(PARSERS), choices=PARSERS)
    parser.add_argument("--seconds", type=float, default=20.0, help="budget per parser")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=PARSERS)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.seconds, args.seed, args.work)))
        return 0
    status = 0
    for name in args.parsers:
        result = run(name, args.seconds, args.seed)
        print(f"{name}: {result['inputs']} inputs in {args.seconds:.0f} s ({result['loaded']} loaded, "
              f"{result['refused']} refused), {len(result['escapes'])} escapes", flush=True)
        for escape in result["escapes"]:
            print(f"  {escape['kind']}: {escape['message'][:200]} -> {escape['input']}")
        status |= bool(result["escapes"])
    return status


if __name__ == "__main__":
    sys.exit(main())
