"""Node bundles: the folder a door node starts from (layout in :mod:`edge.bundle`).

The server gathers the documents a new node needs (:func:`server.enrolment.server_documents`:
pinned root key, current trust bundle, a signed revocation delta since 0, the signed building
policy); the same documents travel in the enrolment reply (:class:`shared.enrolment.ServerDocuments`).
Either way
:func:`write_node_bundle` writes ``node.toml`` from :class:`edge.config.NodeConfig`, the node key
(mode 0600, folder 0700) and the documents, then checks the result the way ``campuspass edge
check-config`` does.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Literal

from edge.bundle import BundleError, check_bundle, write_bundle
from edge.config import BundleFiles, NodeConfig, NodeIdentity, check_server_url, load_node_config
from shared.enrolment import ServerDocuments
from shared.keys import Ed25519PrivateKey

Direction = Literal["entry", "exit"]


def require_safe_url(server_url: str, allow_plain_http: bool) -> None:
    """Refuse a plain ``http://`` server URL to another machine unless explicitly allowed.

    Raises:
        BundleError: code ``plain_http`` (the message says how to deploy behind TLS or allow it).
    """
    if allow_plain_http:
        return
    try:
        check_server_url(server_url)
    except ValueError as exc:
        raise BundleError(str(exc), code="plain_http") from None


def node_config(
    node_id: str, *, building: str, direction: Direction, name: str = "", server_url: str = "",
    template: NodeConfig | None = None, allow_plain_http: bool = False,
) -> NodeConfig:
    """The ``node.toml`` of a new node: its identity, every other table from ``template``
    (default: the defaults of :class:`edge.config.NodeConfig`, i.e. a Raspberry Pi with picamera2)
    and the standard bundle file names.

    Raises:
        ValueError: a bad node id, building or server URL (from :class:`NodeIdentity`; plain
            ``http://`` to another machine unless ``allow_plain_http``).
    """
    data_dir = template.node.data_dir if template is not None else "data"
    identity = NodeIdentity(id=node_id, building=building, name=name, direction=direction,
                            data_dir=data_dir, server_url=server_url.rstrip("/"),
                            allow_plain_http=allow_plain_http)
    if template is None:
        return NodeConfig(node=identity)
    return replace(template, node=identity, files=BundleFiles())


def ensure_empty_target(out: Path) -> None:
    """Refuse a folder that already holds a bundle (a node key is never overwritten).

    Raises:
        BundleError: code ``bundle_exists``.
    """
    files = BundleFiles()
    for name in ("node.toml", files.node_key):
        if (out / name).exists():
            raise BundleError(f"{out / name} already exists; choose a new folder (keys are never overwritten)",
                              code="bundle_exists")


def write_node_bundle(out: Path, config: NodeConfig, key: Ed25519PrivateKey, docs: ServerDocuments) -> list[str]:
    """Write the bundle into ``out`` (created with mode 0700) and check it; returns the summary
    lines of :func:`edge.bundle.check_bundle`. If the check fails, the files written are removed.

    Raises:
        BundleError: code ``bundle_exists`` when ``out`` already holds a bundle.
        CampusPassError: the written bundle does not verify (e.g. ``unknown_building``).
    """
    ensure_empty_target(out)
    created = not out.exists()
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    files = config.files
    written = [out / n for n in (files.root_pub, files.node_key, files.trust_bundle, files.revocations,
                                 files.policy, "node.toml")]
    try:
        path = write_bundle(out, config, docs.root_public, key, docs.trust_bundle, docs.revocations, docs.policy)
        for p in written:
            if p.name != files.node_key:
                os.chmod(p, 0o644)
        return check_bundle(load_node_config(path))
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for p in written:
                p.unlink(missing_ok=True)
        raise
