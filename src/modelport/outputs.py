"""``ModelOutput``: what every adapter's models return, with transformers 4.x's behaviour.

* attribute and key access: ``out.logits``, ``out["logits"]``;
* integer access and :meth:`~ModelOutput.to_tuple` over the fields that are set,
  in field order: ``out[0]`` is the loss when there is one, else the logits;
* a field the output declares but that is None (``out.loss`` without labels) is
  None as an attribute and absent as a key, as in transformers;
* any other attribute is an ``AttributeError`` naming the fields (a misspelt
  name never reads as None).

Models return ``out.to_tuple()`` instead under ``return_dict=False`` (or
``config.return_dict = False``); the base classes of the adapters do that once.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["ModelOutput", "OUTPUT_FLAGS", "accepted_output_flags", "call_with_output_conventions"]


class ModelOutput(dict):
    """Outputs by name and by position; see the module docstring.

    Example:
        >>> out = ModelOutput(loss=None, logits=[1.0], hidden_states=None)
        >>> out[0], out.loss, list(out)
        ([1.0], None, ['logits'])
    """

    def __init__(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), /, **fields: Any) -> None:
        # the positional form lets tree utilities (tf.nest) rebuild an output from (key, value) pairs
        fields = {**dict(values), **fields}
        super().__init__({k: v for k, v in fields.items() if v is not None})
        object.__setattr__(self, "_fields", tuple(fields))

    def __getattr__(self, name: str) -> Any:
        if name in self:
            return self[name]
        if name in self.__dict__.get("_fields", ()):
            return None
        raise AttributeError(f"{type(self).__name__} has no field {name!r}; its fields are: "
                             + ", ".join(self.__dict__.get("_fields", ())))

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._fields:
            object.__setattr__(self, "_fields", (*self._fields, name))
        if value is None:
            self.pop(name, None)
            return
        self[name] = value
        ordered = {k: self[k] for k in self._fields if k in self}  # keys keep the fields' declared order
        self.clear()
        self.update(ordered)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(key)
        return self.to_tuple()[key]

    def to_tuple(self) -> tuple[Any, ...]:
        """The values that are set, in field order."""
        return tuple(self[k] for k in self._fields if k in self)

    def __reduce__(self) -> Any:  # pickles and copies keep the declared fields
        return (_rebuild, (type(self), dict(self), self._fields))


def _rebuild(cls: type[ModelOutput], values: dict[str, Any], fields: tuple[str, ...]) -> ModelOutput:
    return cls(**{name: values.get(name) for name in fields})


#: the output switches a model's call takes; left out, they come from the config
OUTPUT_FLAGS = ("output_hidden_states", "output_attentions")


@functools.cache
def accepted_output_flags(function: Callable[..., Any]) -> tuple[str, ...]:
    """The :data:`OUTPUT_FLAGS` ``function`` (a model's ``forward``/``call``/``__call__``) takes."""
    parameters = inspect.signature(function).parameters
    return tuple(flag for flag in OUTPUT_FLAGS if flag in parameters)


def call_with_output_conventions(config: Any, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                                 accepted: Iterable[str]) -> Any:
    """Run a model's call with transformers' conventions, the same in every adapter: switches the call leaves out
    (or passes as None) come from the config, and ``return_dict=False`` (or ``config.return_dict = False``)
    returns :meth:`ModelOutput.to_tuple`."""
    return_dict = kwargs.pop("return_dict", None)
    for flag in accepted:
        if kwargs.get(flag) is None:
            kwargs[flag] = bool(getattr(config, flag, False))
    out = function(*args, **kwargs)
    as_dict = return_dict if return_dict is not None else getattr(config, "use_return_dict", True)
    return out.to_tuple() if isinstance(out, ModelOutput) and not as_dict else out
