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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .. import adapters, frameworks
from ..auto import AutoConfig
from ..checkpoint import Checkpoint
from ..config import PretrainedConfig
from ..dtypes import DTYPES, canonical_dtype
from ..errors import AdapterError, ConversionError, ModelportError
from ..formats import registry as file_formats
from ..formats._buffers import ScratchBuffers
from ..formats._streaming import PREFETCH_AHEAD
from ..formats.base import FileBytes, LazyTensor, read_transposed
from ..saving import save_checkpoint
from .architectures import made_tensor, name_rules
from .plan import Check, Plan, Step, keeps_bytes, plan_conversion, redundancy_failures, swaps_matrix, transform
from .progress import ConversionProgress
from .report import ConversionReport, peak_rss_mb
from .rules import reconcile_shape, to_canonical
from .sources import Source, check_destination, copy_companion_files, open_source, remove_other_weights, write_model_card
from .verify import default_tolerance, verified_with, verify_conversion

__all__ = ["convert"]

logger = logging.getLogger(__name__)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


_TREES: dict[tuple[str, str], Any] = {}  # (target, config JSON) -> tree: a TF tree costs a graph trace (~1 s)


_TREES_LOCK = threading.Lock()  # a tree may be built ahead on a worker thread (see _build_tree_ahead)


def _target_tree(config: PretrainedConfig, target: str, *, quiet: bool = False) -> Any:
    """The target's tree for ``config`` (cached), or None when a PyTorch-named target converts by names alone."""
    if type(config) is PretrainedConfig and frameworks.get(target).names_like == "pt":
        return None  # an architecture modelport has no config class for: names (and its table) decide, no framework needed
    key = (target, config.to_json_string(use_diff=False))
    with _TREES_LOCK:
        if key in _TREES:
            return _TREES[key]
        try:
            tree = adapters.get(frameworks.adapter_for(target)).parameter_tree(config)
        except AdapterError:
            if frameworks.get(target).names_like == "pt":  # every name has its canonical form: convert by names alone
                if not quiet:
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
            push: str | None = None, create_pr: bool = False, revision: str | None = None, token: str | bool | None = None,
            cache_dir: str | os.PathLike[str] | None = None, subfolder: str = "", progress: bool | None = None,
            durable: bool = True, overwrite: bool = False) -> ConversionReport:
    """Convert a checkpoint (folder or Hub repo id) to ``to`` (``pt``, ``tf`` or ``flax``) in ``destination``.

    Args:
        format: ``safetensors`` (with the target framework's names) or ``native``
            (``pytorch_model.bin``, ``tf_model.h5``, ``flax_model.msgpack``).
        dtype: cast floating-point tensors (``bfloat16``, ``float16``...).
        verify: run the source and the result in their frameworks on a fixed
            probe input and fail unless every output agrees within ``tolerance``
            (default 1e-4, or 0.1 when ``dtype`` lowers the precision).
        push: upload the result to this Hub repo in one commit. Pushing to the source repo itself adds only the
            converted weights and their index, every other file untouched (a rescue).
        create_pr: with ``push``, open a pull request (``refs/pr/N``) instead of committing to ``main``.
        progress: a progress bar over the whole conversion; None follows huggingface_hub's switch
            (``HF_HUB_DISABLE_PROGRESS_BARS``).
        overwrite: write into a folder that already holds weights, and leave only the result's there.

    Returns:
        A :class:`ConversionReport`. Missing and mismatched weights are reported
        (and logged), not raised; ``report.ok`` tells.

    Raises:
        ConversionError: a bad option, a destination that is a file or holds other weights, or ``verify``
            found outputs that disagree.
    """
    target = frameworks.get(to)  # an unknown one is a ConversionError listing the known ones
    if format not in ("safetensors", "native"):
        raise ConversionError("unknown format", where="convert", expected="safetensors or native", received=format)
    cast = canonical_dtype(dtype) if dtype is not None else None
    if cast is not None and not DTYPES[cast].is_floating:
        raise ConversionError("only a floating-point dtype can be the target dtype", where="convert", received=dtype)
    started = time.perf_counter()
    bar = ConversionProgress(progress, f"converting to {to}")
    ahead = ThreadPoolExecutor(1, thread_name_prefix="modelport-tree")
    try:
        ahead.submit(_build_tree_ahead, source, subfolder, to)
        bar.phase("opening the source")
        opened = open_source(source, revision, token, cache_dir, subfolder)
        report = _convert_opened(opened, source, Path(os.fspath(destination)).expanduser(), to, target, format, cast,
                                 max_shard_size, durable, overwrite, bar, ahead)
        if verify:
            bar.phase("verifying: running both models")
            verifying = time.perf_counter()
            report.tolerance = tolerance if tolerance is not None else default_tolerance(cast)
            checked = opened.checkpoint.path if opened.checkpoint.format == "gguf" else opened.folder  # GGUF: the file itself
            report.verification = verify_conversion(checked, report.source_framework, report.destination, to, report.tolerance)
            report.verify_seconds = time.perf_counter() - verifying
            report.verified_with = verified_with(report.destination)
        if push:
            from .publish import push_conversion

            bar.phase(f"uploading to {push}")
            commit = push_conversion(report, opened, push, create_pr=create_pr, token=token)
            report.pushed = str(getattr(commit, "pr_url", None) or getattr(commit, "commit_url", "") or "")
    finally:
        ahead.shutdown(wait=False)  # an error before the tree was needed does not wait for a framework import
        bar.close()
    report.seconds = time.perf_counter() - started
    report.peak_rss_mb = peak_rss_mb()
    return report


