import importlib.util

import numpy as np
import pytest

from modelport import adapters
from modelport.adapters import Adapter, Capabilities
from modelport.errors import AdapterError, AdapterNotFoundError


class FakeTensor:
    """A stand-in framework tensor: its module root is this test module's."""

    def __init__(self, values):
        self.values = list(values)


class FakeTensorSubclass(FakeTensor):
    pass


class FakeAdapter(Adapter):
    name = "fake"
    distribution = "fake-adapter"
    framework_module = "test_registry"
    tensor_types = ((__name__.partition(".")[0], "FakeTensor"),)
    capabilities = Capabilities(exact_dtypes=("int64",))

    def to_numpy(self, tensor):
        return np.asarray(tensor.values, dtype=np.int64)

    def from_numpy(self, array):
        return FakeTensor(array.tolist())


@pytest.fixture
def fake_adapter():
    adapters.register(FakeAdapter)
    yield adapters.get("fake")
    adapters._registered.pop("fake", None)
    adapters._reset()


def test_numpy_reference_adapter_ships_with_the_core():
    assert "numpy" in adapters.available()
    numpy_adapter = adapters.get("numpy")
    assert adapters.get("numpy") is numpy_adapter
    assert adapters.for_object(np.zeros(2)) is numpy_adapter
    assert adapters.for_object(np.float32(1.0)) is numpy_adapter
    assert numpy_adapter.to_numpy([1, 2]).tolist() == [1, 2]
    assert "bfloat16" in numpy_adapter.capabilities.exact_dtypes


def test_registered_adapter_is_found_by_type_name_and_subclass(fake_adapter):
    assert "fake" in adapters.available()
    assert adapters.for_object(FakeTensor([1])) is fake_adapter
    assert adapters.for_object(FakeTensorSubclass([2])) is fake_adapter
    assert fake_adapter.to_numpy(FakeTensor([3, 4])).tolist() == [3, 4]


class WrappedTensor(FakeTensor):
    """A tensor type of a wrapper framework built on the fake one."""


class AaaWrapperAdapter(FakeAdapter):
    name = "aaa-wrapper"  # sorts before "fake": name order must not decide
    tensor_types = ((__name__.partition(".")[0], "WrappedTensor"),)


class ZzzWrapperAdapter(AaaWrapperAdapter):
    name = "zzz-wrapper"  # sorts after "fake"


@pytest.mark.parametrize("wrapper", [AaaWrapperAdapter, ZzzWrapperAdapter])
def test_the_adapter_of_the_most_specific_type_wins_whatever_its_name(fake_adapter, wrapper):
    adapters.register(wrapper)
    try:
        assert adapters.for_object(WrappedTensor([1])) is adapters.get(wrapper.name)
        assert adapters.for_object(FakeTensorSubclass([1])) is fake_adapter  # the base framework keeps its own tensors
    finally:
        adapters._registered.pop(wrapper.name, None)
        adapters._reset()


def test_objects_nobody_handles_give_a_clear_error():
    with pytest.raises(AdapterNotFoundError) as info:
        adapters.for_object([1, 2, 3])
    assert "builtins.list" in str(info.value) and "numpy" in str(info.value)


def test_unknown_adapter_name_lists_what_is_installed():
    with pytest.raises(AdapterNotFoundError) as info:
        adapters.get("mxnet")
    assert "'mxnet'" in str(info.value) and "numpy" in str(info.value)


@pytest.mark.skipif(importlib.util.find_spec("modelport_torch") is not None, reason="the torch adapter is installed")
def test_missing_first_party_adapter_gives_the_pip_command():
    with pytest.raises(AdapterNotFoundError, match="pip install modelport-torch"):
        adapters.get("torch")


def test_only_adapter_subclasses_can_register():
    with pytest.raises(AdapterError, match="only subclasses"):
        adapters.register(object)  # type: ignore[arg-type]


def test_broken_entry_point_is_an_adapter_error(monkeypatch):
    adapters._reset()
    specs = adapters._entry_point_specs()
    monkeypatch.setitem(specs, "broken", "no_such_module_anywhere:Thing")
    try:
        with pytest.raises(AdapterError, match="could not be imported") as info:
            adapters.get("broken")
        assert "ModuleNotFoundError" in str(info.value)
    finally:
        adapters._reset()
