"""The core never imports a framework: proven in a fresh interpreter."""

import json
import subprocess
import sys
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden" / "data"
FRAMEWORKS = ("torch", "tensorflow", "jax", "jaxlib", "flax", "keras")

SCRIPT = r"""
import json, sys
from pathlib import Path
import numpy as np
import modelport
from modelport import adapters, AutoConfig
from modelport.formats.safetensors import read_header

golden = Path(sys.argv[1])
seen = {}
seen["adapters"] = adapters.available()
for name in seen["adapters"]:
    adapters.get(name)                       # loading every adapter class imports no framework
seen["numpy_owner"] = adapters.for_object(np.ones(3)).name
for arch in ("bert", "gpt2"):
    AutoConfig.from_pretrained(golden / arch / "pt-safetensors").save_pretrained(Path(sys.argv[2]) / arch)
    seen[arch] = len(read_header(golden / arch / "pt-safetensors" / "model.safetensors").tensors)
from modelport.checkpoint import Checkpoint
from modelport.saving import save_checkpoint
for folder in ("pt-safetensors-sharded", "pt-bin", "tf-h5-sharded", "flax-msgpack", "tf-safetensors"):
    ckpt = Checkpoint.open(golden / "gpt2" / folder)
    seen[folder] = sum(ckpt[name].size for name in ckpt)
    for fmt in ("safetensors", "h5", "msgpack"):
        save_checkpoint(Path(sys.argv[2]) / folder / fmt, [(n, ckpt.lazy(n)) for n in ckpt], format=fmt, max_shard_size="20KB")
from modelport.distributed import default_rules, spec_for
from modelport.distributed.saving import LOCAL, GlobalTensor, save_sharded
spec_for(default_rules("llama", "tp"), "llama", "model.layers.0.self_attn.q_proj.weight", "pt", (8, 8), {"x": 2})
block = np.ones((4, 2), dtype=np.float32)
save_sharded(Path(sys.argv[2]) / "sharded", [GlobalTensor("w", "float32", (4, 2), lambda: iter([(((0, 4), (0, 2)), block)]))], LOCAL)
try:
    from modelport.cli import main
    main(["demo", "--core"])
except modelport.errors.CheckpointNotFoundError:
    pass
seen["loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in {frameworks})
print(json.dumps(seen))
"""


def test_core_imports_no_framework(tmp_path):
    script = SCRIPT.replace("{frameworks}", repr(set(FRAMEWORKS)))
    done = subprocess.run(
        [sys.executable, "-c", script, str(GOLDEN), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["loaded"] == []
    assert seen["numpy_owner"] == "numpy" and seen["bert"] > 10 and seen["gpt2"] > 10
    # every format was read in full (the .bin also stores the tied lm_head, 64 x 24)
    assert seen["tf-h5-sharded"] == seen["flax-msgpack"] == seen["pt-bin"] - 64 * 24 == 16800
    assert (tmp_path / "bert" / "config.json").is_file()
