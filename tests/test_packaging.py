"""Packaging: dependencies match the imports, one version source, a license in every distribution, and a clear
error on an unsupported platform."""

from __future__ import annotations

import ast
import email
import importlib.metadata
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import modelport
from modelport._platform import check_platform, missing_calls

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = [ROOT, ROOT / "backends" / "torch", ROOT / "backends" / "tf", ROOT / "backends" / "flax", ROOT / "conformance"]


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _third_party_imports(package: Path, own: str) -> set[str]:
    found = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            found.update(n.split(".")[0] for n in names)
    return {n for n in found if n not in sys.stdlib_module_names and n != own}


def test_the_core_depends_on_exactly_what_it_imports():
    """Every import is a dependency or an optional extra's (``gguf``), and every one of those is imported."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for name, requirements in project["optional-dependencies"].items() if name != "test" for r in requirements]
    declared = {_requirement_name(r) for r in [*project["dependencies"], *extras]}
    imported = _third_party_imports(ROOT / "src" / "modelport", "modelport")
    distributions = importlib.metadata.packages_distributions()
    # an optional extra's package may be absent here (transformers, for verify): its import name is its distribution's
    needed = {distributions.get(name, [name])[0].lower().replace("_", "-") for name in imported}
    assert needed == declared, f"imported but not declared: {needed - declared}; declared but never imported: {declared - needed}"


@pytest.mark.parametrize("folder", DISTRIBUTIONS, ids=lambda p: p.name)
def test_each_distribution_has_one_version_source_a_license_and_its_metadata(folder):
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    meta = project["project"]
    assert "version" not in meta and meta["dynamic"] == ["version"]
    attribute = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    module = attribute.rsplit(".", 1)[0]
    init = folder / "src" / module / "__init__.py"
    assert re.search(r'^__version__ = "[0-9][^"]*"$', init.read_text(), re.M), f"{init} must write the version literally"
    assert meta["license"] == "Apache-2.0" and meta["license-files"] == ["LICENSE"]
    assert "Apache License" in (folder / "LICENSE").read_text() and "Version 2.0" in (folder / "LICENSE").read_text()
    floor = re.search(r"setuptools>=(\d+)", project["build-system"]["requires"][0])
    assert floor and int(floor.group(1)) >= 77  # the SPDX license expression and license-files need 77
    assert "Operating System :: POSIX :: Linux" in meta["classifiers"] and {"Source", "Issues"} <= set(meta["urls"])


def test_the_installed_version_is_the_module_version():
    assert importlib.metadata.version("modelport") == modelport.__version__


@pytest.mark.slow
def test_the_built_wheel_carries_license_classifiers_and_urls(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    wheel = next(tmp_path.glob("modelport-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = email.message_from_bytes(zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))))
    assert metadata["Version"] == modelport.__version__ and metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"] and any(n.endswith("licenses/LICENSE") for n in names)
    assert "Operating System :: POSIX :: Linux" in metadata.get_all("Classifier")
    assert any(url.startswith("Issues, ") for url in metadata.get_all("Project-URL"))
    assert not any(r.startswith("safetensors") for r in metadata.get_all("Requires-Dist"))
    assert "modelport/py.typed" in names and "modelport/cli/__init__.py" in names


def test_an_unsupported_platform_gets_a_clear_import_error():
    assert missing_calls() == []  # this machine is supported
    with pytest.raises(ImportError) as caught:
        check_platform([("os", "preadv"), ("os", "no_such_call_on_any_platform")])
    message = str(caught.value)
    assert "os.no_such_call_on_any_platform" in message and sys.platform in message and "WSL" in message
    assert "os.preadv" not in message.split("needs")[1].split("which")[0]
