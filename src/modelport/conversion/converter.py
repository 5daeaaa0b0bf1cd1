"""``modelport.convert``: any checkpoint to any framework, streamed one tensor at a time, and proven.

The target adapter contributes only what the core cannot know: its
architecture's parameter tree (built without weight memory), a writer for a
format the core does not write (``.bin``) and, for ``verify``, a way to run
its model. Reading, renaming, re-laying-out, sharding and committing are the
core's, so every pair of frameworks converts the same way.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import adapters, frameworks
from ..auto import AutoConfig
from ..checkpoint import Checkpoint
from ..config import PretrainedConfig
from ..dtypes import DTYPES, canonical_dtype
from ..errors import AdapterError, ConversionError
from ..formats import registry as file_formats
from ..formats._buffers import ScratchBuffers
from ..formats._streaming import PREFETCH_AHEAD
from ..formats.base import FileBytes, LazyTensor
from ..hub import find_checkpoint, is_local
from ..modeling.ties import base_model_prefix
from ..saving import save_checkpoint
from .plan import Plan, keeps_bytes, plan_conversion, redundancy_failures, transform

__all__ = ["convert", "ConversionReport", "probe_inputs", "compare_outputs", "verify_conversion"]

logger = logging.getLogger(__name__)

_WEIGHT_FILE = re.compile(r"^(model|pytorch_model|tf_model|flax_model)(\.[\w-]+)?(-\d{5}-of-\d{5})?\.(safetensors|bin|h5|msgpack)"
                          r"(\.index\.json)?$")


@dataclass
class ConversionReport:
    """What a conversion did, with its figures."""

    source: str
    destination: str
    source_framework: str
    target_framework: str
    format: str
    converted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0  # end to end: opening, the target's tree, reading, transforming, writing, copying
    write_seconds: float = 0.0  # reading, transforming and writing the tensors
    peak_rss_mb: float = 0.0  # the process's peak resident memory so far (benchmarks/ measures a conversion alone)
    files: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)  # other files of the folder (config, tokenizer...)
    #: tensors whose bytes were copied file to file, unchanged (no transpose, no cast): never read into memory
    unchanged: list[str] = field(default_factory=list)
    verification: dict[str, float] | None = None
    tolerance: float | None = None

    @property
    def ok(self) -> bool:
        """No missing or mismatched weights (unexpected ones are reported, not fatal)."""
        return not self.missing and not self.mismatched

    @property
    def throughput_mb_s(self) -> float:
        """Tensor bytes per second of the streaming part (reading, transforming, writing, fsync)."""
        return self.bytes / self.write_seconds / 1e6 if self.write_seconds else 0.0

    def summary(self) -> str:
        lines = [f"{self.source_framework} -> {self.target_framework} ({self.format}): {len(self.converted)} tensors, "
                 f"{self.bytes / 1e6:,.1f} MB in {self.seconds:.2f} s (streaming {self.write_seconds:.2f} s, "
                 f"{self.throughput_mb_s:,.0f} MB/s), "
                 f"peak RSS {self.peak_rss_mb:,.0f} MB; wrote {', '.join(self.files)}"
                 + (f"; copied {len(self.copied)} other file(s)" if self.copied else "")]
        for label, names in (("missing", self.missing), ("unexpected", self.unexpected)):
            if names:
                lines.append(f"{label} ({len(names)}): {', '.join(names)}")
        for name, have, want in self.mismatched:
            lines.append(f"mismatched: {name} is {list(have)}, the target needs {list(want)}")
        if self.verification is not None:
            worst = max(self.verification.values())
            diffs = ", ".join(f"{k} {v:.2e}" for k, v in self.verification.items())
            verdict = "OK" if worst <= (self.tolerance or 0.0) else "FAILED"
            lines.append(f"verify: max |diff| {diffs} (tolerance {self.tolerance:.0e}): {verdict}")
        return "\n".join(lines)


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _open_source(source: str | os.PathLike[str], revision: str | None, token: Any, cache_dir: Any,
                 subfolder: str) -> tuple[Path, Checkpoint]:
    if is_local(source):
        folder = Path(os.fspath(source)) / subfolder
        return folder, Checkpoint.open(folder)
    from ..hub import download_file, list_repo_files, offline_mode

    found, ckpt = find_checkpoint(os.fspath(source), ("pt", "tf", "flax"), revision=revision, token=token, cache_dir=cache_dir,
                                  subfolder=subfolder)
    if offline_mode():
        # The file list needs the Hub: offline, the other files are what the cache holds of that snapshot.
        logger.info("%s: offline; copying the files the cache holds beside the weights", source)
        return found.folder, ckpt
    pinned = found.commit or revision
    prefix = f"{subfolder.strip('/')}/" if subfolder else ""
    for path in list_repo_files(os.fspath(source), revision=pinned, token=token):
        if path.startswith(prefix) and not _WEIGHT_FILE.match(path.rsplit("/", 1)[-1]):
            download_file(os.fspath(source), path[len(prefix):], revision=pinned, token=token, cache_dir=cache_dir,
                          subfolder=subfolder)
    return found.folder, ckpt


def _copy_other_files(source: Path, destination: Path) -> list[str]:
    """config.json, tokenizer files, README, sub-folders (``1_Pooling``): everything but weights and modelport's own files."""
    copied = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if any(part.startswith(".") for part in relative.parts) or relative.parts[0] == "saved_model":
            continue
        if path.is_dir() or (len(relative.parts) == 1 and _WEIGHT_FILE.match(path.name)):
            continue
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)  # follows the Hub cache's symlinks
        copied.append(str(relative))
    return copied


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


