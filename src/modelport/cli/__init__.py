"""The ``modelport`` command line, following the ``hf`` command's conventions.

``-q``/``-v`` go anywhere on the line; ``--token``, ``--revision`` and ``--cache-dir`` where a command
talks to the Hub; ``--json`` for what scripts read. Log lines go to stderr once (modelport's and
huggingface_hub's loggers, never the root logger), and ``-q`` or ``HF_HUB_DISABLE_PROGRESS_BARS``
turn progress bars off.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence

from .. import __version__
from ..errors import ModelportError
from . import commands

__all__ = ["main", "build_parser"]


def _verbosity_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``-q``/``-v`` on the main parser and on every command: a subparser's default must not undo the main one's."""
    default = 0 if top else argparse.SUPPRESS
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="count", default=default, help="log what is being done (-vv: debug)")
    group.add_argument("-q", "--quiet", action="store_true", default=False if top else argparse.SUPPRESS,
                       help="no progress bars and no log lines below errors; print only the essential result")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelport", description="One pretrained model, every framework.")
    parser.add_argument("--version", action="version", version=f"modelport {__version__}")
    _verbosity_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands.COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        _verbosity_options(sub, top=False)
        command.arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


@contextlib.contextmanager
def _command_logging(verbose: int, quiet: bool) -> Iterator[None]:
    """One handler on modelport's logger; huggingface_hub keeps its own (so nothing reaches the root logger twice).

    Everything is put back afterwards, so ``main()`` called in a process (tests, notebooks) leaves its logging alone.
    """
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from huggingface_hub.utils import logging as hf_logging

    level = logging.ERROR if quiet else logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    ours = logging.getLogger("modelport")
    saved = (ours.level, ours.propagate, hf_logging.get_verbosity(), are_progress_bars_disabled())
    handler = logging.StreamHandler()  # bound to the current sys.stderr
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    ours.addHandler(handler)
    ours.setLevel(level)
    ours.propagate = False
    hf_logging.set_verbosity(level)
    if quiet:
        disable_progress_bars()
    try:
        yield
    finally:
        ours.removeHandler(handler)
        ours.setLevel(saved[0])
        ours.propagate = saved[1]
        hf_logging.set_verbosity(saved[2])
        if quiet and not saved[3]:
            enable_progress_bars()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``modelport`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose and args.quiet:  # each parser checks its own line part; together they may still contradict
        parser.error("-q/--quiet and -v/--verbose cannot be used together")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up notes are not the user's business
    try:
        with _command_logging(args.verbose, args.quiet):
            return int(args.run(args))
    except ModelportError as exc:
        print(f"modelport: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
