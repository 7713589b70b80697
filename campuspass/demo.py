"""``campuspass demo``: the whole campus on one machine, on embedded defaults.

Sets up (or reuses) a demo data directory (:mod:`campuspass.demo_setup`), starts the server and
two door nodes as child processes (:mod:`campuspass.demo_campus`), prints the URL, the demo
accounts and how to show a pass to a door, then follows the nodes' lights and the SMS outbox
until Ctrl-C or SIGTERM, which stop every child. ``--walkthrough`` instead runs the
university guide's story through the HTTP API (:mod:`campuspass.walkthrough`) and exits 0 when
every step behaved as described.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import sys
import tempfile
from pathlib import Path

from campuspass.demo_setup import (
    DEMO_PASSWORD,
    DemoLayout,
    load_demo,
    retarget,
    set_library_camera,
    set_status_ports,
    setup_demo,
)
from campuspass.processes import ProcessGroup, Terminated, free_port, port_in_use, terminate_on_sigterm
from shared.errors import CampusPassError

DEFAULT_DEMO_DATA = Path("demo-data")
DEFAULT_PORT = 8080
STATUS_PORTS = (8471, 8472)

_LOG_LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) (?P<logger>[\w.]+): (?P<msg>.*)$")
_NODE_MESSAGES = ("lights:", "scan seq=", "server link:", "status indication:", "relay locked")


class DemoError(CampusPassError):
    """The demo cannot start. Codes: ``not_a_demo`` (the data directory holds another
    installation), ``not_fresh`` (``--walkthrough`` needs a fresh directory)."""

    code = "demo"


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``campuspass demo``."""
    p = sub.add_parser(
        "demo",
        help="run the whole product on embedded defaults",
        description="Set up a demo campus (server, ~200 synthetic students, counsellors, staff, a school admin, "
        "a library and a dormitory with a door node each), start the server and both nodes, and show the "
        "door lights and text messages as they happen. Ctrl-C stops everything. With --walkthrough, run "
        "the guide's story unattended through the HTTP API and exit.",
    )
    p.add_argument("--data", type=Path, default=None,
                   help="demo data directory (default ./demo-data; --walkthrough: a new temporary one)")
    p.add_argument("--port", type=int, default=None,
                   help=f"server port on 127.0.0.1 (default {DEFAULT_PORT}; --walkthrough: any free port)")
    p.add_argument("--reset", action="store_true", help="delete the demo data directory and start afresh")
    p.add_argument("--camera", default=None, metavar="SOURCE",
                   help="camera of the library node, e.g. opencv:0 for a webcam (default: a watched folder)")
    p.add_argument("--status-ports", type=status_ports_arg, default=None, metavar="A,B",
                   help=f"ports of the library's and the dormitory's door status pages on 127.0.0.1 (default "
                        f"{STATUS_PORTS[0]},{STATUS_PORTS[1]} when free, else free ports; --walkthrough: free ports)")
    p.add_argument("--walkthrough", action="store_true",
                   help="run the guide's story through the HTTP API and exit (0: every step as described)")
    p.set_defaults(handler=_demo)


