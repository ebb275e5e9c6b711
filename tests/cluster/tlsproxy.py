"""A real TLS proxy for the tests: Debian's nginx running deploy/nginx.conf, with a certificate
issued by a throwaway CA made here (cryptography's x509 builder).

    tls = make_certificates(tmp_dir)                  # CA + a leaf for 127.0.0.1 and localhost
    with run_nginx(tmp_dir, tls, port, upstreams) as proxy:
        proxy.url                                     # https://127.0.0.1:PORT

Chromium is told to trust exactly this leaf's public key
(``--ignore-certificate-errors-spki-list``, ``tls.spki_sha256``) while Playwright keeps
``ignore_https_errors=False``: any other certificate, or a plain-HTTP page, still fails.
Python clients verify against ``tls.ca_path``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import os
import re
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "deploy" / "nginx.conf"
NGINX = Path(os.environ.get("MESHKEYS_NGINX", "/usr/sbin/nginx"))


@dataclass(frozen=True)
class TlsFiles:
    ca_path: Path
    cert_path: Path
    key_path: Path
    spki_sha256: str  # base64 SHA-256 of the leaf's SubjectPublicKeyInfo (Chromium's pin)

    def context(self) -> ssl.SSLContext:
        """What a Python client verifies the proxy with: the throwaway CA, nothing else."""
        return ssl.create_default_context(cafile=str(self.ca_path))


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_certificates(directory: Path) -> TlsFiles:
    """A CA and a server certificate signed by it, valid for 127.0.0.1 and localhost."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("meshkeys test CA"))
        .issuer_name(_name("meshkeys test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = (directory / n for n in ("ca.pem", "server.pem", "server.key"))
    ca_path.write_bytes(ca.public_bytes(pem))
    # The chain nginx serves: the leaf, then the CA.
    cert_path.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return TlsFiles(ca_path, cert_path, key_path, base64.b64encode(digest.finalize()).decode())


def render(*, listen: str, server_name: str, tls: TlsFiles, upstreams: Sequence[str]) -> str:
    """deploy/nginx.conf with its slots filled."""
    servers = "\n    ".join(f"server {u} max_fails=1 fail_timeout=5s;" for u in upstreams)
    text = TEMPLATE.read_text()
    for slot, value in {
        "@@UPSTREAM_SERVERS@@": servers,
        "@@LISTEN@@": listen,
        "@@SERVER_NAME@@": server_name,
        "@@CERTIFICATE@@": str(tls.cert_path),
        "@@CERTIFICATE_KEY@@": str(tls.key_path),
    }.items():
        text = text.replace(slot, value)
    left = re.findall(r"@@[A-Z_]+@@", text)
    assert not left, f"deploy/nginx.conf has slots the fixture does not fill: {left}"
    return text


@dataclass
class Proxy:
    url: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes]

    def log_tail(self) -> str:
        parts = []
        for name in ("error.log", "access.log"):
            with contextlib.suppress(OSError):
                parts.append(f"--- {name} ---\n" + (self.workdir / name).read_text()[-3000:])
        return "\n".join(parts)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def run_nginx(workdir: Path, tls: TlsFiles, port: int, upstreams: Sequence[str]) -> Iterator[Proxy]:
    """nginx in the foreground, as this user, everything under ``workdir``."""
    if not NGINX.is_file():
        raise RuntimeError(
            f"{NGINX} not found: the TLS proxy tests need Debian's nginx (`apt-get install "
            "nginx`; `make test` does), or MESHKEYS_NGINX pointing at an nginx binary"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tmp").mkdir(exist_ok=True)  # noqa: S108 - a folder of workdir
    site = workdir / "meshkeys.conf"
    site.write_text(
        render(listen=f"127.0.0.1:{port}", server_name="127.0.0.1", tls=tls, upstreams=upstreams)
    )
    user = "user root;\n" if os.geteuid() == 0 else ""  # as root, workers would be "nobody"
    scratch = workdir / "tmp"
    temp = "".join(
        f"  {kind}_temp_path {scratch / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = workdir / "nginx.conf"
    main.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {workdir}/nginx.pid;\n"
        f"error_log {workdir}/error.log warn;\n"
        "events { worker_connections 512; }\n"
        f"http {{\n  access_log {workdir}/access.log;\n{temp}  include {site};\n}}\n"
    )
    process = subprocess.Popen(  # noqa: S603
        [str(NGINX), "-p", str(workdir), "-c", str(main)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "stderr.log", "wb"),  # noqa: SIM115 - closed with the process
    )
    proxy = Proxy(f"https://127.0.0.1:{port}", port, workdir, process)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"nginx exited {process.returncode}:\n"
                    + (workdir / "stderr.log").read_text()
                    + proxy.log_tail()
                )
            try:
                httpx.get(proxy.url + "/health", verify=tls.context(), timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        "nginx did not answer in 20 s\n" + proxy.log_tail()
                    ) from None
                time.sleep(0.1)
        yield proxy
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