def _build_tree_ahead(source: str | os.PathLike[str], subfolder: str, to: str) -> None:
    """Build the target's tree (importing its framework) while the source opens: the two overlap on two cores (a TF
    source's headers are read in a child process). A local folder only; what fails here is left to the main path,
    which reports it."""
    with contextlib.suppress(Exception):
        folder = Path(os.fspath(source)).expanduser() / subfolder
        if (folder / "config.json").is_file():
            _target_tree(AutoConfig.from_pretrained(folder), to, quiet=True)


def _convert_opened(opened: Source, source: str | os.PathLike[str], out: Path, to: str, target: frameworks.CheckpointFramework,
                    format: str, cast: str | None, max_shard_size: int | str, durable: bool, overwrite: bool,
                    bar: ConversionProgress, ahead: ThreadPoolExecutor) -> ConversionReport:
    """Plan, stream the tensors, copy what goes with them: everything of a conversion but verifying and pushing."""
    folder, ckpt = opened.folder, opened.checkpoint
    file_format = target.native_format if format == "native" else "safetensors"
    if out.resolve() == folder.resolve() and file_format == ckpt.format:
        raise ConversionError("the destination would overwrite the source's weights", where=str(out),
                              fix="Write to another folder, or choose another format.")
    check_destination(out, folder, overwrite)
    config = _source_config(folder, ckpt, to)
    if config is None and target.names_like != "pt":
        raise ConversionError(f"converting to {to} needs config.json (the target architecture)", where=str(folder))
    bar.phase(f"building the {to} model's tree")
    ahead.shutdown(wait=True)  # the tree built ahead (if any) is in the cache
    tree = _target_tree(config, to) if config is not None else None
    spec = file_formats.get(file_format)
    rename = (lambda name: name.replace("/", ".")) if (target.dotted_safetensors_names and file_format == "safetensors") else None
    plan = plan_conversion({name: ckpt.info(name).shape for name in ckpt}, ckpt.framework, tree, to, output_names=rename,
                           keep_derived=spec.keeps_tied_copies, aliases=ckpt.aliases(),
                           names=name_rules(config, ckpt.framework) if tree is None and config is not None else None, config=config)
    # tied copies and stored buffers are left out only when proven redundant; otherwise they are reported
    bar.phase("checking tied copies and buffers")
    failures = redundancy_failures(plan, ckpt.__getitem__, ckpt.framework, tree.model_type if tree is not None else "")
    plan.unexpected.extend(name for name, _ in failures)
    for name, why in failures:
        logger.warning("%s: %s %s", folder, name, why)
    untie = _settle_ties(plan, ckpt)
    _log_plan(plan, folder)
    # Reused read/transpose buffers: the writers load up to PREFETCH_AHEAD tensors ahead of the one they
    # write (formats._streaming.prefetched), so one more set than that, used in turn, is never overwritten
    # under the writer. The .bin writer (torch.save) holds a shard's tensors until the end: fresh ones,
    # and no file-to-file copies of unchanged bytes (the core's writers do those).
    scratch = ScratchBuffers(generations=PREFETCH_AHEAD + 1) if spec.write is not None else None
    if spec.tagged_dtypes and cast is None:
        _refuse_tagged_dtypes(ckpt, plan, out, spec)
    tensors, total = _lazy_tensors(ckpt, plan, to, cast, bar, scratch)
    scope = _snake(tree.model_class) if tree is not None and tree.model_class else "tf_model"
    bar.phase("streaming tensors")
    bar.start_bytes(total)
    streaming = time.perf_counter()
    result = save_checkpoint(out, tensors, format=file_format, framework=to, max_shard_size=max_shard_size, tf_scope=scope,
                             durable=durable)
    write_seconds = time.perf_counter() - streaming
    bar.phase("copying configs and tokenizer files")
    copied, skipped = copy_companion_files(folder, out) if out.resolve() != folder.resolve() else ([], [])
    if ckpt.format == "gguf" and config is not None:  # the GGUF metadata was the config: it travels as config.json
        config.save_pretrained(out)
        copied.append("config.json")
        _write_gguf_tokenizer(ckpt, out, copied, skipped)
    if untie and (out / "config.json").is_file():
        _untie_config(out / "config.json")
    written = [Path(f).name for f in result.files]
    if overwrite:
        remove_other_weights(out, written + ([Path(result.index_file).name] if result.index_file else []))
    if out.resolve() != folder.resolve():
        write_model_card(out, opened, ckpt.framework, to, file_format)
    return ConversionReport(
        source=os.fspath(source), destination=str(out), source_framework=ckpt.framework, target_framework=to, format=file_format,
        converted=[s.target for s in plan.steps], missing=plan.missing, unexpected=plan.unexpected, mismatched=plan.mismatched,
        dropped=_dropped(plan, {name for name, _ in failures}), config_changes=untie, bytes=total, write_seconds=write_seconds,
        files=written, index_file=Path(result.index_file).name if result.index_file else None,
        copied=copied, skipped=skipped,
        unchanged=[name for name, lazy in tensors if isinstance(lazy, LazyTensor) and lazy.file_bytes is not None],
    )


