"""Command-line entry points of provisioning: ``campuspass init`` and ``campuspass provision``."""

from __future__ import annotations

import argparse
from pathlib import Path

from shared.clock import SystemClock


def register_init(sub: argparse._SubParsersAction) -> None:
    """Add ``campuspass init``."""
    p = sub.add_parser(
        "init",
        help="create a server data directory (keys, trust bundle, database)",
        description="Create a new server data directory: root key, first issuer key and certificate, "
        "trust bundle, configuration and an empty database. Refuses to overwrite an existing one.",
    )
    p.add_argument("--data", type=Path, required=True, help="data directory to create")
    p.set_defaults(handler=_init)


def _init(args: argparse.Namespace) -> int:
    from provisioning.init import describe, init_data_dir

    clock = SystemClock()
    result = init_data_dir(args.data, clock)
    print(describe(result, clock.now()), end="")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``campuspass provision`` commands."""
