"""The `alden` command: each subcommand lives in the module that does its work."""

from __future__ import annotations

import argparse
import importlib
import sys

from alden.errors import AldenError

# Each module here defines register_cli(subparsers); every parser it adds sets
# `func=handler`, with handler(args) -> int (the exit status).
COMMAND_MODULES: tuple[str, ...] = (
    "experiments.benchmark", "experiments.report", "experiments.demo", "project.cli",
    "experiments.figure1", "project.web.cli", "cache")


def version() -> str:
    """The installed package's version (its metadata), or "unknown" when not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("alden")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alden", description="Deep active learning by model interpretability.")
    parser.add_argument("--version", action="version", version=f"alden {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"alden.{name}").register_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = ["alden", *(sys.argv[1:] if argv is None else argv)]  # as given, for records
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AldenError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
