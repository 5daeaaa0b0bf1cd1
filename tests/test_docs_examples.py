"""Every fenced ``python`` and ``bash`` example of the README and docs/ runs, against small local data and the local Hub.

The examples use the names a reader would (``path/to/model``, ``org/model``); this module builds a sandbox
where those names exist: folders copied from the golden checkpoints (written by transformers 4.57.6) and
Hub repos on the session's local Hub server. Python blocks run each in a fresh namespace; shell lines that
call ``modelport`` run through the CLI's ``main``. A block that cannot run here says why in an HTML comment
on the line before it: ``<!-- example: not run (the reason) -->``.
"""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(python|bash)\s*$")
_NOT_RUN = re.compile(r"^<!-- example: not run \((.+)\) -->$")


@dataclass(frozen=True)
class Example:
    document: str
    line: int
    language: str
    code: str
    not_run: str | None  # the reason, when the block is marked

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"


def examples() -> list[Example]:
    found = []
    for path in DOCUMENTS:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            fence = _FENCE.match(lines[i])
            if fence:
                end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
                marker = _NOT_RUN.match(lines[i - 1]) if i else None
                found.append(Example(path.relative_to(ROOT).as_posix(), i + 1, fence.group(1), "\n".join(lines[i + 1:end]),
                                     marker.group(1) if marker else None))
                i = end
            i += 1
    return found


EXAMPLES = examples()
#: golden checkpoints standing in for the names the examples use
LOCAL = {"path/to/model": "bert/pt-bin", "path/to/tf_or_flax_or_pt_checkpoint": "bert/tf-h5", "bert-base": "bert/pt-safetensors",
         "saved": "bert/pt-safetensors", "path/to/llama-model": "llama-family/llama/pt-safetensors"}
REPOS = {"org/model": "bert/pt-safetensors", "org/bert-model": "bert/pt-safetensors", "org/gpt2-repo": "gpt2/flax-msgpack"}


@pytest.fixture(scope="module")
def sandbox(golden, tmp_path_factory):
    from modelport import adapters

    if not {"torch", "tf", "flax", "tinytensor"} <= set(adapters.available()):
        pytest.skip("the examples use every adapter: they run in nox -s tests, where all are installed")
    from modelport.hub import upload_folder
    from modelport_conformance.hub import start_test_hub

    hub = start_test_hub()
    hub.orgs["tester"] = [*hub.orgs["tester"], "org", "me"]  # the examples' namespaces, writable by the test token
    folder = tmp_path_factory.mktemp("docs-examples")
    for name, source in LOCAL.items():
        shutil.copytree(golden / source, folder / name)
    (folder / "tests").symlink_to(ROOT / "tests")  # examples that name the repository's own test data
    for repo, source in REPOS.items():
        if repo not in hub.repos:
            upload_folder(golden / source, repo)
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_tag("org/model", tag="v1.0", exist_ok=True)
    if not any(ref.ref == "refs/pr/1" for ref in api.list_repo_refs("org/model", include_pull_requests=True).pull_requests):
        upload_folder(golden / "bert" / "tf-h5", "org/model", create_pr=True, commit_message="Add TF weights")  # refs/pr/1
    yield folder
    hub.orgs["tester"] = [o for o in hub.orgs["tester"] if o not in ("org", "me")]


def test_every_example_runs_or_says_why_not():
    assert len(EXAMPLES) >= 20
    for example in EXAMPLES:
        if example.not_run is not None:
            assert len(example.not_run) > 10, f"{example.id}: say why the example does not run"


@pytest.mark.slow
@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.not_run is None], ids=lambda e: e.id)
def test_example_runs(example, sandbox, monkeypatch, capsys):
    monkeypatch.chdir(sandbox)
    for leftover in ("out", "out2", "bert-tf", "back", "model"):
        shutil.rmtree(sandbox / leftover, ignore_errors=True)
    if example.language == "python":
        exec(compile(example.code, example.id, "exec"), {"__name__": "__docs_example__"})  # noqa: S102 - the docs' own code
        return
    from modelport.cli import main

    for line in _shell_lines(example.code):
        argv = shlex.split(line, comments=True)
        assert argv[0] == "modelport", f"{example.id}: only modelport commands can run here; mark the block not run: {line}"
        assert main(argv[1:]) == 0, f"{example.id}: {line}\n{capsys.readouterr().err}"


def _shell_lines(code: str) -> list[str]:
    """Command lines, with backslash continuations joined and comment-only lines dropped."""
    joined = code.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
