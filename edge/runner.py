"""The node's composition root: config → store → node → status endpoint → run.

``campuspass edge run`` calls :func:`run_node`. The sync component (docs/architecture.md §8) plugs in
through ``sync_factory``: a callable taking the :class:`Node` and returning an object with
``async run()``; :func:`default_sync_factory` chooses it for a config (None when the config
has no ``server_url`` or no sync implementation is installed).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
from typing import Any

from aiohttp import web

from edge.config import NodeConfig
from edge.node import Node, SyncFactory, open_store
from edge.status import start_status_server
from shared.errors import CampusPassError

log = logging.getLogger(__name__)


def default_sync_factory(config: NodeConfig) -> SyncFactory | None:
    """The sync component for ``config``: None without a ``server_url``.

    The sync client module registers itself here when it exists (``edge.sync.make_sync``).
    """
    if not config.node.server_url:
        return None
    if importlib.util.find_spec("edge.sync") is None:
        log.warning("server_url is set but this build has no sync component; running offline")
        return None
    factory: SyncFactory = importlib.import_module("edge.sync").make_sync
    return factory


async def run_node(config: NodeConfig, *, sync_factory: SyncFactory | None = None, **node_kwargs: Any) -> int:
    """Open the store (seeding it on first start), run the node and its status endpoint until
    stopped (SIGTERM, SIGINT) or a replay camera ends. The relay is locked on every way out.

    Args:
        config: the node configuration.
        sync_factory: the sync component (default: :func:`default_sync_factory`).
        node_kwargs: passed to :class:`Node` (camera, decoder, pin_factory, clock).

    Returns:
        The exit status for ``edge run``: 0, or the node's reason to be restarted
        (:data:`edge.node.EXIT_DATABASE_DAMAGED`, :data:`edge.node.EXIT_CAMERA_HUNG`).
    """
    store = await open_store(config, clock=node_kwargs.get("clock"))
    try:
        factory = sync_factory if sync_factory is not None else default_sync_factory(config)
        node = Node(config, store, sync_factory=factory, **node_kwargs)
        runners: list[web.AppRunner] = []
        try:
            if config.status.port:
                try:
                    runners.append(await start_status_server(node, config.status.port, config.status.host))
                except OSError as exc:
                    raise CampusPassError(
                        f"status.port = {config.status.port}: cannot listen on {config.status.host} "
                        f"({exc.strerror}); "
                        "choose another port or 0 to disable the status endpoint",
                        code="status_port",
                    ) from exc
                log.info("status endpoint on http://%s:%d/status", config.status.host, config.status.port)

                async def serve_status() -> None:
                    # Supervised: started again (with backoff) if the server ever fails.
                    if not runners:
                        runners.append(await start_status_server(node, config.status.port, config.status.host))
                    try:
                        await asyncio.Event().wait()
                    except BaseException:
                        for r in runners:
                            await r.cleanup()
                        runners.clear()
                        raise

                node.extra_tasks["status"] = serve_status
            await node.run()
            return node.exit_code
        finally:
            node.outputs.close()
            for r in runners:
                await r.cleanup()
    finally:
        await store.close()
