"""The ``campuspass`` command: one subcommand group per component.

This is the composition root for command-line use: only here (and in the modules each group
delegates to) are arguments parsed, logging configured and real adapters chosen.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from campuspass import __version__
from shared.errors import CampusPassError

Handler = Callable[[argparse.Namespace], int]


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _group(sub: argparse._SubParsersAction, name: str, help_text: str, description: str) -> argparse._SubParsersAction:
    parser = sub.add_parser(name, help=help_text, description=description)
    parser.set_defaults(handler=lambda _args, p=parser: _help(p))
    return parser.add_subparsers(title="commands", metavar="COMMAND")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every group registers its own commands)."""
    from campuspass import demo
    from edge import cli as edge_cli
    from provisioning import cli as provisioning_cli
    from server import cli as server_cli
    from server import pass_cli

    parser = argparse.ArgumentParser(
        prog="campuspass",
        description="Campus return passes: check-in, approval, signed QR passes, offline door nodes.",
    )
    parser.add_argument("--version", action="version", version=f"campuspass {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.set_defaults(handler=lambda _args: _help(parser))
    sub = parser.add_subparsers(title="components", metavar="COMPONENT")

    provisioning_cli.register_init(sub)
    server_cli.register(
        _group(sub, "server", "run and administer the central server",
               "Run the central server and administer its data directory.")
    )
    edge_cli.register(
        _group(sub, "edge", "run and check a door node",
               "Run a door node (camera, decoder, offline decision, outputs, local log).")
    )
    provisioning_cli.register(
        _group(sub, "provision", "enrol door nodes, install on a Raspberry Pi, rotate keys",
               "Provisioning: node enrolment, Raspberry Pi install, key rotation.")
    )
    pass_cli.register(
        _group(sub, "pass", "issue and check passes",
               "Issue visitor passes and check any pass text or QR image the way a door does.")
    )
    demo.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # one debug line per SQL statement drowns what -v is for
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    handler: Handler = args.handler
    try:
        return handler(args)
    except CampusPassError as exc:
        print(f"campuspass: error: {exc.message} [{exc.code}]", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
