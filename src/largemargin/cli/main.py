"""Entry point of the `largemargin` console script."""

from __future__ import annotations

import argparse

from largemargin import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="largemargin", description=__doc__)
    parser.add_argument("--version", action="version", version=f"largemargin {__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 0
