"""``campuspass edge ...``: run and check a door node."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``campuspass edge`` commands."""
