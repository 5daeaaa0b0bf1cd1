"""Read and write speed and peak memory of every format, as ratios to baselines.

    python benchmarks/formats.py [--size-mb 1024] [--shard-mb 256] [--dir /tmp/x] [--repeat 3]

Builds a float32 checkpoint of ``--size-mb`` (16 MB tensors) in each format,
single-file and sharded, then measures, each in a fresh child process:

* read: every tensor into a numpy array, one at a time (``Checkpoint``), as a
  ratio to reading the same files' bytes with plain ``readinto`` calls into one
  reused 16 MiB buffer (the fastest plain read measured here: 64 MiB chunks
  were 4x slower), and for safetensors to ``safetensors.numpy.load_file``;
* write: ``save_checkpoint`` from a lazy source (a safetensors checkpoint read
  one tensor at a time), as a ratio to ``shutil.copyfile`` of the same number
  of bytes followed by ``fsync`` (modelport's saves are durable: each file and
  the folder are fsynced), and for ``.bin`` also to ``torch.save`` of the
  same tensors plus ``fsync``;
* write to the page cache only (``durable=False``), as a ratio to
  ``shutil.copyfile`` (which copies in the kernel with ``sendfile``) and to a
  plain Python copy (``readinto`` a 16 MiB buffer, ``write`` it);
* peak RSS above the child's footprint after imports, as a ratio to the
  largest shard.

Every child starts after ``os.sync()``, so no measurement pays for the
previous one's dirty pages.

Read times are the best of ``--repeat`` runs, files in the page cache for
both sides. Write ratios are the median over ``--repeat`` pairs of a write and
a copy run back to back, because fsync times on a shared disk drift. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _measure import child_run, reset_peak, status_mb  # noqa: E402

TENSOR_MB = 16


def child(op: str, fmt: str, src: str, dst: str, shard_mb: int) -> dict:
    """Runs in a fresh process: do one operation, report seconds and peak RSS growth."""
    from modelport.checkpoint import Checkpoint
    from modelport.saving import save_checkpoint

    writer = None
    if fmt == "bin":
        from modelport_torch.serialization import write_bin as writer  # noqa: N813
    import safetensors.numpy  # noqa: F401  (imported before the baseline footprint)

    base = reset_peak()
    start = time.perf_counter()
    if op == "read":
        ckpt = Checkpoint.open(src)
        total = 0
        for name in ckpt:
            total += ckpt[name].nbytes
    elif op == "raw-read":
        total = 0
        buf = bytearray(TENSOR_MB << 20)  # chunks of one tensor's size: the fastest plain read measured here
        for path in sorted(Path(src).iterdir()):
            with open(path, "rb", buffering=0) as fh:
                while n := fh.readinto(buf):
                    total += n
    elif op == "st-load-file":
        from safetensors.numpy import load_file

        total = 0
        for path in sorted(Path(src).glob("*.safetensors")):
            total += sum(a.nbytes for a in load_file(path).values())
    elif op in ("write", "write-nosync"):
        ckpt = Checkpoint.open(src)
        save_checkpoint(dst, [(n, ckpt.lazy(n)) for n in ckpt], format=fmt, max_shard_size=f"{shard_mb}MB", writer=writer,
                        durable=op == "write")
        total = ckpt.total_bytes
    elif op == "copy-rw-nosync":  # a plain Python copy: read into a buffer, write it out
        total = 0
        Path(dst).mkdir(parents=True, exist_ok=True)
        buf = bytearray(TENSOR_MB << 20)
        view = memoryview(buf)
        for path in sorted(Path(src).iterdir()):
            with open(path, "rb", buffering=0) as fin, open(Path(dst) / path.name, "wb", buffering=0) as fout:
                while n := fin.readinto(buf):
                    fout.write(view[:n])
                    total += n
    elif op == "copy-nosync":
        total = 0
        Path(dst).mkdir(parents=True, exist_ok=True)
        for path in sorted(Path(src).iterdir()):
            shutil.copyfile(path, Path(dst) / path.name)
            total += path.stat().st_size
    elif op == "torch-save":
        import torch

        ckpt = Checkpoint.open(src)
        Path(dst).mkdir(parents=True, exist_ok=True)
        state = {name: torch.from_numpy(ckpt[name]) for name in ckpt}
        torch.save(state, Path(dst) / "pytorch_model.bin")
        with open(Path(dst) / "pytorch_model.bin", "rb") as fh:
            os.fsync(fh.fileno())
        total = ckpt.total_bytes
    elif op == "copy":
        total = 0
        Path(dst).mkdir(parents=True, exist_ok=True)
        for path in sorted(Path(src).iterdir()):
            target = Path(dst) / path.name
            shutil.copyfile(path, target)
            with open(target, "rb") as fh:
                os.fsync(fh.fileno())
            total += path.stat().st_size
        fd = os.open(dst, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    else:
        raise SystemExit(f"unknown op {op}")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rss_growth_mb": status_mb("VmHWM") - base, "bytes": total}


def run_child(op: str, fmt: str, src: Path, dst: Path, shard_mb: int, repeat: int) -> dict:
    best: dict | None = None
    for _ in range(repeat):
        if dst.exists():
            shutil.rmtree(dst)
        result = child_run(__file__, op, fmt, str(src), str(dst), str(shard_mb))
        if best is None or result["seconds"] < best["seconds"]:
            best = {**result, "rss_growth_mb": max(result["rss_growth_mb"], best["rss_growth_mb"] if best else 0)}
    assert best is not None
    return best


def build_sources(root: Path, size_mb: int, shard_mb: int) -> dict[str, Path]:
    """One safetensors source, then every format written from it, single and sharded."""
    from modelport.checkpoint import Checkpoint
    from modelport.saving import save_checkpoint

    writer = None
    try:
        from modelport_torch.serialization import write_bin as writer  # noqa: N813
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    n = size_mb // TENSOR_MB
    elements = TENSOR_MB * 1024 * 1024 // 4
    source = root / "source"
    tensors = [(f"layers.{i}.weight", rng.standard_normal(elements, dtype=np.float32).reshape(-1, 1024)) for i in range(n)]
    save_checkpoint(source, tensors, max_shard_size="100GB")
    del tensors
    folders = {}
    ckpt = Checkpoint.open(source)
    formats = ["safetensors", "h5", "msgpack"] + (["bin"] if writer else [])
    for fmt in formats:
        for layout, limit in (("single", "100GB"), ("sharded", f"{shard_mb}MB")):
            folder = root / f"{fmt}-{layout}"
            save_checkpoint(folder, [(name, ckpt.lazy(name)) for name in ckpt], format=fmt, max_shard_size=limit,
                            writer=writer if fmt == "bin" else None)
            folders[f"{fmt}-{layout}"] = folder
    return folders


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        op, fmt, src, dst, shard_mb = sys.argv[2:7]
        print(json.dumps(child(op, fmt, src, dst, int(shard_mb))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--shard-mb", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--formats", default="safetensors,h5,msgpack,bin", help="comma-separated subset to measure")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="modelport-bench-", dir=args.dir))
    try:
        folders = build_sources(root, args.size_mb, args.shard_mb)
        rows = []
        for key, folder in folders.items():
            fmt, layout = key.split("-")
            if fmt not in args.formats.split(","):
                continue
            largest = max(p.stat().st_size for p in folder.iterdir()) / 2**20
            read = run_child("read", fmt, folder, root / "none", args.shard_mb, args.repeat)
            raw = run_child("raw-read", fmt, folder, root / "none", args.shard_mb, args.repeat)
            row = {
                "case": key, "largest_shard_mb": largest,
                "read_s": read["seconds"], "read_vs_raw": read["seconds"] / raw["seconds"],
                "read_rss_vs_shard": read["rss_growth_mb"] / largest,
            }
            if fmt == "safetensors":
                st = run_child("st-load-file", fmt, folder, root / "none", args.shard_mb, args.repeat)
                row["read_vs_st_load_file"] = read["seconds"] / st["seconds"]
            shard = args.shard_mb if layout == "sharded" else 100_000
            # fsync times on a shared disk drift: pair each write with a copy run right
            # after it and report the median of the paired ratios.
            pairs = [
                (run_child("write", fmt, folders["safetensors-single"], root / "out", shard, 1),
                 run_child("copy", fmt, folders["safetensors-single"], root / "out", shard, 1))
                for _ in range(args.repeat)
            ]
            write = min((w for w, _ in pairs), key=lambda r: r["seconds"])
            ratios = sorted(w["seconds"] / c["seconds"] for w, c in pairs)
            cached = [
                (run_child("write-nosync", fmt, folders["safetensors-single"], root / "out", shard, 1),
                 run_child("copy-nosync", fmt, folders["safetensors-single"], root / "out", shard, 1))
                for _ in range(args.repeat)
            ]
            cached_ratios = sorted(w["seconds"] / c["seconds"] for w, c in cached)
            plain = [run_child("copy-rw-nosync", fmt, folders["safetensors-single"], root / "out", shard, 1)
                     for _ in range(args.repeat)]
            plain_s = sorted(p["seconds"] for p in plain)[len(plain) // 2]
            row.update(write_s=write["seconds"], write_vs_durable_copy=ratios[len(ratios) // 2],
                       write_nosync_s=min(w["seconds"] for w, _ in cached),
                       write_nosync_vs_copyfile=cached_ratios[len(cached_ratios) // 2],
                       write_nosync_vs_plain_copy=sorted(w["seconds"] for w, _ in cached)[len(cached) // 2] / plain_s,
                       write_rss_vs_shard=max(w["rss_growth_mb"] for w, _ in pairs) / (min(shard, args.size_mb)))
            if fmt == "bin" and layout == "single":  # the adapter's writer against torch.save itself
                torch_save = run_child("torch-save", fmt, folders["safetensors-single"], root / "out", shard, args.repeat)
                row["write_vs_torch_save"] = write["seconds"] / torch_save["seconds"]
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        print(f"\n{args.size_mb} MB float32 checkpoint ({TENSOR_MB} MB tensors), shards of {args.shard_mb} MB, "
              f"best of {args.repeat} (reads), median of {args.repeat} paired runs (writes)\n")
        print(
            "| case | read s | read / raw read | read / st.load_file | read peak RSS / largest shard "
            "| write s (fsync) | write / durable copy | write s (page cache) | write / copyfile (page cache) "
            "| write / read+write copy (page cache) | write / torch.save | write peak RSS / shard |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            st_ratio = f"{r['read_vs_st_load_file']:.2f}" if "read_vs_st_load_file" in r else "-"
            ts_ratio = f"{r['write_vs_torch_save']:.2f}" if "write_vs_torch_save" in r else "-"
            print(
                f"| {r['case']} | {r['read_s']:.2f} | {r['read_vs_raw']:.2f} | {st_ratio} | {r['read_rss_vs_shard']:.2f} "
                f"| {r['write_s']:.2f} | {r['write_vs_durable_copy']:.2f} | {r['write_nosync_s']:.2f} "
                f"| {r['write_nosync_vs_copyfile']:.2f} | {r['write_nosync_vs_plain_copy']:.2f} | {ts_ratio} "
                f"| {r['write_rss_vs_shard']:.2f} |"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
