"""Keras 3 building blocks whose variables carry transformers' TF names.

Keras 3 no longer builds hierarchical variable names, so names come from the
layer tree instead (:func:`named_variables`): each layer's ``name`` is one
path component and each variable's ``name`` the last one, exactly as
transformers' Keras 2 models named them (``bert/encoder/layer_._0/.../kernel:0``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from modelport.activations import Ops, activation_table
from modelport.formats._buffers import aligned_copy, is_aligned

from ._keras import keras, tf

__all__ = [
    "named_variables",
    "normal",
    "deferred_variables",
    "dtype_policy",
    "initialize_deferred",
    "forget_deferred",
    "dense",
    "layer_norm",
    "with_input_width",
    "build_from_declared_shapes",
    "build_by_call",
    "WeightEmbedding",
    "OutputProjection",
    "Conv1D",
    "activation",
    "shape_list",
    "expand_head_mask",
    "replace_variable",
    "assign_in_place",
]


def named_variables(root: Any) -> dict[str, Any]:
    """Every variable under ``root`` by its scope-free TF name (``bert/pooler/dense/kernel:0``), each once.

    A variable reachable twice (a tied embedding referenced by a head) keeps its first name.
    """
    found: dict[str, Any] = {}
    seen: set[int] = set()

    def walk(layer: Any, prefix: str) -> None:
        for variable in [*layer._trainable_variables, *layer._non_trainable_variables]:
            if id(variable) not in seen:
                seen.add(id(variable))
                found[f"{prefix}{variable.name}:0"] = variable
        for child in layer._layers:
            walk(child, f"{prefix}{child.name}/")

    for variable in [*root._trainable_variables, *root._non_trainable_variables]:
        if id(variable) not in seen:
            seen.add(id(variable))
            found[f"{variable.name}:0"] = variable
    for child in root._layers:
        walk(child, f"{child.name}/")
    return found


@contextlib.contextmanager
def deferred_variables() -> Iterator[None]:
    """Build inside: variables get names and shapes but no memory (Keras' deferred initialisation).

    A loader then gives each variable the checkpoint's tensor as its first
    value (:func:`assign_in_place`) and :func:`initialize_deferred` draws the
    rest, so the model never holds random weights that are about to be
    overwritten (which cost time and, through the generator's temporaries,
    over twice the model's memory).
    """
    global _deferring
    _deferring, before = True, _deferring
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        _deferring = before


@contextlib.contextmanager
def dtype_policy(dtype: str) -> Iterator[None]:
    """Layers constructed inside take ``dtype`` as their Keras dtype policy: variables and computation in it.

    Keras gives a layer the global policy when it is constructed and no dtype
    is passed, and sub-layers do not inherit their parent's; setting the
    global policy for the construction reaches every layer of a model.
    """
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


_deferring = False  # inside deferred_variables(): a build by call must be traced, since the variables hold no values


def build_by_call(model: Any) -> None:
    """Create every variable by calling ``model`` on its dummy inputs: traced in a graph while variables are
    deferred (nothing is computed), eager otherwise."""
    if not _deferring:
        model(model.dummy_inputs, training=False)
        return
    with tf.__internal__.FuncGraph("modelport_build").as_default():
        model(model.dummy_inputs, training=False)


def _pending() -> list[Any]:
    from keras.src.backend.common import global_state

    return list(global_state.get_global_attribute("uninitialized_variables") or [])


def _set_pending(variables: list[Any]) -> None:
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("uninitialized_variables", variables)


def initialize_deferred() -> None:
    """Draw initial values, with each layer's own initialiser, for deferred variables nothing filled."""
    from keras.src.backend.common.variables import initialize_all_variables

    _set_pending([v for v in _pending() if v._value is None])
    initialize_all_variables()


def forget_deferred(variables: Any) -> None:
    """Drop never-to-be-used deferred variables (a shape-only model) so Keras never initialises them."""
    drop = {id(v) for v in variables}
    _set_pending([v for v in _pending() if id(v) not in drop])


def normal(stddev: float) -> Any:
    return keras.initializers.TruncatedNormal(stddev=stddev)


def dense(units: int, initializer_range: float, name: str, input_width: int, **kwargs: Any) -> Any:
    """A Keras Dense layer that can be built without a call (see :func:`build_from_declared_shapes`)."""
    layer = keras.layers.Dense(units, kernel_initializer=normal(initializer_range), name=name, **kwargs)
    return with_input_width(layer, input_width)


def layer_norm(epsilon: float, name: str, width: int) -> Any:
    return with_input_width(keras.layers.LayerNormalization(epsilon=epsilon, name=name), width)


def with_input_width(layer: Any, width: int) -> Any:
    """Declare the last dimension of what ``layer`` is called on, so that it can be built without a call."""
    object.__setattr__(layer, "_modelport_input_shape", (None, int(width)))  # not tracked: Keras would wrap it
    return layer


def _needs_input_shape(layer: Any) -> bool:
    """A layer whose ``build`` reads its input shape, which nobody declared (a Keras built-in or a custom layer).

    Keras marks ``Layer.build`` itself ``_is_default``: a layer without a ``build`` of its own needs no shape.
    """
    if layer.built or getattr(layer.build, "_is_default", False) or getattr(layer, "builds_without_input_shape", False):
        return False
    return getattr(layer, "_modelport_input_shape", None) is None


def _layers_under(root: Any) -> Iterator[Any]:
    yield root
    for child in root._layers:
        yield from _layers_under(child)


def build_from_declared_shapes(root: Any, input_shape: Any = None) -> bool:
    """Create every variable under ``root`` by building each layer, children first, with no call at all.

    A traced call on dummy inputs (what Keras does on first use) costs seconds
    of graph building for a 12-layer model, growing with depth; building from
    declared shapes costs only the variables. Layers whose ``build`` needs an
    input shape declare it (:func:`with_input_width`); layers that size
    themselves from their constructor say ``builds_without_input_shape``.
    ``input_shape`` is recorded as the root's build shape (Keras derives a
    SavedModel's default signature from it). Returns False, having built
    nothing, when some layer's shape is unknown (a custom layer): the caller
    then builds by a call.
    """
    if any(_needs_input_shape(layer) for layer in _layers_under(root)):
        return False
    _build_children_first(root, input_shape)
    return True


def _build_children_first(layer: Any, input_shape: Any = None) -> None:
    if layer.built:
        return
    with layer._open_name_scope():  # variables get the paths a call would give them
        for child in layer._layers:
            _build_children_first(child)
    layer.build(input_shape if input_shape is not None else getattr(layer, "_modelport_input_shape", None))


def shape_list(tensor: Any) -> list[Any]:
    """Static dimensions where known, dynamic ones elsewhere (works inside ``tf.function``)."""
    dynamic = tf.shape(tensor)
    return [dynamic[i] if size is None else size for i, size in enumerate(tensor.shape.as_list())]


def expand_head_mask(head_mask: Any, num_hidden_layers: int) -> Any:
    """``[layers, 1, heads, 1, 1]`` from a ``[heads]`` or ``[layers, heads]`` mask; a list of None for None."""
    if head_mask is None:
        return [None] * num_hidden_layers
    head_mask = tf.convert_to_tensor(head_mask, dtype=tf.float32)
    if head_mask.shape.rank == 1:
        head_mask = tf.tile(head_mask[None, None, :, None, None], [num_hidden_layers, 1, 1, 1, 1])
    elif head_mask.shape.rank == 2:
        head_mask = head_mask[:, None, :, None, None]
    return head_mask


class WeightEmbedding(keras.layers.Layer):
    """An embedding table as one variable; its name (``weight`` or ``embeddings``) follows transformers' TF model."""

    builds_without_input_shape = True  # every size comes from the constructor

    def __init__(self, vocab_size: int, hidden_size: int, initializer_range: float, weight_name: str = "embeddings", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.initializer_range = initializer_range
        self.weight_name = weight_name

    def build(self, input_shape: Any = None) -> None:
        self.weight = self.add_weight(
            name=self.weight_name, shape=(self.vocab_size, self.hidden_size), initializer=normal(self.initializer_range)
        )
        super().build(input_shape)

    def call(self, ids: Any) -> Any:
        return tf.gather(self.weight, tf.cast(ids, tf.int32))

    def attend(self, hidden: Any) -> Any:
        """``hidden @ table.T``: the tied output projection of language-model heads."""
        return _rows_matmul(hidden, self.weight, transpose_b=True)

    def resize(self, new_num_tokens: int) -> None:
        """Replace the table by one of ``new_num_tokens`` rows, keeping the old rows (new ones drawn like init)."""
        old = self.weight
        keep = min(new_num_tokens, int(old.shape[0]))
        fresh = normal(self.initializer_range)((new_num_tokens, self.hidden_size))
        value = tf.concat([old.value[:keep], tf.cast(fresh[keep:], old.dtype)], axis=0)
        replace_variable(self, "weight", value)
        self.vocab_size = new_num_tokens


def _rows_matmul(hidden: Any, matrix: Any, transpose_b: bool = False) -> Any:
    """``hidden @ matrix`` over the last axis as one 2-D GEMM: TF runs a 3-D operand as a batched matmul,
    about 12% slower for a language-model head (8 x 128 tokens, 768 x 32,000)."""
    rows = tf.matmul(tf.reshape(hidden, (-1, hidden.shape[-1])), matrix, transpose_b=transpose_b)
    return tf.reshape(rows, tf.concat([tf.shape(hidden)[:-1], tf.shape(rows)[-1:]], axis=0))


class OutputProjection(keras.layers.Layer):
    """An untied language-model head: ``hidden @ kernel`` with a ``kernel`` of ``[hidden, vocab]`` and no bias.

    Used only when the config unties the output embeddings (``tie_word_embeddings=False``); its
    ``kernel`` is the transpose of PyTorch's ``lm_head.weight``, as any Dense kernel.
    """

    builds_without_input_shape = True  # every size comes from the constructor

    def __init__(self, vocab_size: int, hidden_size: int, initializer_range: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocab_size, self.hidden_size, self.initializer_range = vocab_size, hidden_size, initializer_range

    def build(self, input_shape: Any = None) -> None:
        self.kernel = self.add_weight(name="kernel", shape=(self.hidden_size, self.vocab_size), initializer=normal(self.initializer_range))
        super().build(input_shape)

    def call(self, hidden: Any) -> Any:
        return _rows_matmul(hidden, tf.cast(self.kernel, hidden.dtype))

    def resize(self, new_num_tokens: int) -> None:
        """Keep the old columns; new ones are drawn like at initialisation."""
        old = self.kernel
        keep = min(new_num_tokens, int(old.shape[1]))
        fresh = normal(self.initializer_range)((self.hidden_size, new_num_tokens))
        replace_variable(self, "kernel", tf.concat([old.value[:, :keep], tf.cast(fresh[:, keep:], old.dtype)], axis=1))
        self.vocab_size = new_num_tokens


def assign_in_place(variable: Any, array: Any) -> None:
    """Give ``variable`` the values of ``array`` (same shape and dtype) without a full-size copy.

    ``variable.assign(array)`` converts the array (one copy, two for numpy
    arrays) and copies again into the variable. Here the array is wrapped
    through DLPack (zero-copy) and the variable adopts that buffer: as the first
    value of a deferred variable, or through ``AssignVariableOp``, which frees
    the old one. Dtypes DLPack cannot carry (bfloat16, float8) are converted.
    """
    if not is_aligned(array):  # TF's kernels need 64-byte alignment; a DLPack import does not check it
        array = aligned_copy(array)
    try:
        tensor = tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    except (BufferError, TypeError, ValueError, AttributeError, tf.errors.InvalidArgumentError):
        tensor = tf.convert_to_tensor(array)
    if isinstance(variable, keras.Variable) and variable._value is None:  # deferred: the checkpoint gives its first value
        variable._initialize(tensor)
        return
    target = variable.value if isinstance(variable, keras.Variable) else variable  # Keras 3 wraps a tf.Variable
    if isinstance(target, tf.distribute.DistributedValues):  # a strategy's variable: its handle is one replica's
        target.assign(tensor)
        return
    tf.raw_ops.AssignVariableOp(resource=target.handle, value=tensor)


def replace_variable(layer: Any, attribute: str, value: Any) -> Any:
    """Swap a layer's variable for a new one of another shape, keeping its name and tracking."""
    old = getattr(layer, attribute)
    trainable = old.trainable
    bucket = layer._trainable_variables if trainable else layer._non_trainable_variables
    index = next(i for i, v in enumerate(bucket) if v is old)
    layer._tracker.unlock()
    new = keras.Variable(value, dtype=old.dtype, trainable=trainable, name=old.name)
    bucket[index] = new
    object.__setattr__(layer, attribute, new)
    layer._tracker.lock()
    return new


class Conv1D(keras.layers.Layer):
    """GPT-2's "Conv1D": a dense layer whose ``weight`` is ``[in, out]`` and whose ``bias`` is ``[1, out]``."""

    builds_without_input_shape = True  # every size comes from the constructor

    def __init__(self, nf: int, nx: int, initializer_range: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nf, self.nx, self.initializer_range = nf, nx, initializer_range

    def build(self, input_shape: Any = None) -> None:
        self.weight = self.add_weight(name="weight", shape=(self.nx, self.nf), initializer=normal(self.initializer_range))
        self.bias = self.add_weight(name="bias", shape=(1, self.nf), initializer="zeros")
        super().build(input_shape)

    def call(self, x: Any) -> Any:
        batch, length = shape_list(x)[:2]
        out = tf.matmul(tf.reshape(x, [-1, self.nx]), self.weight) + self.bias
        return tf.reshape(out, [batch, length, self.nf])


_ACTIVATIONS = activation_table(
    Ops(
        gelu=lambda x, approximate: tf.nn.gelu(x, approximate=approximate),
        tanh=tf.tanh,
        sigmoid=tf.sigmoid,
        softplus=tf.nn.softplus,
        erf=tf.math.erf,
        relu=tf.nn.relu,
        minimum=tf.minimum,
        maximum=tf.maximum,
    )
)


def activation(name: str) -> Callable[[Any], Any]:
    """The activation function for a config's name (``gelu``, ``gelu_new``, ``relu``...): the core's formula."""
    return _ACTIVATIONS[name]
