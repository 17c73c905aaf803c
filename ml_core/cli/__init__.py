"""The CLI. Every module in this package that defines `register(subparsers)` adds commands.

A command's handler takes the parsed arguments and returns an exit code. It prints results to
stdout (JSON where the command says so), progress bars to stderr (ml_core.progress.TqdmProgress),
and raises UserError for bad input: the CLI prints `error: <reason>` on one line and exits 2.
Handlers import heavy libraries inside themselves so `--help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from ml_core.errors import UserError


def config_file_options(path: str | None) -> dict:
    """The JSON object a command's --config file holds ({} without one); a UserError naming the file."""
    import json
    from pathlib import Path

    if not path:
        return {}
    try:
        options = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"--config {path}: {exc}") from exc
    if not isinstance(options, dict):
        raise UserError(f"--config {path} must hold a JSON object")
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml_core", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (to stderr)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