def _write_gguf_tokenizer(ckpt: Checkpoint, out: Path, copied: list[str], skipped: list[tuple[str, str]]) -> None:
    """The tokenizer the GGUF metadata carries, as tokenizer.json and tokenizer_config.json, unless the file's folder
    shipped its own (copied already). One modelport cannot build is reported, and the weights still convert."""
    from ..tokenization import TOKENIZER_FILES, write_gguf_tokenizer

    if "tokenizer.json" in copied:
        return
    try:
        copied.extend(write_gguf_tokenizer(ckpt.path, out))
    except ModelportError as exc:
        logger.warning("%s: no tokenizer written: %s", ckpt.path, exc)
        skipped.extend((name, f"not built from the GGUF metadata: {exc.problem}") for name in TOKENIZER_FILES)


def _source_config(folder: Path, ckpt: Checkpoint, to: str) -> PretrainedConfig | None:
    """The source's config: its config.json, or a GGUF file's metadata; None when neither exists.

    Into PyTorch, an architecture modelport has no config class for is read as a plain config: names decide every
    PyTorch weight, and the architecture tables (:mod:`modelport.conversion.architectures`) give the rest."""
    if ckpt.format == "gguf":
        return AutoConfig.for_model(**ckpt.gguf_config)
    if not (folder / "config.json").is_file():
        return None
    if not AutoConfig.knows(folder):
        if frameworks.get(to).names_like == "pt":
            return PretrainedConfig.from_pretrained(folder)
        from ..auto import CONFIG_MAPPING

        model_type = getattr(PretrainedConfig.from_pretrained(folder), "model_type", "") or "(none)"
        raise ConversionError(
            f"modelport has no {to} model class for model_type {model_type!r}: converting into {to} needs one, to know "
            "each weight's layer kind", where=str(folder / "config.json"), expected="one of " + ", ".join(sorted(CONFIG_MAPPING)),
            received=model_type, fix="Convert into PyTorch (--to pt): every architecture transformers 4.x wrote converts there.")
    return AutoConfig.from_pretrained(folder)


def _settle_ties(plan: Plan, ckpt: Checkpoint) -> list[str]:
    """Weights PyTorch ties that the source stores apart: an equal copy is left out (proven redundant); a different
    one is written, and the result's config must untie them. Returns the config changes that makes."""
    changes: list[str] = []
    for copy, origin in plan.ties:
        ours = to_canonical(copy, ckpt[copy], ckpt.framework)[1]
        theirs = to_canonical(origin, ckpt[origin], ckpt.framework)[1]
        if ours.shape == theirs.shape and np.array_equal(ours, theirs):
            plan.steps = [step for step in plan.steps if step.source != copy]
            plan.checks.append(Check(copy, "tied", origin))
        elif not changes:
            logger.info("%s holds other values than %s, which PyTorch ties it to: the result sets tie_word_embeddings "
                        "to false", copy, origin)
            changes.append(f"tie_word_embeddings: false ({copy} is not a copy of {origin})")
    return changes


