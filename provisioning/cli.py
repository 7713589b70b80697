"""Command-line entry points of provisioning: ``campuspass init`` and ``campuspass provision``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from shared.clock import SystemClock

if TYPE_CHECKING:
    from provisioning.rotation import RotationResult


def register_init(sub: argparse._SubParsersAction) -> None:
    """Add ``campuspass init``."""
    p = sub.add_parser(
        "init",
        help="create a server data directory (keys, trust bundle, database)",
        description="Create a new server data directory: root key, first issuer key and certificate, "
        "trust bundle, configuration and an empty database. Refuses to overwrite an existing one.",
    )
    p.add_argument("--data", type=Path, required=True, help="data directory to create")
    p.add_argument("--admin", default="admin", metavar="USERNAME",
                   help="username of the first system admin (default admin); its one-time password is printed once")
    p.set_defaults(handler=_init)


def _init(args: argparse.Namespace) -> int:
    from provisioning.init import describe, init_data_dir

    clock = SystemClock()
    result = init_data_dir(args.data, clock, admin=args.admin)
    print(describe(result, clock.now()), end="")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``campuspass provision`` commands."""
    register_enrol(sub)
    register_keys(sub)


def register_enrol(sub: argparse._SubParsersAction) -> None:
    """Add node enrolment: ``provision node``, ``provision token``, ``provision enroll``."""
    node = sub.add_parser(
        "node",
        help="enrol a door node here and write its complete bundle",
        description="On the server machine: make the node's key, register its public key and write the "
        "bundle (node.toml, node.key 0600, root.pub, trust bundle, revocations, policy) into a new folder "
        "to carry to the Raspberry Pi (provisioning/install-pi.sh PACKAGE BUNDLE_DIR).",
    )
    node.add_argument("--data", type=Path, required=True, help="server data directory")
    node.add_argument("--name", required=True, help="node name; also its id when it is a valid id (d7-east-1)")
    node.add_argument("--id", dest="node_id", default=None, help="node id (default: from the name)")
    node.add_argument("--building", required=True, help="building code (campuspass server building add)")
    node.add_argument("--direction", required=True, choices=("entry", "exit"))
    node.add_argument("--server-url", required=True, help="the URL the node syncs with, e.g. https://pass.example.edu")
    node.add_argument("--out", type=Path, required=True, metavar="BUNDLE_DIR", help="new bundle folder")
    node.add_argument("--allow-plain-http", action="store_true",
                      help="accept an http:// server URL to another machine (closed networks only; use https)")
    node.set_defaults(handler=_provision_node)

    tok = sub.add_parser(
        "token",
        help="make a one-time enrolment token for a door node",
        description="Make a token that enrols one node (name, building, direction fixed now). It works once, "
        "until it expires; the server keeps only its hash. On the Pi: campuspass provision enroll.",
    )
    tok.add_argument("--data", type=Path, required=True, help="server data directory")
    tok.add_argument("--name", required=True, help="node name; also its id when it is a valid id (d7-east-1)")
    tok.add_argument("--id", dest="node_id", default=None, help="node id (default: from the name)")
    tok.add_argument("--building", required=True, help="building code")
    tok.add_argument("--direction", required=True, choices=("entry", "exit"))
    tok.add_argument("--ttl-hours", type=float, default=24.0, help="hours until the token expires (default 24)")
    tok.set_defaults(handler=_provision_token)

    enr = sub.add_parser(
        "enroll",
        help="on the Pi: enrol this node with a one-time token",
        description="Make the node key here (it never leaves this machine), register its public key "
        "with the server using the token, and write the bundle from the server's reply.",
    )
    enr.add_argument("--server-url", required=True, help="the server's URL")
    enr.add_argument("--token", required=True, help="the one-time enrolment token")
    enr.add_argument("--out", type=Path, required=True, metavar="BUNDLE_DIR", help="new bundle folder")
    enr.add_argument("--allow-plain-http", action="store_true",
                     help="accept an http:// server URL to another machine (closed networks only; use https)")
    enr.add_argument("--root-key", default=None, metavar="BASE64URL",
                     help="the root public key the server must present (printed with the token)")
    enr.set_defaults(handler=_provision_enroll)


