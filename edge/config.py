"""The door node's typed configuration (``node.toml``), strict: unknown keys are refused.

Provisioning writes this file into the node bundle (see ``docs/edge-node.md``); ``campuspass
edge check-config`` and ``campuspass edge run`` read it. Paths are relative to the folder of
the config file. Every table has defaults except ``[node]``'s identity keys::

    [node]
    id = "d7-east-1"           # unique node id (enrolment)
    name = "Dormitory 7 east door"
    building = "D7"            # building code in the policy document
    direction = "entry"        # entry | exit
    data_dir = "data"          # node SQLite database lives here
    server_url = ""            # empty: no sync (standalone)

    [camera]
    source = "picamera2"       # picamera2 | opencv:N | dir:PATH | files:GLOB | PATH.mp4
    width_px = 1280
    height_px = 720

    [decoder]
    name = "zxing"             # zxing | pyzbar
    retry_budget_s = 0.05      # retry ladder time per hard frame (0: off)

    [gpio]
    pin_factory = "native"     # native (lgpio on a Pi, edge.pins) | mock
    relay_pulse_s = 3.0
    green = { pin = "GPIO17", active_high = true }
    red = { pin = "GPIO27", active_high = true }
    buzzer = { pin = "GPIO22", active_high = true }
    relay = { pin = "GPIO23", active_high = true }

    [scan]
    repeat_window_s = 5.0

    [sync]
    interval_s = 30.0
    batch_size = 500
    keep_synced_s = 604800.0   # acknowledged records kept for local audit

    [trust]
    stale_after_s = 172800     # 48 h
    fail_mode = "secure"       # secure | open

    [status]
    port = 8471                # 0 disables the status endpoint
    host = "127.0.0.1"         # bind address (the management address for Prometheus)

    [storage]
    queue_max = 5000           # decisions held in memory while the disk fails
    reserve_bytes = 1048576    # space kept free to record a storage fault
    retry_s = 1.0              # seconds between attempts to write the held decisions
    integrity_check_s = 86400  # full integrity check of node.db this often

    [files]                    # the provisioning bundle, next to node.toml
    root_pub = "root.pub"
    node_key = "node.key"
    trust_bundle = "trust-bundle.json"
    revocations = "revocations.json"
    policy = "policy.json"
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from qrdecode.budget import DEFAULT_RETRY_BUDGET_S
from shared.config import from_mapping
from shared.errors import ConfigError

_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SOURCE = re.compile(r"^(picamera2(:\d+)?|opencv:\d+|dir:.+|files:.+|.+\.(mp4|avi|mkv|mov|webm))$")


@dataclass(frozen=True)
class NodeIdentity:
    """Who and where this node is.

    Attributes:
        id: node id, 1..64 of ``A-Z a-z 0-9 . _ -`` (registered at enrolment).
        name: human name shown to admins.
        building: building code; must be in the policy document.
        direction: ``entry`` or ``exit`` (recorded in every scan).
        data_dir: folder for the node database (relative to the config file).
        server_url: base URL of the campuspass server; empty means no sync. ``https://``, or
            ``http://`` to a loopback address; plain ``http://`` elsewhere only with
            ``allow_plain_http`` (sync answers are signed either way, but an eavesdropper reads
            the scan log: docs/security.md).
        allow_plain_http: accept an ``http://`` server URL that is not loopback.
    """

    id: str
    building: str
    name: str = ""
    direction: Literal["entry", "exit"] = "entry"
    data_dir: str = "data"
    server_url: str = ""
    allow_plain_http: bool = False

    def __post_init__(self) -> None:
        if not _NODE_ID.match(self.id):
            raise ValueError(f"node.id = {self.id!r}; expected 1..64 of A-Z a-z 0-9 . _ -")
        if not self.building.strip():
            raise ValueError(f"node.building = {self.building!r}; expected a building code")
        if self.server_url and not self.server_url.startswith(("http://", "https://")):
            raise ValueError(f"node.server_url = {self.server_url!r}; expected http(s)://... or empty")
        if self.server_url and not self.allow_plain_http:
            check_server_url(self.server_url)


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_server_url(url: str) -> None:
    """Refuse a plain ``http://`` server URL that is not loopback (docs/raspberry-pi.md: TLS).

    Raises:
        ValueError: the URL is ``http://`` to another host; the message says how to allow it.
    """
    if url.startswith("http://") and not is_loopback_url(url):
        raise ValueError(
            f"server URL {url!r} is plain http to another machine: scans would cross the network "
            "readable by anyone on the path; use https:// (docs/raspberry-pi.md, TLS) or, on a "
            "closed network, allow it explicitly (node.allow_plain_http = true / --allow-plain-http)")


@dataclass(frozen=True)
class CameraConfig:
    """Where frames come from (see :mod:`edge.camera`).

    Attributes:
        source: ``picamera2``, ``opencv:N`` (device index N), ``dir:PATH`` (new image files in
            a folder), ``files:GLOB`` (replay images) or a video file path.
        width_px, height_px: requested frame size (picamera2 and opencv only).
        reopen_max_s: longest wait between reopen attempts after an outage (seconds).
        stall_s: no frame for this long counts as an outage (live cameras), and a camera call
            still running this long is hung (any camera; seconds; see :mod:`edge.camera.supervisor`).
    """

    source: str = "picamera2"
    width_px: int = 1280
    height_px: int = 720
    reopen_max_s: float = 10.0
    stall_s: float = 5.0

    def __post_init__(self) -> None:
        if not _SOURCE.match(self.source):
            raise ValueError(
                f"camera.source = {self.source!r}; expected picamera2, opencv:N, dir:PATH, "
                "files:GLOB or a video file (.mp4 .avi .mkv .mov .webm)"
            )
        if not (16 <= self.width_px <= 8192 and 16 <= self.height_px <= 8192):
            raise ValueError(f"camera size {self.width_px}x{self.height_px}; expected 16..8192 each")
        if self.reopen_max_s <= 0 or self.stall_s <= 0:
            raise ValueError("camera.reopen_max_s and camera.stall_s must be > 0 seconds")




@dataclass(frozen=True)
class DecoderConfig:
    """Which QR decoder reads the frames, and how long it may retry a hard frame.

    Attributes:
        name: ``zxing`` (default; with the retry ladder, see :mod:`qrdecode.ladder`) or ``pyzbar``.
        retry_budget_s: longest extra time the retry ladder may spend on one frame after the
            first read found nothing but the frame shows a code (seconds, 0..1; 0 turns the ladder
            off). Default: three quarters of the 1/15 s frame interval (0.05 s).
    """

    name: Literal["zxing", "pyzbar"] = "zxing"
    retry_budget_s: float = DEFAULT_RETRY_BUDGET_S

    def __post_init__(self) -> None:
        if not 0 <= self.retry_budget_s <= 1.0:
            raise ValueError(f"decoder.retry_budget_s = {self.retry_budget_s!r}; expected 0..1 seconds")


@dataclass(frozen=True)
class PinConfig:
    """One output pin: a gpiozero pin name (``"GPIO17"``, ``"BOARD11"``) or a BCM number."""

    pin: int | str
    active_high: bool = True


@dataclass(frozen=True)
class GpioConfig:
    """Door outputs (see :mod:`edge.outputs`).

    Attributes:
        pin_factory: ``native`` (lgpio, else RPi.GPIO, on a Pi) or ``mock`` (gpiozero
            MockFactory, for demos and machines without GPIO); built by
            :func:`edge.pins.make_pin_factory`, which sets each level before the pin is an output.
        relay_pulse_s: how long the relay is energised (door unlocked) on accept, seconds.
    """

    pin_factory: Literal["native", "mock"] = "native"
    relay_pulse_s: float = 3.0
    green: PinConfig = field(default_factory=lambda: PinConfig("GPIO17"))
    red: PinConfig = field(default_factory=lambda: PinConfig("GPIO27"))
    buzzer: PinConfig = field(default_factory=lambda: PinConfig("GPIO22"))
    relay: PinConfig = field(default_factory=lambda: PinConfig("GPIO23"))

    def __post_init__(self) -> None:
        if not 0.2 <= self.relay_pulse_s <= 30:
            raise ValueError(f"gpio.relay_pulse_s = {self.relay_pulse_s!r}; expected 0.2..30 seconds")
        pins = [str(p.pin) for p in (self.green, self.red, self.buzzer, self.relay)]
        if len(set(pins)) != 4:
            raise ValueError(f"gpio pins {pins}; expected four different pins")


@dataclass(frozen=True)
class ScanConfig:
    """Scanning. ``repeat_window_s``: the same pass seen again within this many seconds is one scan."""

    repeat_window_s: float = 5.0

    def __post_init__(self) -> None:
        if not 0 <= self.repeat_window_s <= 3600:
            raise ValueError(f"scan.repeat_window_s = {self.repeat_window_s!r}; expected 0..3600 seconds")


@dataclass(frozen=True)
class SyncConfig:
    """Sync with the server (see :mod:`edge.sync` and docs/sync-protocol.md).

    Attributes:
        interval_s: seconds between sync rounds while online.
        batch_size: scan records per upload request.
        catch_up_batch_size: records per request while more than two batches are queued (after an
            outage: fewer round trips); at most the server's ``[sync] max_batch`` (default 1000).
        keep_synced_s: acknowledged records stay in the local log this long (local audit),
            then are purged (seconds).
        connect_timeout_s, read_timeout_s: HTTP timeouts (seconds).
        request_deadline_s: a whole sync request (connect, upload, complete answer) must finish
            within this many seconds, or it counts as no answer (a reply dripped slowly cannot
            hold a round).
        backoff_initial_s, backoff_max_s: retry delay after a failure doubles from the first
            value up to the second, with full jitter (seconds).
    """

    interval_s: float = 30.0
    batch_size: int = 500
    catch_up_batch_size: int = 1000
    keep_synced_s: float = 7 * 86400.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    request_deadline_s: float = 60.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0

    def __post_init__(self) -> None:
        if not 0.05 <= self.interval_s <= 86400:
            raise ValueError(f"sync.interval_s = {self.interval_s!r}; expected 0.05..86400 seconds")
        if not 1 <= self.batch_size <= 1000:
            raise ValueError(f"sync.batch_size = {self.batch_size!r}; expected 1..1000 records")
        if not self.batch_size <= self.catch_up_batch_size <= 1000:
            raise ValueError(f"sync.catch_up_batch_size = {self.catch_up_batch_size!r}; "
                             f"expected batch_size ({self.batch_size})..1000 records")
        if not 0 <= self.keep_synced_s <= 366 * 86400:
            raise ValueError(f"sync.keep_synced_s = {self.keep_synced_s!r}; expected 0..31622400 seconds")
        if self.connect_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise ValueError("sync.connect_timeout_s and sync.read_timeout_s must be > 0 seconds")
        if not 0 < self.request_deadline_s <= 3600:
            raise ValueError(f"sync.request_deadline_s = {self.request_deadline_s!r}; expected 0 < s <= 3600")
        if not 0 < self.backoff_initial_s <= self.backoff_max_s <= 86400:
            raise ValueError(
                f"sync backoff {self.backoff_initial_s!r}..{self.backoff_max_s!r} s; expected 0 < initial <= max"
            )


@dataclass(frozen=True)
class TrustConfig:
    """Trust data freshness.

    Attributes:
        stale_after_s: revocation data older than this (seconds since the server signed it)
            is stale: the status indication says so.
        fail_mode: ``secure`` (default): with stale revocation data every pass is denied
            (reason ``stale_trust``); ``open``: valid passes are still admitted and the
            staleness is only reported. The relay is locked on stop and crash in both modes.
    """

    stale_after_s: int = 172800
    fail_mode: Literal["secure", "open"] = "secure"

    def __post_init__(self) -> None:
        if not 60 <= self.stale_after_s <= 90 * 86400:
            raise ValueError(f"trust.stale_after_s = {self.stale_after_s!r}; expected 60..7776000 seconds")


@dataclass(frozen=True)
class StatusConfig:
    """The status endpoint (``/healthz``, ``/status``, ``/metrics``). ``port`` 0 disables it.

    ``host`` is the address it binds: 127.0.0.1 (default) for the node itself only, or the
    node's own address on the management network so that Prometheus can scrape ``/metrics``.
    """

    port: int = 8471
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"status.port = {self.port!r}; expected 0..65535")


@dataclass(frozen=True)
class StorageConfig:
    """What the node does when its disk fails (docs/edge-node.md, "Storage faults").

    Attributes:
        queue_max: decisions held in memory, in order and hash-chained, while the node
            database cannot be written (each about 600 bytes); when full, every further scan
            is denied and counted as dropped.
        reserve_bytes: size of the reserve file kept next to the database; released on a
            full disk so the fault itself (and the first held decisions) can be written.
        retry_s: seconds between attempts to write the held decisions back.
        integrity_check_s: seconds between full integrity checks of the database (a quick
            check runs at every start); damage found stops the node so that the next start
            moves the file aside (docs/edge-node.md, "Damaged or missing database").
    """

    queue_max: int = 5000
    reserve_bytes: int = 1 << 20
    retry_s: float = 1.0
    integrity_check_s: float = 86400.0

    def __post_init__(self) -> None:
        if not 10 <= self.queue_max <= 1_000_000:
            raise ValueError(f"storage.queue_max = {self.queue_max!r}; expected 10..1000000 decisions")
        if not 0 <= self.reserve_bytes <= 1 << 30:
            raise ValueError(f"storage.reserve_bytes = {self.reserve_bytes!r}; expected 0..1073741824 bytes")
        if not 0.05 <= self.retry_s <= 3600:
            raise ValueError(f"storage.retry_s = {self.retry_s!r}; expected 0.05..3600 seconds")
        if not 1 <= self.integrity_check_s <= 30 * 86400:
            raise ValueError(f"storage.integrity_check_s = {self.integrity_check_s!r}; expected 1..2592000 seconds")


@dataclass(frozen=True)
class BundleFiles:
    """File names of the provisioning bundle, relative to the config file's folder."""

    root_pub: str = "root.pub"
    node_key: str = "node.key"
    trust_bundle: str = "trust-bundle.json"
    revocations: str = "revocations.json"
    policy: str = "policy.json"


