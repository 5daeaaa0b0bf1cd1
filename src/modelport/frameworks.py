"""Checkpoint frameworks: whose names a checkpoint carries, and each one's file conventions, as registered data.

A checkpoint framework is a naming and layout convention plus its files:
transformers 4.x defines three (``pt``, ``tf``, ``flax``), and the core knows
them without any adapter installed, so a numpy-only install still downloads,
inspects and converts them. An adapter names the one its models use
(``Adapter.checkpoint_framework``); a third-party adapter may declare a new
one with a :class:`CheckpointFramework` record of its own
(``Adapter.checkpoint_facts``), and from then on the converter, the CLI and
the Hub resolver treat it like the others: ``modelport convert --to NAME``.
Nothing outside this module branches on ``"pt"``, ``"tf"`` or ``"flax"`` to
find these facts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConversionError

__all__ = ["CheckpointFramework", "BUILTIN", "get", "tags", "adapter_for"]


@dataclass(frozen=True)
class CheckpointFramework:
    """One checkpoint convention."""

    #: the tag written in safetensors metadata (``format``) and used everywhere as its name
    tag: str
    #: the adapter that runs its models (an install hint when it is missing)
    adapter: str
    #: the format ``--format native`` writes and ``save_pretrained(safe_serialization=False)`` saves
    native_format: str
    #: the formats its loaders look for, in order (transformers 4.x's orders for the built-in three)
    load_preference: tuple[str, ...]
    #: whose naming and layout rules its tensor names follow (``modelport.conversion.rules``): one of the built-in tags
    naming: str = ""
    #: index keys carry the model scope (``tf_bert_model/bert/...``) while the files' names do not
    scoped_index_keys: bool = False
    #: sharded indexes record ``total_parameters`` in their metadata (as transformers' PyTorch saves do)
    index_counts_parameters: bool = False
    #: its safetensors files join path components with dots (Flax's ``a/b/kernel`` is stored as ``a.b.kernel``)
    dotted_safetensors_names: bool = False
    #: a tied weight that a model lists under a second name is a variable of its own there, filled from the weight it
    #: copies (TF ALBERT's ``predictions/decoder/bias``); PyTorch lists one shared tensor under both names instead
    holds_tied_copies: bool = True

    @property
    def names_like(self) -> str:
        return self.naming or self.tag


BUILTIN: dict[str, CheckpointFramework] = {
    "pt": CheckpointFramework("pt", "torch", "bin", ("safetensors", "bin"), index_counts_parameters=True,
                              holds_tied_copies=False),
    "tf": CheckpointFramework("tf", "tf", "h5", ("safetensors", "h5"), scoped_index_keys=True),
    "flax": CheckpointFramework("flax", "flax", "msgpack", ("msgpack", "safetensors"), dotted_safetensors_names=True),
}


def _declared() -> dict[str, CheckpointFramework]:
    """Frameworks declared by installed adapters (their adapter classes are light to import)."""
    from . import adapters

    found: dict[str, CheckpointFramework] = {}
    for name in adapters.available():
        try:
            cls = adapters.adapter_class(name)
        except Exception:  # noqa: BLE001 - a broken third-party adapter must not hide the others
            continue
        facts = getattr(cls, "checkpoint_facts", None)
        if facts is not None and facts.tag not in BUILTIN:
            found[facts.tag] = facts
    return found


def tags() -> list[str]:
    """Every known checkpoint framework: the built-in three first, then those adapters declare."""
    return [*BUILTIN, *sorted(_declared())]


def get(tag: str) -> CheckpointFramework:
    """The record of ``tag``; a :class:`ConversionError` lists the known ones."""
    if tag in BUILTIN:
        return BUILTIN[tag]
    declared = _declared()
    if tag in declared:
        return declared[tag]
    raise ConversionError("unknown checkpoint framework", where="modelport.frameworks", expected=", ".join(tags()),
                          received=tag, fix="Install the adapter that declares it.")


def adapter_for(tag: str) -> str:
    """The name of the adapter that runs ``tag``'s models."""
    return get(tag).adapter
