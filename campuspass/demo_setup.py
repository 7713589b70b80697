"""The demo campus in a data directory: server, roster, accounts, buildings, two door nodes.

:func:`setup_demo` turns an empty folder into a campus ready to start (``campuspass demo`` and
the end-to-end test both use it); :func:`load_demo` reads one made before. What it makes:

- the server data directory (:func:`provisioning.init.init_data_dir`) with a demo-friendly
  ``server.toml`` (``[passes] campus_groups = ["teaching"]``: every pass opens the library);
- the synthetic roster (:func:`campuspass.demo_roster.demo_roster`) imported with
  :func:`server.roster.import_roster`: students stay in first-login state (initial password =
  the last six characters of their ID number); counsellors, staff, the school admin and the
  system admin ``admin`` get :data:`DEMO_PASSWORD` and a verified phone, so they can log in at once;
- building ``LIB`` (group ``teaching``) and ``D7`` (group ``dorm-east``; the first class of each
  department lives there);
- two door nodes enrolled with :func:`provisioning.enrol.provision_node`, bundles in
  ``DATA/nodes/library`` and ``DATA/nodes/dorm`` (camera ``dir:camera``: a watched folder next to
  ``node.toml``, or the given camera for the library; gpiozero MockFactory; sync every second);
- ``DATA/demo.json``: the layout (:class:`DemoLayout`).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from campuspass.demo_roster import DemoAccount, demo_roster
from edge.config import (
    CameraConfig,
    GpioConfig,
    NodeConfig,
    NodeIdentity,
    ScanConfig,
    StatusConfig,
    SyncConfig,
    dump_node_config,
    load_node_config,
)
from provisioning.enrol import provision_node
from provisioning.init import init_data_dir
from server.config import DEFAULT_SERVER_TOML
from server.datadir import DataDir, write_atomic
from server.passwords import Argon2Params, PasswordHasher
from server.roster import import_roster
from server.storage import Database
from server.storage.buildings import Buildings
from server.storage.pass_status import PassStatusStore
from server.storage.people import People
from shared.clock import SystemClock, to_unix
from shared.errors import CampusPassError

DEMO_PASSWORD = "campus-demo-2026"
"""The password of every demo account except the students (who start with their initial one)."""

LAYOUT_FILE = "demo.json"
TEACHING_GROUP = "teaching"
DORM_GROUP = "dorm-east"


@dataclass(frozen=True)
class DemoNode:
    """One door node of the demo.

    Attributes:
        name: short name (``library``, ``dorm``), the bundle folder under ``DATA/nodes/``.
        node_id: the enrolled node id.
        building: building code.
        bundle_dir: folder holding ``node.toml`` (absolute).
        camera_dir: the watched camera folder (absolute), or None for a live camera.
        status_port: its localhost status endpoint's port.
    """

    name: str
    node_id: str
    building: str
    bundle_dir: str
    camera_dir: str | None
    status_port: int

    @property
    def config_path(self) -> Path:
        """``node.toml``."""
        return Path(self.bundle_dir) / "node.toml"

    @property
    def db_path(self) -> Path:
        """The node's SQLite log."""
        return load_node_config(self.config_path).db_path

    @property
    def status_url(self) -> str:
        """``http://127.0.0.1:PORT/status``."""
        return f"http://127.0.0.1:{self.status_port}/status"


