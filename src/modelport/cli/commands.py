"""The commands of ``modelport``: each is its arguments and what it runs, registered in :data:`COMMANDS`."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import frameworks
from ..locations import looks_like_repo_id
from . import environment, inspect_view

__all__ = ["Command", "COMMANDS"]



@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _hub_options(parser: argparse.ArgumentParser, *, revision: str, cache_dir: bool = True) -> None:
    """The options every command that talks to the Hub shares, spelled as ``hf`` spells them."""
    parser.add_argument("--token", default=None, help="a Hub token (default: HF_TOKEN or the one `hf auth login` saved)")
    parser.add_argument("--revision", default=None, help=revision)
    if cache_dir:
        parser.add_argument("--cache-dir", default=None, help="the Hub cache folder (default: HF_HUB_CACHE)")


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2))


# -- demo ------------------------------------------------------------------------------------------
def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="a checkpoint folder instead of the embedded one")
    parser.add_argument("--core", action="store_true", help="only the core's part (no framework): rewrite and compare")
    parser.add_argument("--out", default=None, help="keep the converted checkpoints in this folder")
    parser.add_argument("--gguf", action="store_true",
                        help="the LLM part: a GGUF file (the embedded SmolLM2-135M-Instruct, or PATH) into all three "
                             "frameworks with its tokenizer, and text generated in each")


def _demo(args: argparse.Namespace) -> int:
    if args.gguf:
        from ..demo_gguf import run_gguf_demo

        return run_gguf_demo(args.path, out=args.out)
    from ..demo import run_demo

    return run_demo(args.path, core_only=args.core, out=args.out)


# -- convert ---------------------------------------------------------------------------------------
def _convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a checkpoint folder or a Hub repo id")
    parser.add_argument("destination", help="the output folder (new, empty, or use --overwrite)")
    parser.add_argument("--to", required=True, choices=frameworks.tags(), help="the target framework")
    parser.add_argument("--format", default="safetensors", choices=("safetensors", "native"),
                        help="safetensors (default) or the framework's own: .bin, tf_model.h5, flax_model.msgpack")
    parser.add_argument("--max-shard-size", default="5GB", help="shard limit, e.g. 5GB, 500MB (default 5GB)")
    parser.add_argument("--dtype", default=None, help="cast floating-point weights, e.g. bfloat16")
    parser.add_argument("--verify", action="store_true", help="run both models on a probe input and compare every output")
    parser.add_argument("--tolerance", type=float, default=None, help="max |diff| --verify accepts (default 1e-4)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a folder that holds weights already, leaving only the converted ones")
    parser.add_argument("--push", default=None, metavar="REPO_ID",
                        help="upload the result to this Hub repo; to the source repo itself, only the converted weights are added")
    parser.add_argument("--create-pr", action="store_true", help="with --push, open a pull request instead of committing to main")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (docs/cli.md)")
    _hub_options(parser, revision="the source's branch, tag or commit (Hub sources)")


def _convert(args: argparse.Namespace) -> int:
    from ..conversion.converter import convert

    if args.create_pr and not args.push:
        from ..errors import ConversionError

        raise ConversionError("--create-pr opens a pull request on the --push repo", where="modelport convert",
                              expected="--push REPO_ID beside --create-pr", received="--create-pr alone",
                              fix="Add --push REPO_ID (the source repo itself, for a rescue pull request).")

    report = convert(args.source, args.destination, to=args.to, format=args.format, max_shard_size=args.max_shard_size,
                     dtype=args.dtype, verify=args.verify, tolerance=args.tolerance, push=args.push, create_pr=args.create_pr,
                     revision=args.revision,
                     token=args.token, cache_dir=args.cache_dir, progress=False if args.no_progress else None,
                     overwrite=args.overwrite)
    if args.json:
        _print_json(report.to_json())
    elif not args.quiet:
        print(report.summary())
    if not report.ok:
        print("modelport: error: the target needs weights the source does not provide (see above)", file=sys.stderr)
        return 1
    return 0


# -- inspect ---------------------------------------------------------------------------------------
def _inspect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a checkpoint folder, a weights file, or a Hub repo id (org/name[@revision])")
    parser.add_argument("--json", action="store_true", help="print the stable JSON report (docs/cli.md)")
    parser.add_argument("--tensors", action="store_true", help="list every tensor's name, dtype, shape and file")
    _hub_options(parser, revision="the Hub repo's branch, tag or commit (or org/name@revision)", cache_dir=False)


def _inspect(args: argparse.Namespace) -> int:
    from ..inspection import inspect_checkpoint

    report = inspect_checkpoint(args.path, with_tensors=args.tensors, revision=args.revision, token=args.token)
    if args.json:
        _print_json(report)
    else:
        print(inspect_view.render(report, with_tensors=args.tensors))
    return 0


# -- download --------------------------------------------------------------------------------------
def _download_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repo_id")
    parser.add_argument("--framework", choices=frameworks.tags(), default="pt")
    parser.add_argument("--local-dir", default=None, help="copy the files into this folder instead of only the cache")
    parser.add_argument("--json", action="store_true", help="print what was fetched as JSON (docs/cli.md)")
    _hub_options(parser, revision="branch, tag, commit or refs/pr/N")


def _download(args: argparse.Namespace) -> int:
    from ..hub import download_checkpoint

    resolved = download_checkpoint(args.repo_id, framework=args.framework, revision=args.revision, local_dir=args.local_dir,
                                   cache_dir=args.cache_dir, token=args.token)
    files = [p for p in (resolved.config_file, resolved.index_file) if p] + list(resolved.weights)
    if args.json:
        _print_json({"repo_id": args.repo_id, "revision": args.revision, "commit": resolved.commit, "framework": args.framework,
                     "format": resolved.format, "folder": str(resolved.folder), "files": [str(p) for p in files]})
        return 0
    if args.quiet:  # like `hf download -q`: only the folder, for `$(modelport download -q ...)`
        print(resolved.folder)
        return 0
    for path in files:
        print(path)
    print(f"{args.repo_id}@{resolved.commit or args.revision or 'main'}: {len(files)} file(s) for {args.framework} ({resolved.format})")
    return 0


# -- upload ----------------------------------------------------------------------------------------
def _upload_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repo_id", help="the Hub repo (created if missing)")
    parser.add_argument("folder", nargs="?", default=".", help="the saved folder to push (default: the current folder)")
    parser.add_argument("--commit-message", "--message", dest="message", default="Upload model", help="the commit message")
    parser.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing to the branch")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    _hub_options(parser, revision="the branch to commit to (created if missing)", cache_dir=False)


def _old_upload_order(repo_id: str, folder: str) -> bool:
    """``upload FOLDER REPO_ID`` (modelport 0.1's order): the first is a folder, the second cannot be one."""
    return Path(repo_id).is_dir() and folder != "." and not Path(folder).exists() and looks_like_repo_id(folder)


def _upload(args: argparse.Namespace) -> int:
    from ..hub import upload_folder

    repo_id, folder = args.repo_id, args.folder
    if _old_upload_order(repo_id, folder):
        warnings.warn(f"`modelport upload FOLDER REPO_ID` is deprecated; write `modelport upload {folder} {repo_id}` "
                      "(REPO_ID first, as `hf upload` does). The old order stops working in modelport 0.3.",
                      FutureWarning, stacklevel=1)
        repo_id, folder = folder, repo_id
    info = upload_folder(folder, repo_id, commit_message=args.message, private=args.private or None, create_pr=args.create_pr,
                         revision=args.revision, token=args.token)
    url = getattr(info, "pr_url", None) or getattr(info, "commit_url", info)
    print(url if args.quiet else f"{repo_id}: {url}")
    return 0


# -- env -------------------------------------------------------------------------------------------
def _env_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")


def _env(args: argparse.Namespace) -> int:
    facts = environment.collect()
    if args.json:
        _print_json(facts)
    else:
        print(environment.render(facts))
    return 0


COMMANDS = (
    Command("demo", "run the main job on the embedded all-MiniLM-L6-v2 checkpoint (--gguf: on the embedded SmolLM2 GGUF file)",
            _demo_arguments, _demo),
    Command("convert", "convert a checkpoint to another framework, streaming, optionally verified", _convert_arguments, _convert),
    Command("inspect", "describe a checkpoint folder, weights file or Hub repo from its headers", _inspect_arguments, _inspect),
    Command("download", "fetch the config and the weights one framework needs from the Hub", _download_arguments, _download),
    Command("upload", "push a saved folder to a Hub repo in one commit: upload REPO_ID [FOLDER]", _upload_arguments, _upload),
    Command("env", "versions of modelport, its adapters, the frameworks and the platform, for bug reports", _env_arguments, _env),
)
