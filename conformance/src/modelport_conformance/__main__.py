"""``python -m modelport_conformance [--adapter NAME ...] [pytest options]``: run the suite against installed adapters."""

from __future__ import annotations

import sys

import pytest


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return int(pytest.main(["-p", "modelport_conformance.plugin", "--pyargs", "modelport_conformance.suite",
                            "-p", "no:cacheprovider", *args]))


if __name__ == "__main__":
    sys.exit(main())
