import pickle

import pytest

from modelport import errors


def test_message_names_place_expectation_and_fix():
    err = errors.FormatError(
        "the header length is impossible", where="/m/model.safetensors", expected="at most 10 bytes", received=99, fix="Re-download it."
    )
    assert str(err) == (
        "/m/model.safetensors: the header length is impossible. Expected at most 10 bytes. Received: 99. Re-download it."
    )
    assert (err.where, err.expected, err.received) == ("/m/model.safetensors", "at most 10 bytes", 99)


def test_long_received_values_are_shortened():
    err = errors.ConfigError("bad", received="x" * 1000)
    assert len(str(err)) < 400 and str(err).endswith("....")


@pytest.mark.parametrize(
    "cls, builtin",
    [
        (errors.ConfigError, ValueError),
        (errors.DtypeError, ValueError),
        (errors.FormatError, ValueError),
        (errors.CheckpointIndexError, errors.FormatError),
        (errors.CheckpointNotFoundError, FileNotFoundError),
        (errors.ConversionError, ValueError),
        (errors.HubError, OSError),
        (errors.AdapterError, RuntimeError),
        (errors.AdapterNotFoundError, LookupError),
    ],
)
def test_every_error_is_a_modelport_error_and_its_builtin(cls, builtin):
    err = cls("something broke", where="here", fix="Do this.")
    assert isinstance(err, errors.ModelportError) and isinstance(err, builtin)
    assert str(err) == "here: something broke. Do this."


def test_errors_survive_pickling_with_their_fields():
    err = errors.HubError("repo not found", where="org/name", expected="an existing repo", received="404")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is errors.HubError and str(back) == str(err) and back.received == "404"