_TREES: dict[tuple[str, str], Any] = {}  # (target, config JSON) -> tree: a TF tree costs a graph trace (~1 s)


def _target_tree(config: PretrainedConfig, target: str) -> Any:
    key = (target, config.to_json_string(use_diff=False))
    if key in _TREES:
        return _TREES[key]
    try:
        tree = adapters.get(frameworks.adapter_for(target)).parameter_tree(config)
    except AdapterError:
        if frameworks.get(target).names_like == "pt":  # every name has its canonical form: convert by names alone
            logger.warning("the %s adapter cannot build this architecture; converting by names alone",
                           frameworks.adapter_for(target))
            return None
        raise
    if len(_TREES) >= 16:
        _TREES.pop(next(iter(_TREES)))
    _TREES[key] = tree
    return tree


def convert(source: str | os.PathLike[str], destination: str | os.PathLike[str], *, to: str, format: str = "safetensors",
            max_shard_size: int | str = "5GB", dtype: str | None = None, verify: bool = False, tolerance: float | None = None,
            push: str | None = None, revision: str | None = None, token: str | bool | None = None,
            cache_dir: str | os.PathLike[str] | None = None, subfolder: str = "", progress: bool | None = None,
            durable: bool = True) -> ConversionReport:
    """Convert a checkpoint (folder or Hub repo id) to ``to`` (``pt``, ``tf`` or ``flax``) in ``destination``.

    Args:
        format: ``safetensors`` (with the target framework's names) or ``native``
            (``pytorch_model.bin``, ``tf_model.h5``, ``flax_model.msgpack``).
        dtype: cast floating-point tensors (``bfloat16``, ``float16``...).
        verify: run the source and the result in their frameworks on a fixed
            probe input and fail unless every output agrees within ``tolerance``
            (default 1e-4, or 0.1 when ``dtype`` lowers the precision).
        push: upload the result to this Hub repo in one commit.

    Returns:
        A :class:`ConversionReport`. Missing and mismatched weights are reported
        (and logged), not raised; ``report.ok`` tells.

    Raises:
        ConversionError: a bad option, or ``verify`` found outputs that disagree.
    """
    target = frameworks.get(to)  # an unknown one is a ConversionError listing the known ones
    if format not in ("safetensors", "native"):
        raise ConversionError("unknown format", where="convert", expected="safetensors or native", received=format)
    cast = canonical_dtype(dtype) if dtype is not None else None
    if cast is not None and not DTYPES[cast].is_floating:
        raise ConversionError("only a floating-point dtype can be the target dtype", where="convert", received=dtype)
    started = time.perf_counter()
    folder, ckpt = _open_source(source, revision, token, cache_dir, subfolder)
    out = Path(os.fspath(destination))
    file_format = target.native_format if format == "native" else "safetensors"
    if out.resolve() == folder.resolve() and file_format == ckpt.format:
        raise ConversionError("the destination would overwrite the source's weights", where=str(out),
                              fix="Write to another folder, or choose another format.")
    config_file = folder / "config.json"
    config = AutoConfig.from_pretrained(folder) if config_file.is_file() else None
    if config is None and target.names_like != "pt":
        raise ConversionError(f"converting to {to} needs config.json (the target architecture)", where=str(folder))
    tree = _target_tree(config, to) if config is not None else None
    spec = file_formats.get(file_format)
    rename = (lambda name: name.replace("/", ".")) if (target.dotted_safetensors_names and file_format == "safetensors") else None
    plan = plan_conversion({name: ckpt.info(name).shape for name in ckpt}, ckpt.framework, tree, to, output_names=rename,
                           keep_derived=spec.keeps_tied_copies, aliases=ckpt.aliases(),
                           base_prefix=base_model_prefix(config) if tree is None and config is not None else "")
    # tied copies and stored buffers are left out only when proven redundant; otherwise they are reported
    failures = redundancy_failures(plan, ckpt.__getitem__, ckpt.framework, tree.model_type if tree is not None else "")
    plan.unexpected.extend(name for name, _ in failures)
    for name, why in failures:
        logger.warning("%s: %s %s", folder, name, why)
    _log_plan(plan, folder)
    # Reused read/transpose buffers: the writers load up to PREFETCH_AHEAD tensors ahead of the one they
    # write (formats._streaming.prefetched), so one more set than that, used in turn, is never overwritten
    # under the writer. The .bin writer (torch.save) holds a shard's tensors until the end: fresh ones,
    # and no file-to-file copies of unchanged bytes (the core's writers do those).
    scratch = ScratchBuffers(generations=PREFETCH_AHEAD + 1) if spec.write is not None else None
    if spec.tagged_dtypes and cast is None:
        _refuse_tagged_dtypes(ckpt, plan, out, spec)
    tensors, total, bar = _lazy_tensors(ckpt, plan, to, cast, progress, scratch)
    scope = _snake(tree.model_class) if tree is not None and tree.model_class else "tf_model"
    streaming = time.perf_counter()
    try:
        result = save_checkpoint(out, tensors, format=file_format, framework=to, max_shard_size=max_shard_size, tf_scope=scope,
                                 durable=durable)
    finally:
        if bar is not None:
            bar.close()
    write_seconds = time.perf_counter() - streaming
    copied = _copy_other_files(folder, out) if out.resolve() != folder.resolve() else []
    report = ConversionReport(
        source=os.fspath(source), destination=str(out), source_framework=ckpt.framework, target_framework=to, format=file_format,
        converted=[s.target for s in plan.steps], missing=plan.missing, unexpected=plan.unexpected, mismatched=plan.mismatched,
        bytes=total, seconds=time.perf_counter() - started, write_seconds=write_seconds, peak_rss_mb=_peak_rss_mb(),
        files=[Path(f).name for f in result.files], copied=copied,
        unchanged=[name for name, lazy in tensors if isinstance(lazy, LazyTensor) and lazy.file_bytes is not None],
    )
    if verify:
        report.tolerance = tolerance if tolerance is not None else (1e-1 if cast in ("bfloat16", "float16", "float8_e4m3fn",
                                                                                       "float8_e5m2") else 1e-4)
        report.verification = verify_conversion(folder, ckpt.framework, out, to, report.tolerance)
    if push:
        from ..hub import upload_folder

        upload_folder(out, push, commit_message=f"Convert to {to} ({file_format}) with modelport", token=token)
    return report