@dataclass(frozen=True)
class DemoLayout:
    """What :func:`setup_demo` made (stored as ``DATA/demo.json``).

    Attributes:
        data_dir: the server data directory (absolute).
        port: the server port the nodes' ``server_url`` points at.
        accounts: demo accounts: ``[{number, role, name, department, password, first_login}]``.
        nodes: the door nodes, library first.
    """

    data_dir: str
    port: int
    accounts: list[dict[str, object]]
    nodes: list[DemoNode]

    @property
    def url(self) -> str:
        """The server's base URL, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def node(self, name: str) -> DemoNode:
        """The node called ``name``.

        Raises:
            KeyError: no such node.
        """
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def account(self, role: str) -> dict[str, object]:
        """The first demo account with ``role``.

        Raises:
            KeyError: no account has that role.
        """
        for a in self.accounts:
            if a["role"] == role:
                return a
        raise KeyError(role)

    def save(self) -> None:
        """Write ``DATA/demo.json``."""
        write_atomic(Path(self.data_dir) / LAYOUT_FILE,
                     json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n", 0o600)


def load_demo(data_dir: Path) -> DemoLayout | None:
    """The layout stored in ``data_dir``, or None when the folder holds no demo."""
    path = data_dir / LAYOUT_FILE
    if not path.exists():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    return DemoLayout(doc["data_dir"], int(doc["port"]), doc["accounts"],
                      [DemoNode(**n) for n in doc["nodes"]])


def retarget(layout: DemoLayout, port: int) -> DemoLayout:
    """The layout with the server on ``port``: each node's ``server_url`` is rewritten when
    it syncs (a node without sync stays without)."""
    if port == layout.port:
        return layout
    for n in layout.nodes:
        cfg = load_node_config(n.config_path)
        if cfg.node.server_url:
            new = replace(cfg, node=replace(cfg.node, server_url=f"http://127.0.0.1:{port}"))
            write_atomic(n.config_path, dump_node_config(new), 0o644)
    out = replace(layout, port=port)
    out.save()
    return out


def set_status_ports(layout: DemoLayout, ports: tuple[int, int]) -> DemoLayout:
    """The layout with the library's and the dormitory's status endpoints on ``ports`` (each
    node's ``node.toml`` rewritten when its port changes)."""
    changed = []
    for n, port in zip(layout.nodes, ports, strict=False):
        if n.status_port != port:
            cfg = load_node_config(n.config_path)
            write_atomic(n.config_path, dump_node_config(replace(cfg, status=replace(cfg.status, port=port))), 0o644)
        changed.append(replace(n, status_port=port))
    out = replace(layout, nodes=changed + layout.nodes[len(changed):])
    out.save()
    return out


def set_library_camera(layout: DemoLayout, source: str) -> DemoLayout:
    """The layout with the library node's camera set to ``source`` (``opencv:0``, ``dir:camera``)
    in its ``node.toml``.

    Raises:
        ValueError: ``source`` is not a camera source (see :class:`edge.config.CameraConfig`).
    """
    lib = layout.node("library")
    cfg = load_node_config(lib.config_path)
    if cfg.camera.source == source:
        return layout
    write_atomic(lib.config_path, dump_node_config(replace(cfg, camera=replace(cfg.camera, source=source))), 0o644)
    camera_dir = str(Path(lib.bundle_dir) / "camera") if source == "dir:camera" else None
    out = replace(layout, nodes=[replace(n, camera_dir=camera_dir) if n.name == "library" else n
                                 for n in layout.nodes])
    out.save()
    return out


def demo_server_toml() -> str:
    """``server.toml`` for the demo: the defaults, and every pass scoped to the teaching group."""
    marker = "visitor_max_hours = 72\n"
    if marker not in DEFAULT_SERVER_TOML:
        raise CampusPassError("the default server.toml changed; cannot add the demo's campus_groups",
                              code="demo_config")
    return DEFAULT_SERVER_TOML.replace(
        marker, marker + f'# Every pass opens the {TEACHING_GROUP} buildings (the library).\n'
        f'campus_groups = ["{TEACHING_GROUP}"]\n')


#: The demo doors' repeat-scan window (seconds): the same pass seen again within it is one scan.
REPEAT_WINDOW_S = 1.0


def node_template(camera: str, status_port: int, *, sync_interval_s: float = 1.0) -> NodeConfig:
    """The demo's door node settings: ``camera`` source, MockFactory pins, a 1 s repeat window,
    sync every ``sync_interval_s`` seconds with short backoff, the given status port."""
    return NodeConfig(
        node=NodeIdentity(id="template", building="template"),
        camera=CameraConfig(source=camera),
        gpio=GpioConfig(pin_factory="mock", relay_pulse_s=3.0),
        scan=ScanConfig(repeat_window_s=REPEAT_WINDOW_S),
        sync=SyncConfig(interval_s=sync_interval_s, backoff_initial_s=0.5, backoff_max_s=3.0,
                        connect_timeout_s=2.0, read_timeout_s=10.0),
        status=StatusConfig(port=status_port),
    )


def _phone(i: int) -> str:
    return f"139{i:08d}"


async def _populate(
    dd: DataDir, layout_accounts: list[DemoAccount], roster_csv: str, hasher: PasswordHasher, *, port: int,
    nodes: list[tuple[str, str, str, int]], sync: bool,
) -> list[DemoNode]:
    now = SystemClock().now()
    now_s = to_unix(now)
    db = await Database.open(dd.db_path)
    try:
        await import_roster(db, hasher, roster_csv.encode("utf-8"), now_s=now_s, actor_number="demo")
        people = People(db)
        known = await hasher.hash(DEMO_PASSWORD)
        ready = [a.number for a in layout_accounts if a.role != "student"] + ["admin"]
        for i, number in enumerate(ready, start=1):
            person = await people.by_number(number)
            assert person is not None, number
            async with db.transaction() as conn:
                await People.set_password(conn, person.id, known, now_s)
                await People.set_verified_phone(conn, person.id, _phone(i), now_s)
        buildings = Buildings(db)
        await buildings.add_building("LIB", "Main Library", TEACHING_GROUP)
        await buildings.add_building("D7", "Dormitory 7", DORM_GROUP)
        status_store = PassStatusStore(db)
        for a in layout_accounts:
            if a.role == "student" and a.number.endswith(("1", "3", "5", "7", "9")):
                person = await people.by_number(a.number)
                assert person is not None
                await status_store.set_dormitory(person.id, DORM_GROUP)
        out = []
        server_url = f"http://127.0.0.1:{port}" if sync else ""
        for name, building, camera, status_port in nodes:
            bundle = dd.root / "nodes" / name
            result = await provision_node(
                dd, db, name=name, building=building, direction="entry", server_url=server_url, out=bundle,
                now=now, node_id=f"{name}-entry-1", template=node_template(camera, status_port))
            camera_dir = str(bundle / "camera") if camera == "dir:camera" else None
            out.append(DemoNode(name, result.node.id, building, str(bundle), camera_dir, status_port))
        return out
    finally:
        await db.close()


def setup_demo(
    data_dir: Path, *, port: int, status_ports: tuple[int, int] = (8471, 8472), camera: str | None = None,
    students_per_department: int = 50, hasher_params: Argon2Params | None = None, sync: bool = True,
) -> DemoLayout:
    """Make the demo campus in ``data_dir`` (which must not hold a campuspass installation).

    Args:
        port: the server port the nodes will sync with.
        status_ports: status endpoint ports of the library and dormitory nodes.
        camera: the library node's camera source (default: its watched folder ``dir:camera``).
        students_per_department: roster size (4 departments).
        hasher_params: Argon2id cost for the imported passwords (default: production cost;
            the end-to-end test passes a cheap one to save time).
        sync: False writes nodes without ``server_url`` (they never sync).

    Raises:
        DataDirError: ``data_dir`` already holds a data directory.
        CampusPassError: provisioning failed (see :func:`provisioning.enrol.provision_node`).
    """
    data_dir = data_dir.resolve()
    dd = init_data_dir(data_dir, SystemClock()).datadir
    write_atomic(dd.config_path, demo_server_toml(), 0o600)
    roster_csv, accounts = demo_roster(students_per_department)
    hasher = PasswordHasher(hasher_params)
    nodes = asyncio.run(_populate(
        dd, accounts, roster_csv, hasher, port=port, sync=sync,
        nodes=[("library", "LIB", camera or "dir:camera", status_ports[0]),
               ("dorm", "D7", "dir:camera", status_ports[1])]))
    for node in nodes:
        if node.camera_dir is not None:
            Path(node.camera_dir).mkdir(exist_ok=True)
    shown = [a for a in accounts if a.role != "student"]
    students = [a for a in accounts if a.role == "student"]
    account_docs: list[dict[str, object]] = [
        {"number": "admin", "role": "system_admin", "name": "admin", "department": "",
         "password": DEMO_PASSWORD, "first_login": False},
        *({"number": a.number, "role": a.role, "name": a.name, "department": a.department,
           "password": DEMO_PASSWORD, "first_login": False} for a in shown),
        *({"number": a.number, "role": a.role, "name": a.name, "department": a.department,
           "password": a.initial_password, "first_login": True} for a in students),
    ]
    layout = DemoLayout(str(data_dir), port, account_docs, nodes)
    layout.save()
    return layout