def _print_bundle(out: Path, summary: list[str]) -> None:
    for line in summary:
        print(f"  bundle: {line}")
    print(f"  install on the Pi: sudo provisioning/install-pi.sh PACKAGE {out}")


def _provision_node(args: argparse.Namespace) -> int:
    import asyncio

    from provisioning.enrol import provision_node
    from server.datadir import DataDir

    async def run() -> int:
        dd = DataDir(args.data)
        async with dd.database() as db:
            result = await provision_node(
                dd, db, name=args.name, building=args.building, direction=args.direction,
                server_url=args.server_url, out=args.out, now=SystemClock().now(), node_id=args.node_id,
                allow_plain_http=args.allow_plain_http)
        print(f"enrolled node {result.node.id} ({result.node.building}, {result.node.direction}); "
              f"bundle written to {args.out} (node.key mode 0600)")
        _print_bundle(args.out, result.summary)
        return 0

    return asyncio.run(run())


def _provision_token(args: argparse.Namespace) -> int:
    import asyncio

    from server.datadir import DataDir
    from server.enrolment import create_token
    from shared.keys import b64u_encode

    async def run() -> int:
        dd = DataDir(args.data)
        async with dd.database() as db:
            new = await create_token(dd, db, name=args.name, building=args.building, direction=args.direction,
                                     now=SystemClock().now(), ttl_s=round(args.ttl_hours * 3600),
                                     created_by="cli", node_id=args.node_id)
        print(f"enrolment token for node {new.row.node_id} ({new.row.building}, {new.row.direction}), "
              f"single use, expires {_when(new.row.expires_at_s)}:")
        print(f"  {new.token}")
        print("  (shown only now) on the Pi run:")
        print(f"  campuspass provision enroll --server-url URL --token {new.token} "
              f"--root-key={b64u_encode(dd.root_public())} --out BUNDLE_DIR")
        return 0

    return asyncio.run(run())


def _provision_enroll(args: argparse.Namespace) -> int:
    import asyncio

    from provisioning.enrol_client import enroll
    from shared.errors import CampusPassError
    from shared.keys import b64u_decode

    pinned = None
    if args.root_key is not None:
        pinned = b64u_decode(args.root_key.strip())
        if len(pinned) != 32:
            raise CampusPassError(f"--root-key is {len(pinned)} bytes; expected 32", code="bad_key")
    result = asyncio.run(enroll(args.server_url, args.token, args.out, pinned_root=pinned,
                                allow_plain_http=args.allow_plain_http))
    print(f"enrolled as node {result.node_id}; bundle written to {args.out} (node.key mode 0600, "
          "made on this machine)")
    _print_bundle(args.out, result.summary)
    return 0


def register_keys(sub: argparse._SubParsersAction) -> None:
    """Add key rotation and the offline root commands (``docs/keys.md``)."""
    rot = sub.add_parser(
        "rotate-issuer",
        help="create the next issuer key and publish it before it signs",
        description="Create the next issuer key and its root-signed certificate, publish them in a new "
        "trust bundle and schedule the key to start signing after the overlap. The key it replaces stays "
        "verifiable until every pass it signed has expired. Without the root key on the server, use "
        "--offline-request and sign on the offline machine.",
    )
    rot.add_argument("--data", type=Path, required=True, help="server data directory")
    rot.add_argument("--overlap-hours", type=float, default=None,
                     help="hours between publishing the key and signing with it "
                     "(default: keys.rotation_overlap_hours in server.toml)")
    rot.add_argument("--drop-old", action="store_true",
                     help="emergency (an issuer key may have leaked): leave every older certificate out of "
                     "the new bundle and sign with the new key at once; passes signed before stop verifying")
    rot.add_argument("--offline-request", type=Path, default=None, metavar="OUT.json",
                     help="write a certificate request for the offline root instead of signing here")
    rot.set_defaults(handler=_rotate_issuer)

    exp = sub.add_parser(
        "export-root",
        help="move the root private key off the server",
        description="Write the root private key to FILE (mode 0600, on removable media), check the copy "
        "against trust/root.pub and delete the key from the data directory.",
    )
    exp.add_argument("--data", type=Path, required=True, help="server data directory")
    exp.add_argument("--out", type=Path, required=True, metavar="FILE", help="new file for the root key")
    exp.set_defaults(handler=_export_root)

    sig = sub.add_parser(
        "sign-request",
        help="sign an issuer certificate request with the offline root key",
        description="On the offline machine: check REQUEST.json against the current trust bundle and "
        "write the signed certificate and the next trust bundle to RESPONSE.json.",
    )
    sig.add_argument("--root-key", type=Path, required=True, metavar="FILE", help="root private key")
    sig.add_argument("request", type=Path, metavar="REQUEST.json", help="request from rotate-issuer")
    sig.add_argument("--bundle", type=Path, required=True, metavar="CURRENT_BUNDLE.json",
                     help="the server's current trust/bundle.json")
    sig.add_argument("--out", type=Path, required=True, metavar="RESPONSE.json", help="new response file")
    sig.set_defaults(handler=_sign_request)

    ins = sub.add_parser(
        "install-response",
        help="publish the bundle signed by the offline root",
        description="Check RESPONSE.json against the pinned root key and the pending request, publish "
        "the new trust bundle and schedule the new issuer key.",
    )
    ins.add_argument("--data", type=Path, required=True, help="server data directory")
    ins.add_argument("response", type=Path, metavar="RESPONSE.json", help="response from sign-request")
    ins.set_defaults(handler=_install_response)


