"""The ``campuspass`` command: one subcommand group per component.

This is the composition root for command-line use: only here (and in the modules each group
delegates to) are arguments parsed, logging configured and real adapters chosen.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

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


#: The optional dependencies of each install extra (pyproject.toml): a Pi installs
#: ``campuspass[edge]``, the central server ``campuspass[server]``.
EXTRA_OF_MODULE = {"aiohttp_jinja2": "server", "segno": "server", "openpyxl": "server", "ldap3": "server",
                   "psycopg": "server", "psycopg_pool": "server",
                   "gpiozero": "edge"}


class MissingExtraError(CampusPassError):
    """A command needs a part of campuspass that is not installed here. Code ``missing_extra``."""

    code = "missing_extra"


def missing_extra(exc: ModuleNotFoundError) -> MissingExtraError | None:
    """The clear error for a module of an install extra that is not installed, else None."""
    extra = EXTRA_OF_MODULE.get((exc.name or "").split(".")[0])
    if extra is None:
        return None
    return MissingExtraError(f"this command needs the {extra} part of campuspass, which is not installed here "
                             f"(module {exc.name} is missing): pip install 'campuspass[{extra}]'")


def _register(sub: argparse._SubParsersAction, name: str, help_text: str, description: str | None,
              register: Callable[[], Callable[[argparse._SubParsersAction], None]]) -> None:
    """Register a command group (``description`` given) or a top-level command (``None``). When its
    module needs an extra that is not installed, the name still exists and says how to install it."""
    try:
        add = register()
    except ModuleNotFoundError as exc:
        problem = missing_extra(exc)
        if problem is None:
            raise
        stub = sub.add_parser(name, help=f"{help_text} (not installed here)", description=problem.message)
        stub.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

        def refuse(_args: argparse.Namespace, problem: MissingExtraError = problem) -> int:
            raise problem

        stub.set_defaults(handler=refuse)
        return
    add(sub if description is None else _group(sub, name, help_text, description))


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every group registers its own commands; a group whose install
    extra is missing is listed with the command that installs it)."""
    parser = argparse.ArgumentParser(
        prog="campuspass",
        description="Campus return passes: check-in, approval, signed QR passes, offline door nodes.",
    )
    parser.add_argument("--version", action="version", version=f"campuspass {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.set_defaults(handler=lambda _args: _help(parser))
    sub = parser.add_subparsers(title="components", metavar="COMPONENT")

    def provisioning() -> ModuleType:
        from provisioning import cli

        return cli

    def server() -> ModuleType:
        from server import cli

        return cli

    def edge() -> ModuleType:
        from edge import cli

        return cli

    def passes() -> ModuleType:
        from server import pass_cli

        return pass_cli

    def demo() -> ModuleType:
        from campuspass import demo

        return demo

    _register(sub, "init", "initialise a server data directory", None, lambda: provisioning().register_init)
    _register(sub, "server", "run and administer the central server",
              "Run the central server and administer its data directory.", lambda: server().register)
    _register(sub, "edge", "run and check a door node",
              "Run a door node (camera, decoder, offline decision, outputs, local log).", lambda: edge().register)
    _register(sub, "provision", "enrol door nodes, install on a Raspberry Pi, rotate keys",
              "Provisioning: node enrolment, Raspberry Pi install, key rotation.", lambda: provisioning().register)
    _register(sub, "pass", "issue and check passes",
              "Issue visitor passes and check any pass text or QR image the way a door does.",
              lambda: passes().register)
    _register(sub, "demo", "the whole product on embedded defaults", None, lambda: demo().register)
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
        try:
            return handler(args)
        except ModuleNotFoundError as exc:
            problem = missing_extra(exc)
            if problem is None:
                raise
            raise problem from None
    except CampusPassError as exc:
        print(f"campuspass: error: {exc.message} [{exc.code}]", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