def _refuse_tagged_dtypes(ckpt: Checkpoint, plan: Plan, out: Path, spec: file_formats.FileFormat) -> None:
    """A format with no type for a dtype stores it tagged (h5: as integers), and transformers and Keras would load
    it as wrong numbers, silently. Ask first."""
    for step in plan.steps:
        dtype = ckpt.info(step.source).dtype
        if dtype in spec.tagged_dtypes:
            raise ConversionError(
                f"{spec.weights_name} has no {dtype} type: modelport would store it in a tagged form that transformers "
                "and Keras would load as wrong numbers",
                where=f"{out / spec.weights_name} (tensor {step.source!r})",
                expected=f"weights of another dtype for {spec.weights_name}",
                received=dtype,
                fix=f"Pass dtype='float32' (--dtype float32) for a file every tool reads, format='safetensors' "
                    f"(safetensors hold {dtype}), or dtype='{dtype}' to write modelport's tagged form on purpose.",
            )


def _log_plan(plan: Plan, folder: Path) -> None:
    if plan.missing:
        logger.warning("%s: the target needs weights the source does not have: %s", folder, plan.missing)
    if plan.unexpected:
        logger.warning("%s: source weights the target has no place for: %s", folder, plan.unexpected)
    for name, have, want in plan.mismatched:
        logger.warning("%s: %s is %s, the target needs %s", folder, name, list(have), list(want))


