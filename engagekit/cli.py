"""The ``engagekit`` command. Each area adds its sub-commands in a ``_add_<area>`` function."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

import engagekit.commands
from engagekit import __version__
from engagekit.errors import EngagekitError
from engagekit.project import Project


def _cmd_init(args: argparse.Namespace) -> int:
    project = Project.create(args.dir, name=args.name, default_timezone=args.timezone)
    print(f"created project {project.settings.name!r} in {project.path}")
    return 0


def _add_init(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create a project folder (engagekit.toml + store/)")
    p.add_argument("dir", type=Path)
    p.add_argument("--name", default=None, help="project name (default: the folder's name)")
    p.add_argument("--timezone", default="UTC", help="default IANA time zone (default: UTC)")
    p.set_defaults(func=_cmd_init)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engagekit",
        description="Customer engagement in notebooks: endpoints, segments, templates, "
        "A/B campaigns with holdouts, delivery and analytics.",
    )
    parser.add_argument("--version", action="version", version=f"engagekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_init(sub)
    for info in sorted(pkgutil.iter_modules(engagekit.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"engagekit.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EngagekitError as exc:
        print(f"engagekit: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("engagekit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
