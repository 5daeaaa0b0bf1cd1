import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

from modelport import adapters


def test_jitted_results_belong_to_the_flax_adapter():
    adapter = adapters.get("flax")
    result = jax.jit(lambda x: x * 2)(jnp.ones((2, 2), dtype=jnp.bfloat16))
    assert adapters.for_object(result) is adapter
    back = adapter.to_numpy(result)
    assert back.dtype == np.dtype(ml_dtypes.bfloat16) and back.astype(np.float32).tolist() == [[2.0, 2.0], [2.0, 2.0]]