def _lazy_tensors(ckpt: Checkpoint, plan: Plan, to: str, cast: str | None, progress: bool | None,
                  scratch: ScratchBuffers | None) -> tuple[list, int, Any]:
    """The output tensors, each read and transformed only when the writer asks for it."""
    out_dtypes = {}
    for step in plan.steps:
        dtype = ckpt.info(step.source).dtype
        out_dtypes[step.target] = cast if cast is not None and DTYPES[dtype].is_floating else dtype  # integers keep theirs
    total = sum(int(np.prod(s.shape, dtype=np.int64)) * DTYPES[out_dtypes[s.target]].itemsize for s in plan.steps)
    bar = None
    if progress is None:
        progress = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").upper() not in ("1", "ON", "YES", "TRUE")
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"converting to {to}", leave=False)

    def load(step: Any) -> np.ndarray:
        # loads run one at a time, in write order (on the writer's prefetch thread)
        with scratch.lending() if scratch is not None else contextlib.nullcontext():
            array = transform(step, ckpt[step.source], ckpt.framework, to)
        if cast is not None and DTYPES[canonical_dtype(str(array.dtype))].is_floating:
            array = array.astype(DTYPES[cast].numpy)
        if bar is not None:
            bar.update(array.nbytes)
        return array

    def unchanged_bytes(step: Any) -> FileBytes | None:
        """The source's bytes, when the writer may copy them file to file: same dtype, no transpose."""
        info = ckpt.info(step.source)
        if scratch is None or out_dtypes[step.target] != info.dtype or not keeps_bytes(step, len(info.shape), ckpt.framework, to):
            return None
        found = ckpt.file_bytes(step.source)
        if found is None:
            return None

        def verify() -> None:
            found.verify()
            if bar is not None:
                bar.update(found.nbytes)

        return FileBytes(found.path, found.offset, found.nbytes, verify)

    tensors = [(s.target, LazyTensor(out_dtypes[s.target], s.shape, functools.partial(load, s), prefetch=True,
                                     file_bytes=unchanged_bytes(s))) for s in plan.steps]
    return tensors, total, bar


def probe_inputs(config: PretrainedConfig | None, batch: int = 2, length: int = 8) -> dict[str, np.ndarray]:
    """A fixed input every architecture accepts: token ids from a seeded generator, the second row padded."""
    vocab = int(getattr(config, "vocab_size", 1000) or 1000)
    positions = int(getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or length)
    length = min(length, positions)
    ids = np.random.default_rng(0).integers(1, min(vocab, 30000), size=(batch, length)).astype(np.int32)
    mask = np.ones((batch, length), np.int32)
    if batch > 1 and length > 3:
        mask[1, -3:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def verify_conversion(source: str | os.PathLike[str], source_framework: str, result: str | os.PathLike[str],
                      target_framework: str, tolerance: float = 1e-4) -> dict[str, float]:
    """Run both checkpoints in their frameworks on :func:`probe_inputs`; raise unless every output agrees.

    Returns:
        The max absolute difference of every output.

    Raises:
        ConversionError: an output differs by more than ``tolerance``; the message lists every output's difference.
    """
    diffs = compare_outputs(Path(os.fspath(source)), source_framework, Path(os.fspath(result)), target_framework)
    if max(diffs.values()) > tolerance:
        raise ConversionError(
            "the converted model's outputs disagree with the source's", where=os.fspath(result),
            expected=f"max |diff| <= {tolerance:.0e} on every output",
            received=", ".join(f"{k}: {v:.3e}" for k, v in diffs.items()),
            fix="A weight was changed or mapped wrongly: compare both with `modelport inspect --tensors`.",
        )
    return diffs


def compare_outputs(source: Path, source_framework: str, result: Path, target_framework: str) -> dict[str, float]:
    """Max absolute difference of every output both models produce on :func:`probe_inputs`."""
    inputs = probe_inputs(AutoConfig.from_pretrained(result))
    runs = []
    for folder, framework in ((source, source_framework), (result, target_framework)):
        adapter = adapters.get(frameworks.adapter_for(framework))
        runs.append(adapter.run_model(adapter.load_model(folder), inputs))
    theirs, ours = runs
    common = [k for k in theirs if k in ours and theirs[k].shape == ours[k].shape]
    if not common:
        raise ConversionError("the two models share no output to compare", where=str(result), received=sorted(ours))
    return {k: float(np.abs(theirs[k].astype(np.float64) - ours[k].astype(np.float64)).max()) for k in common}
