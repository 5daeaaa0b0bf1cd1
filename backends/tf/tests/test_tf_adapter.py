import keras
import numpy as np
import tensorflow as tf

from modelport import adapters


def test_variables_of_tf_and_keras_belong_to_the_tf_adapter():
    adapter = adapters.get("tf")
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    for obj in (tf.Variable(values), keras.Variable(values), tf.constant(values)):
        assert adapters.for_object(obj) is adapter
        assert np.array_equal(adapter.to_numpy(obj), values)
        assert adapter.dtype_of(obj) == "float32"
