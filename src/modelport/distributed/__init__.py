"""Loading and saving sharded state: each process reads and writes only the blocks its devices hold.

Framework-neutral: block reads in a model's layout (:mod:`.slices`), partition
rules as data (:mod:`.partition`), and the read trace that proves a process stayed
inside its blocks (:mod:`.trace`). The adapters turn blocks into sharded arrays
(``jax.make_array_from_callback``, ``DTensor.from_local``).
"""

from .partition import FSDP, TP, PartitionRules, default_rules, register_partition_rules, resolve_spec, spec_for
from .slices import BlockReader, box_of
from .trace import Read, recording_reads

__all__ = ["FSDP", "TP", "PartitionRules", "default_rules", "register_partition_rules", "resolve_spec", "spec_for",
           "BlockReader", "box_of", "Read", "recording_reads"]
