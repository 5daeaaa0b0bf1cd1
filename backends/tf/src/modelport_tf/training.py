"""Training with Keras: the model's own loss by default, datasets, and a model card from the History."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import ConfigError
from modelport.fsutil import write_text_atomic

from ._keras import keras, tf

__all__ = ["TrainingMixin"]

logger = logging.getLogger(__name__)

_LABEL_ALIASES = {"label": "labels", "label_ids": "labels"}


class TrainingMixin:
    """``compile``/``train_step``/``test_step``/``prepare_tf_dataset``/``create_model_card`` for Keras models."""

    _uses_internal_loss = True

    def compile(self, optimizer: Any = "rmsprop", loss: Any = "auto_with_warning", metrics: Any = None,
                loss_weights: Any = None, weighted_metrics: Any = None, run_eagerly: bool = False,
                steps_per_execution: int = 1, jit_compile: Any = "auto", **kwargs: Any) -> None:
        """Keras' ``compile``; with no loss (the default), the model's own loss (from ``labels``) is trained."""
        self._uses_internal_loss = loss in ("auto_with_warning", "auto", None)
        if loss == "auto_with_warning":
            logger.info("No loss given to compile(): the model's own loss is used. Pass loss=... to use another.")
        super().compile(optimizer=optimizer, loss=None if self._uses_internal_loss else loss, metrics=metrics,  # type: ignore[misc]
                        loss_weights=loss_weights, weighted_metrics=weighted_metrics, run_eagerly=run_eagerly,
                        steps_per_execution=steps_per_execution, jit_compile=jit_compile, **kwargs)

    def _split_batch(self, data: Any) -> tuple[dict[str, Any], Any, Any]:
        """Inputs with labels matched to the model: ``y`` becomes ``labels`` when the model's loss is used."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x = dict(x) if isinstance(x, Mapping) else {self.main_input_name: x}  # type: ignore[attr-defined]
        for alias, name in _LABEL_ALIASES.items():
            if alias in x and name not in x:
                x[name] = x.pop(alias)
        names = self._label_names
        if self._uses_internal_loss:
            if y is not None and not any(name in x for name in names):
                x.update({name: y[name] for name in names if name in y} if isinstance(y, Mapping) else {names[0]: y})
        elif y is None:
            y = x.pop("labels", None)
        return x, y, sample_weight

    @property
    def _label_names(self) -> tuple[str, ...]:
        """The inputs the model's own loss reads (question answering: ``start_positions`` and ``end_positions``)."""
        return tuple(getattr(self, "label_names", ("labels",)))

    def _batch_loss(self, x: dict[str, Any], y: Any, sample_weight: Any, training: bool) -> tuple[Any, Any]:
        if self._uses_internal_loss:
            if not any(name in x for name in self._label_names):
                raise ConfigError("training with the model's own loss needs labels", where=type(self).__name__,
                                  expected=list(self._label_names), received=sorted(x),
                                  fix=f"Give the data {' and '.join(map(repr, self._label_names))} columns (or y), "
                                      "or pass loss=... to compile().")
            out = self(x, training=training)  # type: ignore[operator]
            return out["loss"], out
        out = self(x, training=training)  # type: ignore[operator]
        return self.compute_loss(x=x, y=y, y_pred=out["logits"], sample_weight=sample_weight), out  # type: ignore[attr-defined]

    def _report_metrics(self, x: dict[str, Any], y: Any, out: Any, loss: Any, sample_weight: Any) -> dict[str, Any]:
        """Feed Keras' own loss tracker and compiled metrics, so History and evaluate() see real values."""
        batch = tf.shape(x[self.main_input_name])[0]  # type: ignore[attr-defined]
        self._loss_tracker.update_state(loss, sample_weight=batch)  # type: ignore[attr-defined]
        labels = x.get(self._label_names[0]) if self._uses_internal_loss else y
        predictions = out["logits"] if "logits" in out else None  # question answering has start and end logits instead
        return self.compute_metrics(x, labels, predictions, sample_weight=sample_weight)  # type: ignore[attr-defined]

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y, sample_weight = self._split_batch(data)
        with tf.GradientTape() as tape:
            loss, out = self._batch_loss(x, y, sample_weight, training=True)
        variables = self.trainable_variables  # type: ignore[attr-defined]
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))  # type: ignore[attr-defined]
        return self._report_metrics(x, y, out, loss, sample_weight)

    def test_step(self, data: Any) -> dict[str, Any]:
        x, y, sample_weight = self._split_batch(data)
        loss, out = self._batch_loss(x, y, sample_weight, training=False)
        return self._report_metrics(x, y, out, loss, sample_weight)

    # -- datasets -------------------------------------------------------------------------------
    def prepare_tf_dataset(self, dataset: Any, batch_size: int = 8, shuffle: bool = True, tokenizer: Any = None,
                           collate_fn: Callable[..., Any] | None = None, collate_fn_args: dict[str, Any] | None = None,
                           drop_remainder: bool | None = None, prefetch: bool = True) -> Any:
        """A batched ``tf.data.Dataset`` of the columns the model takes (and its labels).

        ``dataset`` is a ``datasets.Dataset`` or a mapping of equal-length
        columns. Rows of different lengths need ``collate_fn`` (or a
        ``tokenizer`` whose ``pad`` is used). ``drop_remainder`` defaults to ``shuffle``.
        """
        columns = _columns(dataset)
        accepted = set(inspect.signature(self.call).parameters) | {"labels"}  # type: ignore[attr-defined]
        columns = {_LABEL_ALIASES.get(name, name): values for name, values in columns.items()
                   if _LABEL_ALIASES.get(name, name) in accepted}
        if not columns:
            raise ConfigError("the dataset has no column the model takes", where="prepare_tf_dataset",
                              expected=sorted(accepted - {"training", "kwargs"}), received=sorted(_columns(dataset)))
        lengths = {name: len(values) for name, values in columns.items()}
        if len(set(lengths.values())) != 1:
            raise ConfigError("the dataset's columns differ in length", where="prepare_tf_dataset", received=lengths)
        drop_remainder = shuffle if drop_remainder is None else drop_remainder
        if tokenizer is not None and collate_fn is None:
            collate_fn = lambda rows, **kw: tokenizer.pad(rows, return_tensors="np", **kw)  # noqa: E731
        if collate_fn is None:
            arrays = {}
            for name, values in columns.items():
                try:
                    arrays[name] = np.asarray(values)
                except ValueError:
                    arrays[name] = np.asarray(values, dtype=object)
                if arrays[name].dtype == object:
                    raise ConfigError("a column's rows differ in length", where=f"prepare_tf_dataset ({name})",
                                      fix="Pad them first, or pass tokenizer= or collate_fn= to batch them.")
            data = tf.data.Dataset.from_tensor_slices(arrays)
            if shuffle:
                data = data.shuffle(len(next(iter(arrays.values()))), reshuffle_each_iteration=True)
            data = data.batch(batch_size, drop_remainder=drop_remainder)
        else:
            data = _collated(columns, batch_size, shuffle, collate_fn, collate_fn_args or {}, drop_remainder)
        return data.prefetch(tf.data.AUTOTUNE) if prefetch else data

    # -- model card -----------------------------------------------------------------------------
    def create_model_card(self, output_dir: str | os.PathLike[str], model_name: str, language: str | None = None,
                          license: str | None = None, tags: list[str] | None = None, finetuned_from: str | None = None,
                          tasks: str | None = None, dataset_tags: Any = None, dataset: Any = None, dataset_args: Any = None) -> Path:
        """Write ``README.md`` with the training results Keras recorded in ``model.history``."""
        history = getattr(getattr(self, "history", None), "history", None) or {}
        front = ["---", "library_name: modelport", *([f"language: {language}"] if language else []),
                 *([f"license: {license}"] if license else []),
                 *(["tags:", *[f"- {t}" for t in tags]] if tags else []),
                 *([f"base_model: {finetuned_from}"] if finetuned_from else []),
                 *(["datasets:", *[f"- {d}" for d in ([dataset_tags] if isinstance(dataset_tags, str) else dataset_tags)]]
                   if dataset_tags else []),
                 "---", ""]
        body = [f"# {model_name}", ""]
        about = f"This model is a fine-tuned version of {finetuned_from}" if finetuned_from else "This model was trained"
        body.append(f"{about}{f' on {dataset}' if dataset else ''} with Keras {keras.__version__} and modelport-tf.")
        body.append("")
        if tasks:
            body += [f"Task: {tasks}", ""]
        if history:
            names = list(history)
            body += ["## Training results", "", "| epoch | " + " | ".join(names) + " |",
                     "|---|" + "---|" * len(names)]
            for epoch in range(len(next(iter(history.values())))):
                body.append(f"| {epoch} | " + " | ".join(f"{float(history[n][epoch]):.4f}" for n in names) + " |")
            body.append("")
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None:
            body += ["## Training hyperparameters", "", f"- optimizer: {type(optimizer).__name__}",
                     f"- learning_rate: {float(keras.ops.convert_to_numpy(optimizer.learning_rate)):.3g}", ""]
        path = Path(os.fspath(output_dir)) / "README.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, "\n".join(front + body))
        return path