def _when(unix_s: int) -> str:
    from shared.campus_time import local
    from shared.clock import from_unix

    at = from_unix(unix_s)
    return f"{at:%Y-%m-%d %H:%M}Z ({local(at):%Y-%m-%d %H:%M} campus time)"


def _print_result(result: RotationResult) -> None:
    print(f"published trust bundle v{result.bundle_version} with issuer key {result.key_id}")
    print(f"  key {result.key_id} signs from {_when(result.signing_from_s)}")
    for key_id, until in sorted(result.retired.items()):
        print(f"  key {key_id} stays verifiable until {_when(until)}")
    for key_id in result.dropped:
        print(f"  key {key_id} left out of the bundle, private key deleted")


def _rotate_issuer(args: argparse.Namespace) -> int:
    from provisioning.rotation import rotate_issuer, start_rotation, write_json_new
    from server.datadir import DataDir

    dd = DataDir(args.data)
    now = SystemClock().now()
    overlap_s = None if args.overlap_hours is None else round(args.overlap_hours * 3600)
    if args.offline_request is None:
        _print_result(rotate_issuer(dd, now, overlap_s, drop_old=args.drop_old))
        return 0
    request = start_rotation(dd, now, overlap_s, drop_old=args.drop_old)
    write_json_new(args.offline_request, request.to_json(), 0o644)
    print(f"wrote request for issuer key {request.key_id} to {args.offline_request}")
    print(f"  sign it before {_when(request.signing_from_s)} on the offline machine:")
    print(f"  campuspass provision sign-request --root-key ROOT.key {args.offline_request.name} "
          f"--bundle bundle.json --out response.json")
    print(f"  (bundle.json: a copy of {dd.bundle_path})")
    return 0


def _export_root(args: argparse.Namespace) -> int:
    from provisioning.offline_root import export_root
    from server.datadir import DataDir
    from shared.keys import b64u_encode

    result = export_root(DataDir(args.data), args.out)
    print(f"root key moved to {result.out} (public key {b64u_encode(result.root_public)})")
    print("  keep it offline; issuer rotations now need: rotate-issuer --offline-request")
    return 0


def _sign_request(args: argparse.Namespace) -> int:
    from provisioning.offline_root import sign_request_files

    response = sign_request_files(args.root_key, args.request, args.bundle, args.out)
    version = response.bundle.get("version")
    print(f"signed issuer key {response.key_id} and trust bundle v{version}: {args.out}")
    return 0


def _install_response(args: argparse.Namespace) -> int:
    from provisioning.rotation import RotationResponse, install_response, read_json
    from server.datadir import DataDir

    response = RotationResponse.from_json(read_json(args.response, "response"))
    _print_result(install_response(DataDir(args.data), response, SystemClock().now()))
    return 0
