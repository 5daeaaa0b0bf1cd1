"""Reading a stored matrix as its transpose: a read then a transpose, against bands transposed as they are read.

    python benchmarks/transpose_read.py [--repeat 10] [--dtype float32]

The kernels of a 1024-wide GPT-2 and Llama layer (1024 x 3072, 4096 x 1024,
1024 x 4096, 2816 x 1024, 1024 x 2816) are written to one file, which is then
in the page cache, as a converter's source is after its first read. Each
method reads every matrix and returns its transpose as a fresh C-order array:

* read, then transpose: ``read_array`` (positioned reads into an aligned
  array) and ``aligned_copy`` of its transpose (256 x 16 tiles, two threads),
  what the converter did before session 10;
* ``read_transposed``: bands of rows read into a small buffer and scattered
  into the result's columns, two threads.

Reported: MB/s of matrix bytes (medians of ``--repeat`` passes over all matrices),
and the ratio. Results are checked equal.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from modelport.dtypes import DTYPES
from modelport.formats._buffers import aligned_copy
from modelport.formats.base import FileBytes, read_array, read_transposed

SHAPES = [(1024, 3072), (4096, 1024), (1024, 4096), (2816, 1024), (1024, 2816)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    numpy_dtype = DTYPES[args.dtype].numpy
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "matrices.bin"
        places = []
        with open(path, "wb") as fh:
            rng = np.random.default_rng(0)
            for shape in SHAPES:
                places.append((FileBytes(str(path), fh.tell(), int(np.prod(shape)) * np.dtype(numpy_dtype).itemsize), shape))
                fh.write(rng.standard_normal(shape).astype(numpy_dtype).tobytes())
        total = sum(source.nbytes for source, _ in places)

        def read_then_transpose(source: FileBytes, shape: tuple[int, int]) -> np.ndarray:
            return aligned_copy(read_array(source.path, source.offset, args.dtype, shape, where="bench").T)

        def banded(source: FileBytes, shape: tuple[int, int]) -> np.ndarray:
            return read_transposed(source, args.dtype, shape, where="bench")

        for source, shape in places:
            assert np.array_equal(read_then_transpose(source, shape), banded(source, shape))
        rates = {}
        for name, method in (("read, then transpose", read_then_transpose), ("read_transposed", banded)):
            passes = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                for source, shape in places:
                    method(source, shape)
                passes.append(total / (time.perf_counter() - start) / 1e6)
            rates[name] = statistics.median(passes)
    print(f"{len(SHAPES)} {args.dtype} matrices, {total / 1e6:.0f} MB, medians of {args.repeat} passes:\n")
    print("| method | MB/s |")
    print("|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.0f} |")
    print(f"\nratio: {rates['read_transposed'] / rates['read, then transpose']:.2f}")


if __name__ == "__main__":
    main()
