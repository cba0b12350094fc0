"""``faas init``: a ready-to-deploy function folder with a test event, as ``sam init``.

Nothing is asked of a server: the folder is written, then the commands that deploy
and invoke it are printed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from faas.cli import templates
from faas.cli.exits import EXIT_OK, EXIT_USAGE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the function's name, and its folder's")
    parser.add_argument("--runtime", choices=templates.RUNTIMES, default="python3.11")
    parser.add_argument("--template", choices=tuple(templates.TEMPLATES), default="plain")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the folder goes (default: ./NAME)"
    )


def run(args: argparse.Namespace) -> int:
    folder: Path = args.dir if args.dir is not None else Path(args.name)
    if folder.exists() and any(folder.iterdir()):
        print(f"faas: {folder} exists and is not empty: nothing written", file=sys.stderr)
        return EXIT_USAGE
    for relative, text in templates.function_files(args.runtime, args.template).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    where = shlex.quote(str(folder))
    name = shlex.quote(args.name)
    handler = templates.handler_of(args.runtime)
    print(f"created {folder}/ ({args.runtime}, {args.template})")
    print(f"  faas deploy {where} --name {name} --runtime {args.runtime} --handler {handler}")
    print(f"  faas invoke {name} --event-file {where}/events/event.json")
    return EXIT_OK
