"""A real OpenLDAP server for tests: slapd from Debian's package, started on a free loopback
port with a generated directory (mdb database and config in a temporary folder), with the
password-policy overlay so that an account can be locked. Stopped by its own process id."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from campuspass.processes import free_port

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=example,dc=edu,dc=cn"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "directory-root-secret"
SERVICE_DN = f"cn=campuspass,ou=services,{SUFFIX}"
SERVICE_PW = "service-account-secret"


@dataclass
class Slapd:
    """A running slapd: its URL, process and folder."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    folder: Path
    ldaps_url: str = ""

    def stop(self) -> None:
        """Stop it (SIGTERM to its own pid, then wait)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def add(self, ldif: str) -> None:
        """Add entries as the root DN (ldapadd from ldap-utils)."""
        out = subprocess.run(["ldapadd", "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PW],
                             input=ldif.encode(), capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr.decode()


CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile {folder}/slapd.pid
TLSCertificateFile {folder}/cert.pem
TLSCertificateKeyFile {folder}/key.pem
database mdb
maxsize 16777216
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_pw}
directory {folder}/db
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{suffix}"
ppolicy_use_lockout
"""

BASE = f"""\
dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
o: Example University
dc: example

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

dn: ou=services,{SUFFIX}
objectClass: organizationalUnit
ou: services

dn: ou=policies,{SUFFIX}
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,{SUFFIX}
objectClass: person
objectClass: pwdPolicy
cn: default
sn: policy
pwdAttribute: userPassword
pwdLockout: TRUE
pwdMaxFailure: 1000

dn: {SERVICE_DN}
objectClass: person
cn: campuspass
sn: service
userPassword: {SERVICE_PW}
"""


def person_ldif(uid: str, password: str, *, employee_number: str = "", locked: bool = False) -> str:
    """An inetOrgPerson under ou=people (``locked``: the password policy's permanent lock)."""
    lines = [f"dn: uid={uid},ou=people,{SUFFIX}", "objectClass: inetOrgPerson", f"uid: {uid}", f"cn: {uid}",
             f"sn: {uid}", f"userPassword: {password}"]
    if employee_number:
        lines.append(f"employeeNumber: {employee_number}")
    if locked:
        lines.append("pwdAccountLockedTime: 000001010000Z")
    return "\n".join(lines) + "\n\n"


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (``(cert.pem, key.pem)``): the directory's own CA."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def start_slapd(folder: Path) -> Slapd:
    """Generate a directory in ``folder`` and start slapd on a free port (waits until it answers);
    it also listens for LDAPS at :attr:`Slapd.ldaps_url` with a self-signed
    certificate (``folder/cert.pem``)."""
    assert Path(SLAPD).exists(), "slapd is missing: ./dev installs it (apt packages slapd, ldap-utils)"
    assert shutil.which("ldapadd"), "ldapadd is missing: ./dev installs it (apt package ldap-utils)"
    (folder / "db").mkdir(parents=True)
    conf = folder / "slapd.conf"
    conf.write_text(CONFIG.format(folder=folder, suffix=SUFFIX, root_dn=ROOT_DN, root_pw=ROOT_PW), encoding="utf-8")
    self_signed_cert(folder)
    port, tls_port = free_port(), free_port()
    url = f"ldap://127.0.0.1:{port}"
    ldaps_url = f"ldaps://127.0.0.1:{tls_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDAP")}
    with open(folder / "slapd.log", "wb") as log:
        process = subprocess.Popen([SLAPD, "-f", str(conf), "-h", f"{url}/ {ldaps_url}/", "-d", "0"], stdout=log,
                                   stderr=subprocess.STDOUT, env=env)
    server = Slapd(url, port, process, folder, ldaps_url)
    deadline = time.monotonic() + 20
    while True:
        probe = subprocess.run(["ldapsearch", "-x", "-H", url, "-b", "", "-s", "base", "(objectClass=*)"],
                               capture_output=True, timeout=10)
        if probe.returncode == 0:
            break
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            err = (folder / "slapd.log").read_text(errors="replace")
            raise AssertionError(f"slapd did not start: {err[-2000:]}")
        time.sleep(0.1)
    server.add(BASE)
    return server
