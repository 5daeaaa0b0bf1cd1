"""The pytest plugin of the conformance suite: adapter selection, capability skips, known failures, the report header.

    python -m modelport_conformance [--adapter torch] [--adapter tf] [--known-failures FILE] [pytest options]

Tests ask for the ``adapter`` fixture (and optionally ``dtype_name``,
``checkpoint_format``, ``sharded`` or ``other_adapter``); this plugin
parametrises them over the selected adapters, so ids read ``[torch-bfloat16]``.
Tests skip by declared capability (:func:`require`), never by adapter name.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.metadata
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from modelport import adapters

from .hygiene import RunFolder, child_processes

__all__ = ["require", "selected_adapters", "known_failures"]


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("modelport-conformance")
    group.addoption("--adapter", action="append", default=[], help="adapter to check (repeatable; default: every installed one)")
    group.addoption("--known-failures", action="append", default=[],
                    help="file of test ids expected to fail, one per line: '<test id>  # reason'")


def selected_adapters(config: Any) -> list[str]:
    chosen = config.getoption("--adapter") or [n for n in adapters.available() if adapters.get(n).framework_available()]
    missing = [n for n in chosen if n not in adapters.available()]
    if missing:
        raise pytest.UsageError(f"no adapter named {', '.join(missing)} is installed (installed: {', '.join(adapters.available())})")
    return chosen


def require(adapter: Any, capability: str) -> None:
    """Skip unless ``adapter`` declares ``capability`` (a Capabilities field or an ``extra`` flag)."""
    caps = adapter.capabilities
    value = getattr(caps, capability, None) if hasattr(caps, capability) else caps.extra.get(capability)
    if not value:
        pytest.skip(f"{adapter.name} does not declare capabilities.{capability}")


def _formats(adapter: Any) -> list[str]:
    return list(dict.fromkeys(["safetensors", *adapter.capabilities.native_formats]))


def _with_models(names: list[str]) -> list[str]:
    return [n for n in names if adapters.get(n).capabilities.reference_models and adapters.get(n).framework_available()]


def pytest_generate_tests(metafunc: Any) -> None:
    if "adapter" not in metafunc.fixturenames:
        return
    names = selected_adapters(metafunc.config)
    fixtures = metafunc.fixturenames
    params = []
    for name in names:
        adapter = adapters.get(name)
        if "dtype_name" in fixtures:
            params += [pytest.param(name, d, id=f"{name}-{d}") for d in adapter.capabilities.exact_dtypes]
        elif "checkpoint_format" in fixtures:
            params += [pytest.param(name, f, s, id=f"{name}-{f}-{'sharded' if s else 'single'}")
                       for f in _formats(adapter) for s in (False, True)]
        elif "other_adapter" in fixtures:
            others = [o for o in _with_models(adapters.available()) if o != name]
            params += [pytest.param(name, o, id=f"{name}-{o}") for o in others]
        else:
            params.append(pytest.param(name, id=name))
    argnames = ["adapter_name"] + [f for f in ("dtype_name", "checkpoint_format", "sharded", "other_adapter") if f in fixtures]
    if "checkpoint_format" in fixtures and "sharded" not in argnames:
        argnames.append("sharded")
    metafunc.parametrize(",".join(argnames), params)


@pytest.fixture
def adapter(adapter_name: str) -> Any:
    return adapters.get(adapter_name)


def known_failures(paths: list[str]) -> dict[str, str]:
    """``{test id: reason}`` from known-failures files (``<test id>  # reason``; blank lines and ``#`` lines skipped)."""
    entries: dict[str, str] = {}
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            test_id, _, reason = line.partition("#")
            entries[test_id.strip()] = reason.strip() or "listed as a known failure"
    return entries


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    entries = known_failures(config.getoption("--known-failures"))
    matched: set[str] = set()
    for item in items:
        short = item.nodeid.split("::", 1)[-1]
        for test_id in (item.nodeid, short, item.name):
            if test_id in entries:
                item.add_marker(pytest.mark.xfail(reason=f"known failure: {entries[test_id]}", strict=True))
                matched.add(test_id)
                break
    config._conformance_unmatched = sorted(set(entries) - matched)  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: Any, config: Any) -> None:
    unmatched = getattr(config, "_conformance_unmatched", [])
    if unmatched:
        terminalreporter.section("modelport conformance: stale known failures")
        for test_id in unmatched:
            terminalreporter.write_line(f"known-failures entry matches no test: {test_id}")


def pytest_report_header(config: Any) -> list[str]:
    try:
        names = selected_adapters(config)
    except pytest.UsageError:
        return []
    lines = []
    for name in names:
        adapter = adapters.get(name)
        try:
            version = importlib.metadata.version(adapter.distribution) if adapter.distribution else "(built in)"
        except importlib.metadata.PackageNotFoundError:
            version = "(not installed as a distribution)"
        framework = adapter.framework_module or "-"
        lines.append(f"modelport adapter {name}: {adapter.distribution or 'modelport'} {version}; "
                     f"framework {framework} {adapter.framework_version() or '-'}")
    return lines


@pytest.hookimpl(tryfirst=True)  # before pytest's tmp_path factory reads --basetemp
def pytest_configure(config: Any) -> None:
    from .hub import start_test_hub

    run = RunFolder.create()
    config._conformance_run = run  # type: ignore[attr-defined]
    if not config.option.basetemp:
        config.option.basetemp = str(run.basetemp)
    # The Hub round trip talks to a local server; huggingface_hub reads HF_ENDPOINT when first imported.
    start_test_hub()


def pytest_unconfigure(config: Any) -> None:
    from .hub import stop_test_hub

    stop_test_hub()
    run = getattr(config, "_conformance_run", None)
    if run is not None:
        run.delete()


@pytest.fixture(autouse=True)
def _leaves_nothing_behind(request: Any) -> Any:
    """Fails a test that leaves files in the temporary folder or child processes running (and cleans them up)."""
    run: RunFolder = request.config._conformance_run
    before, children = run.entries(), set(child_processes())
    yield
    owner = getattr(request.node, "callspec", None)
    who = owner.params.get("adapter_name", "the adapter") if owner else "the adapter"
    allowed = [p for name in selected_adapters(request.config) for p in adapters.get(name).framework_temp_entries]
    left = {e for e in run.entries() - before if not any(fnmatch.fnmatch(e, p) for p in allowed)}
    running = {pid: cmd for pid, cmd in child_processes().items() if pid not in children}
    run.remove(left)
    for pid in running:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    problems = []
    if left:
        problems.append(f"left in the temporary folder {run.tmp}: {sorted(left)}")
    if running:
        problems.append(f"child processes still running: {running}")
    if problems:
        pytest.fail(f"{who} does not clean up after itself: " + "; ".join(problems) +
                    " (remove temporary files with tempfile.TemporaryDirectory or try/finally; wait for the processes "
                    "you start; declare what the framework itself keeps there in Adapter.framework_temp_entries)",
                    pytrace=False)
