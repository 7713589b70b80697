"""Start the demo campus as real processes: ``campuspass server run`` and one ``campuspass edge
run`` per door node, each in its own process group (:class:`campuspass.processes.ProcessGroup`).

Used by ``campuspass demo`` (and its walkthrough) and by the end-to-end test, so both run the
product exactly as an operator would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from campuspass.demo_setup import DemoLayout
from campuspass.processes import Child, ProcessError, ProcessGroup, campuspass_argv, port_in_use


@dataclass
class RunningCampus:
    """The started children: ``server`` and the nodes by name (``library``, ``dorm``)."""

    server: Child
    nodes: dict[str, Child] = field(default_factory=dict)


def start_campus(group: ProcessGroup, layout: DemoLayout, *, nodes: tuple[str, ...] = ("library", "dorm"),
                 startup_timeout_s: float = 40.0) -> RunningCampus:
    """Start the server on 127.0.0.1 at ``layout.port``, wait until it answers, then start the
    named door nodes and wait until their status endpoints answer.

    Raises:
        ProcessError: a port is taken (``port_busy``), or a child exited or stayed silent while
            starting (its last output lines are in the message). Children already started stay
            in ``group``, which stops them.
    """
    busy = [p for p in (layout.port, *(layout.node(n).status_port for n in nodes)) if port_in_use(p)]
    if busy:
        raise ProcessError(f"port(s) {busy} on 127.0.0.1 are already in use; stop what uses them or "
                           "choose another --port", code="port_busy")
    server = group.start("server", campuspass_argv(
        "server", "run", "--data", layout.data_dir, "--host", "127.0.0.1", "--port", str(layout.port)))
    group.wait_http(server, f"{layout.url}/api/v1/openapi.json", startup_timeout_s)
    campus = RunningCampus(server)
    for name in nodes:
        node = layout.node(name)
        campus.nodes[name] = group.start(name, campuspass_argv("edge", "run", "--config", str(node.config_path)))
    for name in nodes:
        group.wait_http(campus.nodes[name], layout.node(name).status_url, startup_timeout_s)
    return campus
