"""Putting a door node into service from the server machine (``campuspass provision node``):
make the node key, register its public key and write the whole bundle; carry the folder to the Pi.
The token flow (the key made on the Pi) is :mod:`server.enrolment` and
:mod:`provisioning.enrol_client`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from edge.config import NodeConfig
from provisioning.node_bundle import (
    ensure_empty_target,
    node_config,
    require_safe_url,
    write_node_bundle,
)
from server.datadir import DataDir
from server.enrolment import EnrolError, check_direction, choose_node_id, require_building, server_documents
from server.storage import Database
from server.storage.nodes import NodeRegistrationError, NodeRow, Nodes
from shared.clock import to_unix
from shared.keys import generate_key, public_key_bytes


@dataclass(frozen=True)
class ProvisionResult:
    """A node enrolled by :func:`provision_node`: its row and the bundle's check summary."""

    node: NodeRow
    config_path: Path
    summary: list[str]


async def provision_node(
    datadir: DataDir, db: Database, *, name: str, building: str, direction: str, server_url: str, out: Path,
    now: datetime, node_id: str | None = None, template: NodeConfig | None = None, allow_plain_http: bool = False,
) -> ProvisionResult:
    """Make a node key, write the complete bundle into ``out`` and register the public key.

    The bundle is written and checked first; if the registration then fails, its files are
    removed again, so a failed command leaves neither a half bundle nor an orphan node.

    Raises:
        BundleError: ``out`` already holds a bundle (``bundle_exists``).
        CampusPassError: ``unknown_building``; ``bad_name``; ``bad_direction``; ``bad_node_id``.
        NodeRegistrationError: ``node_exists`` (the id is taken).
        DataDirError: no issuer key can sign now.
        EnrolError: ``plain_http``: ``server_url`` is ``http://`` to another machine and
            ``allow_plain_http`` is false.
    """
    require_safe_url(server_url, allow_plain_http)
    if not name.strip() or len(name) > 100:
        raise EnrolError(f"node name {name[:40]!r}; expected 1..100 characters", code="bad_name")
    dir_ = check_direction(direction)
    node_id = choose_node_id(name, building, dir_, node_id)
    ensure_empty_target(out)
    docs = await server_documents(datadir, db, now)
    require_building(docs, building)
    nodes = Nodes(db)
    if await nodes.get(node_id) is not None:
        raise NodeRegistrationError(f"node {node_id} is already enrolled", code="node_exists")
    key = generate_key()
    config = node_config(node_id, building=building, direction=dir_, name=name, server_url=server_url,
                         template=template, allow_plain_http=allow_plain_http)
    summary = write_node_bundle(out, config, key, docs)
    try:
        row = await nodes.register(node_id, building=building, public_key=public_key_bytes(key),
                                   now_s=to_unix(now), name=name, direction=dir_)
    except BaseException:
        for f in (config.files.root_pub, config.files.node_key, config.files.trust_bundle,
                  config.files.revocations, config.files.policy, "node.toml"):
            (out / f).unlink(missing_ok=True)
        raise
    return ProvisionResult(row, out / "node.toml", summary)