@dataclass(frozen=True)
class NodeConfig:
    """Everything ``campuspass edge run`` reads from ``node.toml``.

    ``base_dir`` is the folder relative paths are resolved against (the config file's folder;
    not a TOML key).
    """

    node: NodeIdentity
    camera: CameraConfig = field(default_factory=CameraConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    gpio: GpioConfig = field(default_factory=GpioConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    trust: TrustConfig = field(default_factory=TrustConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    files: BundleFiles = field(default_factory=BundleFiles)
    base_dir: Path = field(default=Path("."), compare=False, metadata={"config": False})

    def path(self, relative: str) -> Path:
        """``relative`` resolved against the config file's folder (absolute paths kept)."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def data_dir(self) -> Path:
        """The node's data folder (holds ``node.db``)."""
        return self.path(self.node.data_dir)

    @property
    def db_path(self) -> Path:
        """The node's SQLite database file."""
        return self.data_dir / "node.db"


def _refuse_non_finite(data: object, prefix: str) -> None:
    """Refuse ``nan`` and ``inf`` anywhere in the parsed TOML (every node setting is finite).

    Raises:
        ConfigError: names the dotted key and its value.
    """
    if isinstance(data, dict):
        for key, value in data.items():
            _refuse_non_finite(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, float) and not math.isfinite(data):
        raise ConfigError(f"{prefix} = {data!r}; expected a finite number")


def node_config_from_mapping(data: dict[str, object], base_dir: Path) -> NodeConfig:
    """Build a :class:`NodeConfig` from parsed TOML (as provisioning writes it).

    Raises:
        ConfigError: unknown key, missing key or bad value (names the dotted key and value).
    """
    if isinstance(data, dict) and "base_dir" in data:
        raise ConfigError(f"unknown key 'base_dir' = {data['base_dir']!r}; paths are relative to node.toml")
    _refuse_non_finite(data, "")
    cfg = from_mapping(NodeConfig, data)
    return replace(cfg, base_dir=base_dir)


def load_node_config(path: Path) -> NodeConfig:
    """Read ``node.toml``; relative paths resolve against its folder.

    Raises:
        ConfigError: missing or unreadable file, bad TOML, unknown key or bad value.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    return node_config_from_mapping(data, path.resolve().parent)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def dump_node_config(cfg: NodeConfig) -> str:
    """``node.toml`` text for ``cfg`` (every key written out; ``base_dir`` omitted).

    Used by provisioning to write a node bundle; :func:`load_node_config` reads it back equal.
    """
    lines = ["# campuspass door node configuration. Unknown keys are refused.", ""]
    for f in dataclasses.fields(cfg):
        if f.name == "base_dir":
            continue
        table = getattr(cfg, f.name)
        lines.append(f"[{f.name}]")
        for sub in dataclasses.fields(table):
            value = getattr(table, sub.name)
            if dataclasses.is_dataclass(value):
                inner = ", ".join(
                    f"{g.name} = {_toml_value(getattr(value, g.name))}" for g in dataclasses.fields(value)
                )
                lines.append(f"{sub.name} = {{ {inner} }}")
            else:
                lines.append(f"{sub.name} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)