def _untie_config(path: Path) -> None:
    """Set ``tie_word_embeddings`` false in the result's config.json (written atomically)."""
    from ..fsutil import write_text_atomic
    from ..jsonio import dump_json, read_json_file

    document = read_json_file(path, error=ConversionError)
    document["tie_word_embeddings"] = False
    write_text_atomic(path, dump_json(document, where=str(path), error=ConversionError))


def _dropped(plan: Plan, failed: set[str]) -> list[tuple[str, str]]:
    """The source tensors left out as redundant, each with the proof that allowed it."""
    dropped = [(name, "stored as a view of the weight it is tied to") for name in plan.aliased]
    dropped.extend((name, f"{why} (the architecture's table)") for name, why in plan.dropped)
    written = {step.source for step in plan.steps}
    for check in plan.checks:
        if check.source in failed or check.source in written:
            continue
        if check.kind == "tied":
            dropped.append((check.source, f"a tied copy of {check.other}, checked equal"))
        else:
            dropped.append((check.source, "a buffer the model computes, checked to hold that value"))
    return dropped


def _refuse_tagged_dtypes(ckpt: Checkpoint, plan: Plan, out: Path, spec: file_formats.FileFormat) -> None:
    """A format with no type for a dtype stores it tagged (h5: as integers), and transformers and Keras would load
    it as wrong numbers, silently. Ask first."""
    for step in plan.steps:
        dtype = step.dtype if step.made else ckpt.info(step.source).dtype
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


def _read_transformed(ckpt: Checkpoint, step: Step, to: str) -> np.ndarray:
    """The source tensor of ``step`` in the target's layout. A matrix to transpose whose bytes lie plainly in its
    file is transposed as it is read (in cache-sized bands: 2x faster than a read, then a transpose)."""
    if step.made:  # a weight the source's framework computes and PyTorch stores (the architecture's table)
        return made_tensor(step.made, step.shape, step.dtype, step.value)
    info = ckpt.info(step.source)
    found = ckpt.file_bytes(step.source) if swaps_matrix(step, len(info.shape), ckpt.framework, to) else None
    if found is None:
        return transform(step, ckpt[step.source], ckpt.framework, to)
    rows, cols = info.shape
    array = read_transposed(found, info.dtype, (rows, cols), where=f"{found.path} (tensor {step.source!r})")
    found.verify()  # the file did not change while it was read
    return reconcile_shape(step.tree_name, array, step.shape)


def _lazy_tensors(ckpt: Checkpoint, plan: Plan, to: str, cast: str | None, bar: ConversionProgress,
                  scratch: ScratchBuffers | None) -> tuple[list, int]:
    """The output tensors, each read and transformed only when the writer asks for it; and their total bytes."""
    out_dtypes = {}
    for step in plan.steps:
        dtype = step.dtype if step.made else ckpt.info(step.source).dtype
        out_dtypes[step.target] = cast if cast is not None and DTYPES[dtype].is_floating else dtype  # integers keep theirs
    total = sum(int(np.prod(s.shape, dtype=np.int64)) * DTYPES[out_dtypes[s.target]].itemsize for s in plan.steps)

    def load(step: Any) -> np.ndarray:
        # loads run one at a time, in write order (on the writer's prefetch thread)
        with scratch.lending() if scratch is not None else contextlib.nullcontext():
            array = _read_transformed(ckpt, step, to)
        if cast is not None and DTYPES[canonical_dtype(str(array.dtype))].is_floating:
            array = array.astype(DTYPES[cast].numpy)
        bar.advance(array.nbytes)
        return array

    def unchanged_bytes(step: Any) -> FileBytes | None:
        """The source's bytes, when the writer may copy them file to file: same dtype, no transpose."""
        if step.made:
            return None
        info = ckpt.info(step.source)
        if scratch is None or out_dtypes[step.target] != info.dtype or not keeps_bytes(step, len(info.shape), ckpt.framework, to):
            return None
        found = ckpt.file_bytes(step.source)
        if found is None:
            return None

        def verify() -> None:
            found.verify()
            bar.advance(found.nbytes)

        return FileBytes(found.path, found.offset, found.nbytes, verify)

    tensors = [(s.target, LazyTensor(out_dtypes[s.target], s.shape, functools.partial(load, s), prefetch=True,
                                     file_bytes=unchanged_bytes(s))) for s in plan.steps]
    return tensors, total