def status_ports_arg(text: str) -> tuple[int, int]:
    """``"8571,8572"`` → ``(8571, 8572)``: two different ports 1..65535.

    Raises:
        argparse.ArgumentTypeError: anything else (argparse prints it with the usage).
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() and 0 < int(p) < 65536 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: expected two ports A,B (1-65535), e.g. 8571,8572")
    a, b = int(parts[0]), int(parts[1])
    if a == b:
        raise argparse.ArgumentTypeError(f"{text!r}: the two door status pages need two different ports")
    return a, b


def _status_ports(port: int, wanted: tuple[int, int] | None, prefer_defaults: bool) -> tuple[int, int]:
    if wanted is not None:
        if port in wanted:
            raise DemoError(f"--status-ports {wanted[0]},{wanted[1]} includes the server port {port}", code="ports")
        busy = [p for p in wanted if port_in_use(p)]
        if busy:
            raise DemoError(f"port {busy[0]} of --status-ports is in use; choose others", code="ports")
        return wanted
    if prefer_defaults and port not in STATUS_PORTS and not any(port_in_use(p) for p in STATUS_PORTS):
        return STATUS_PORTS
    return free_port(), free_port()


def _prepare(data: Path, port: int, reset: bool, camera: str | None, fresh_only: bool,
             status_ports: tuple[int, int] | None = None) -> DemoLayout:
    if reset and data.exists():
        shutil.rmtree(data)
    occupied = data.exists() and any(data.iterdir())
    if occupied:
        if fresh_only:
            raise DemoError(f"{data} is not empty; --walkthrough needs a fresh data directory (add --reset)",
                            code="not_fresh")
        layout = load_demo(data)
        if layout is None:
            raise DemoError(f"{data} holds something other than a demo campus; choose another --data or add "
                            "--reset to replace it", code="not_a_demo")
        print(f"reusing the demo campus in {data} (--reset starts afresh)", flush=True)
        layout = retarget(layout, port)
        if status_ports is not None:
            layout = set_status_ports(layout, _status_ports(port, status_ports, prefer_defaults=False))
        return set_library_camera(layout, camera or "dir:camera")
    # the walkthrough never takes the well-known ports: two people on one machine would collide
    status_ports = _status_ports(port, status_ports, prefer_defaults=not fresh_only)
    print(f"setting up a demo campus in {data} (keys, 209 accounts, 2 buildings, 2 door nodes; ~10 s)...",
          flush=True)
    return setup_demo(data, port=port, status_ports=status_ports, camera=camera)


def _relative(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def walkthrough_command() -> str:
    """How to run the walkthrough from where this demo was started: ``./dev demo --walkthrough``
    in a source checkout (``./dev demo`` does not put ``campuspass`` on the PATH), else
    ``campuspass demo --walkthrough`` when it is on the PATH, else through this interpreter."""
    if Path("dev").is_file() and Path("pyproject.toml").is_file():
        return "./dev demo --walkthrough"
    if shutil.which("campuspass"):
        return "campuspass demo --walkthrough"
    return f"{sys.executable} -m campuspass demo --walkthrough"


def banner(layout: DemoLayout, camera: str | None = None) -> str:
    """The text printed once the campus runs: URL, accounts, doors, how to show a pass."""
    data = Path(layout.data_dir)
    rows = [a for a in layout.accounts if not a["first_login"]]
    student = layout.account("student")
    students = [a for a in layout.accounts if a["role"] == "student"]
    lines = [
        "",
        "campuspass demo is running",
        f"  open        {layout.url}/",
        f"  data        {_relative(str(data))}",
        "",
        f"  accounts    password {DEMO_PASSWORD} (ready to use):",
    ]
    for a in rows:
        dept = f" ({a['department']})" if a["department"] else ""
        lines.append(f"    {str(a['role']):<13} {str(a['number']):<10} {a['name']}{dept}")
    lines += [
        f"    {'student':<13} {str(student['number']):<10} {student['name']} ({student['department']}), "
        f"initial password {student['password']}",
        "                  first login: set a new password, bind a phone with the SMS code (printed below);",
        f"                  {len(students)} students in all, initial password = last six of the ID number "
        f"(list: {_relative(str(data / 'demo.json'))})",
        "",
        "  doors       (lights and scans are printed below as they happen)",
    ]
    for n in layout.nodes:
        where = f"camera folder {_relative(n.camera_dir)}" if n.camera_dir else f"camera {camera}"
        lines.append(f"    [{n.name}] {n.building}: status {n.status_url}, {where}")
    lib = layout.node("library")
    lines += [
        "",
        "  show a pass to a door: log in as a student whose pass is black or green, save the pass image",
        f"  ({layout.url}/api/v1/pass.png) and move it into a door's camera folder (write, then rename):",
    ]
    if lib.camera_dir:
        folder = _relative(lib.camera_dir)
        lines.append(f"    cp pass.png {folder}/.new.png && mv {folder}/.new.png {folder}/pass-1.png")
    else:
        lines.append(f"    or hold the phone showing the pass up to the webcam ({camera}) of the library door")
    lines += [
        f"  or run the whole story unattended:  {walkthrough_command()}",
        "",
        "  Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def _echo(name: str, line: str) -> str | None:
    m = _LOG_LINE.match(line)
    if m is None:
        return f"[{name}] {line}" if name != "server" or "listening" in line else None
    msg, level = m.group("msg"), m.group("level")
    if name != "server" and any(msg.startswith(k) for k in _NODE_MESSAGES):
        return f"[{name}] {msg}"
    if level in ("WARNING", "ERROR", "CRITICAL"):
        return f"[{name}] {level.lower()}: {msg}"
    return None


def _follow(group: ProcessGroup, layout: DemoLayout) -> int:
    outbox = Path(layout.data_dir) / "sms-outbox.jsonl"
    seen = len(outbox.read_text(encoding="utf-8").splitlines()) if outbox.exists() else 0
    while True:
        for name, line in group.lines(0.3):
            shown = _echo(name, line)
            if shown:
                print(shown, flush=True)
        if outbox.exists():
            msgs = outbox.read_text(encoding="utf-8").splitlines()
            for raw in msgs[seen:]:
                if raw.strip():
                    doc = json.loads(raw)
                    print(f"[sms] to {doc.get('phone')}: {doc.get('body')}", flush=True)
            seen = len(msgs)
        dead = [c for c in group.children if not c.alive()]
        if dead:
            for c in dead:
                print(f"[{c.name}] exited with status {c.popen.returncode}; last output:\n{c.describe_tail()}",
                      file=sys.stderr)
            return 1


def _run_demo(args: argparse.Namespace) -> int:
    from campuspass.demo_campus import start_campus

    data = args.data or DEFAULT_DEMO_DATA
    port = args.port or DEFAULT_PORT
    layout = _prepare(data, port, args.reset, args.camera, fresh_only=False, status_ports=args.status_ports)
    with ProcessGroup() as group:
        start_campus(group, layout)
        for name, line in group.lines(0.2):  # what the children said while starting
            shown = _echo(name, line)
            if shown:
                print(shown, flush=True)
        print(banner(layout, args.camera), flush=True)
        return _follow(group, layout)


def _run_walkthrough(args: argparse.Namespace) -> int:
    from campuspass.demo_campus import start_campus
    from campuspass.walkthrough import StepFailed, Walkthrough

    temporary = args.data is None
    data = Path(tempfile.mkdtemp(prefix="campuspass-walkthrough-")) if temporary else args.data
    port = args.port or free_port()
    layout = _prepare(data, port, args.reset, None, fresh_only=True, status_ports=args.status_ports)
    ok = False
    with ProcessGroup() as group:
        campus = start_campus(group, layout, nodes=("library",))
        print(f"server {layout.url}/ and the library door node are running; the story:", flush=True)
        try:
            report = Walkthrough(layout).run()
            ok = True
        except StepFailed as exc:
            print(f"\nFAILED at step '{exc.step}': {exc.seen}", file=sys.stderr)
            for child in (campus.server, *campus.nodes.values()):
                print(f"  last output of {child.name}:\n{child.describe_tail(15)}", file=sys.stderr)
    if ok:
        print(f"\nwalkthrough complete: every step behaved as described "
              f"({len(report.server_scans)} library scans of {report.student} on the server).")
        if temporary:
            shutil.rmtree(data, ignore_errors=True)
        return 0
    print(f"  data directory kept for inspection: {data}", file=sys.stderr)
    return 1


def _demo(args: argparse.Namespace) -> int:
    for quiet in ("httpx", "server.storage.database"):  # one line per request / migration is noise here
        logging.getLogger(quiet).setLevel(logging.WARNING)
    try:
        with terminate_on_sigterm():
            return _run_walkthrough(args) if args.walkthrough else _run_demo(args)
    except (KeyboardInterrupt, Terminated):
        print("\nstopped: server and door nodes are down.", flush=True)
        return 0