def _columns(dataset: Any) -> dict[str, Any]:
    if hasattr(dataset, "column_names") and hasattr(dataset, "__getitem__"):  # datasets.Dataset
        return {name: dataset[name] for name in dataset.column_names}
    if isinstance(dataset, Mapping):
        return dict(dataset)
    raise ConfigError("prepare_tf_dataset needs a datasets.Dataset or a mapping of columns", where="prepare_tf_dataset",
                      received=type(dataset).__name__)


def _collated(columns: dict[str, Any], batch_size: int, shuffle: bool, collate_fn: Callable[..., Any],
              collate_args: dict[str, Any], drop_remainder: bool) -> Any:
    count = len(next(iter(columns.values())))

    def batches():  # type: ignore[no-untyped-def]
        order = np.random.permutation(count) if shuffle else np.arange(count)
        for start in range(0, count, batch_size):
            chunk = order[start:start + batch_size]
            if drop_remainder and len(chunk) < batch_size:
                return
            rows = [{name: values[int(i)] for name, values in columns.items()} for i in chunk]
            yield {name: np.asarray(value) for name, value in dict(collate_fn(rows, **collate_args)).items()}

    first = next(batches())
    # lengths vary per batch
    signature = {name: tf.TensorSpec((None,) * value.ndim, tf.as_dtype(value.dtype), name=name) for name, value in first.items()}
    return tf.data.Dataset.from_generator(batches, output_signature=signature)
