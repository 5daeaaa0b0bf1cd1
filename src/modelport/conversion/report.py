"""What a conversion did, with its figures: the object ``convert`` returns and the CLI prints or dumps as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ConversionReport", "peak_rss_mb"]


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
    #: source tensors left out of the output because they are proven redundant: (name, why)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    #: what the conversion changed in the copied config.json, and why
    config_changes: list[str] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0  # the whole call: opening, the target's tree, streaming, copying, verifying, pushing
    write_seconds: float = 0.0  # reading, transforming and writing the tensors
    verify_seconds: float = 0.0  # running both models (0 without verify)
    peak_rss_mb: float = 0.0  # the process's peak resident memory so far (benchmarks/ measures a conversion alone)
    files: list[str] = field(default_factory=list)
    index_file: str | None = None  # the shards' index, when the result is sharded
    copied: list[str] = field(default_factory=list)  # files that belong with the checkpoint (config, tokenizer, card...)
    #: other files of the source that were not copied (exports, code, other formats' weights): (name, why)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: tensors whose bytes were copied file to file, unchanged (no transpose, no cast): never read into memory
    unchanged: list[str] = field(default_factory=list)
    verification: dict[str, float] | None = None
    tolerance: float | None = None
    verified_with: str = ""  # whose classes ran the two models: modelport's adapters or transformers'
    pushed: str | None = None  # the commit (or pull request) URL of --push

    @property
    def ok(self) -> bool:
        """No missing or mismatched weights (unexpected ones are reported, not fatal)."""
        return not self.missing and not self.mismatched

    @property
    def throughput_mb_s(self) -> float:
        """Tensor bytes per second of the streaming part (reading, transforming, writing, fsync)."""
        return self.bytes / self.write_seconds / 1e6 if self.write_seconds else 0.0

    def summary(self) -> str:
        parts = f"streaming {self.write_seconds:.2f} s, {self.throughput_mb_s:,.0f} MB/s"
        if self.verification is not None:
            parts += f"; verifying {self.verify_seconds:.2f} s"
        lines = [f"{self.source_framework} -> {self.target_framework} ({self.format}): {len(self.converted)} tensors, "
                 f"{self.bytes / 1e6:,.1f} MB in {self.seconds:.2f} s ({parts}), "
                 f"peak RSS {self.peak_rss_mb:,.0f} MB; wrote {', '.join(self.files)}"
                 + (f"; copied {len(self.copied)} other file(s)" if self.copied else "")]
        for label, names in (("missing", self.missing), ("unexpected", self.unexpected)):
            if names:
                lines.append(f"{label} ({len(names)}): {', '.join(names)}")
        for name, have, want in self.mismatched:
            lines.append(f"mismatched: {name} is {list(have)}, the target needs {list(want)}")
        if self.dropped:
            lines.append(f"left out ({len(self.dropped)}): " + "; ".join(f"{name} ({why})" for name, why in self.dropped))
        if self.config_changes:
            lines.append("config.json changed: " + "; ".join(self.config_changes))
        if self.skipped:
            lines.append(f"not copied ({len(self.skipped)}): " + "; ".join(f"{name} ({why})" for name, why in self.skipped))
        if self.verification is not None:
            worst = max(self.verification.values())
            diffs = ", ".join(f"{k} {v:.2e}" for k, v in self.verification.items())
            verdict = "OK" if worst <= (self.tolerance or 0.0) else "FAILED"
            lines.append(f"verify: max |diff| {diffs} (tolerance {self.tolerance:.0e}) in {self.verify_seconds:.2f} s: {verdict}"
                         + (f", with {self.verified_with}" if self.verified_with else ""))
        if self.pushed:
            lines.append(f"pushed: {self.pushed}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The ``modelport convert --json`` document (docs/cli.md): every field, plus ``ok`` and ``throughput_mb_s``."""
        document = asdict(self)
        document["mismatched"] = [{"name": n, "shape": list(have), "expected": list(want)} for n, have, want in self.mismatched]
        document["dropped"] = [{"name": n, "reason": why} for n, why in self.dropped]
        document["skipped"] = [{"name": n, "reason": why} for n, why in self.skipped]
        document["ok"] = self.ok
        document["throughput_mb_s"] = self.throughput_mb_s
        return document


def peak_rss_mb() -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
