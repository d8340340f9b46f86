"""``python -m services.keyagent rpc-tls``: a self-signed TLS certificate for the node's nginx, made at pod start.

nginx is the only way into a node's JSON-RPC and serves TLS only, so it cannot start without a certificate. When no
cert-manager issuer is configured for the node (``rpcTls.issuer``), the pod's ``rpc-tls`` init container runs this
command (the key agent image: it already ships ``cryptography``, runs unprivileged on a read-only root and is
pulled by every writer) to write ``tls.crt`` and ``tls.key`` to the memory volume nginx mounts. The pair is ECDSA
P-256, names the node's RPC host names, and is never stored anywhere else: it is made again at every pod start,
so clients cannot pin it across restarts (use an issuer for a certificate clients can trust).

The output directory must be memory-backed, like the agent's (``services.keyagent.output``), and the files are
written the same way (0600, atomic, no symlink following). A valid pair already there for the same names is kept,
so an init container restart changes nothing.

Exit codes: 0 written or kept; 2 bad arguments; 3 output directory not memory-backed.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lacchain.tls import certificate_to_pem, key_usage, private_key_to_pem
from services.keyagent.errors import KeyAgentError
from services.keyagent.output import ALLOW_FLAG, ensure_memory_backed, write_files

COMMAND = "rpc-tls"
CERT_FILE = "tls.crt"
KEY_FILE = "tls.key"
"""The names of a ``kubernetes.io/tls`` Secret's keys: nginx reads the same files from either source."""
VALIDITY_DAYS = 397
"""The longest validity browsers accept for a server certificate; the VM's boot script uses the same."""
KEEP_MARGIN = datetime.timedelta(days=7)
MAX_COMMON_NAME = 64
DNS_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")

log = logging.getLogger("lacchain.keyagent.rpc_tls")


def self_signed(
    dns_names: Sequence[str],
    ip_addresses: Sequence[str] = (),
    now: datetime.datetime | None = None,
    days: int = VALIDITY_DAYS,
) -> tuple[str, str]:
    """(certificate PEM, PKCS#8 private key PEM) of a new self-signed server certificate for the names."""
    if not dns_names and not ip_addresses:
        raise ValueError("a certificate needs at least one DNS name or IP address")
    key = ec.generate_private_key(ec.SECP256R1())
    start = (now or datetime.datetime.now(datetime.UTC)) - datetime.timedelta(minutes=5)
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses]
    # TLS clients read the subject alternative names; the common name is only a label for people, and must be short.
    label = next((n for n in [*dns_names, *ip_addresses] if len(n) <= MAX_COMMON_NAME), None)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)] if label else [])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=bool(not label))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            key_usage(),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate_to_pem(certificate), private_key_to_pem(key)


def _usable(directory: Path, dns_names: Sequence[str], ip_addresses: Sequence[str], now: datetime.datetime) -> bool:
    """A pair already in ``directory`` that matches, names exactly these hosts and stays valid a while longer."""
    try:
        certificate = x509.load_pem_x509_certificate((directory / CERT_FILE).read_bytes())
        key = serialization.load_pem_private_key((directory / KEY_FILE).read_bytes(), password=None)
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound):
        return False
    same_key = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    wanted_ips = {ipaddress.ip_address(a) for a in ip_addresses}
    same_names = set(names.get_values_for_type(x509.DNSName)) == set(dns_names) and (
        set(names.get_values_for_type(x509.IPAddress)) == wanted_ips
    )
    return same_key and same_names and certificate.not_valid_after_utc - KEEP_MARGIN > now


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m services.keyagent {COMMAND}",
        description="Write a self-signed TLS certificate (tls.crt, tls.key) for nginx to a memory-backed directory.",
    )
    parser.add_argument("--out", type=Path, required=True, help="memory-backed directory nginx reads tls.* from")
    parser.add_argument("--dns-name", action="append", default=[], help="a DNS name to certify (repeatable)")
    parser.add_argument("--ip", action="append", default=[], help="an IP address to certify (repeatable)")
    parser.add_argument(ALLOW_FLAG, dest="allow_persistent_dir", action="store_true", help="development machines")
    return parser


def _problems(dns_names: Sequence[str], ip_addresses: Sequence[str]) -> list[str]:
    problems = [f"--dns-name {n!r} is not a lower-case DNS name" for n in dns_names if not DNS_NAME.match(n)]
    for address in ip_addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            problems.append(f"--ip {address!r} is not an IP address")
    if not dns_names and not ip_addresses:
        problems.append("give at least one --dns-name or --ip")
    return problems


def main(argv: Sequence[str], now: datetime.datetime | None = None) -> int:
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exc:  # argparse has printed the usage
        return 2 if exc.code else 0
    dns_names: list[str] = list(dict.fromkeys(args.dns_name))
    ip_addresses: list[str] = list(dict.fromkeys(args.ip))
    problems = _problems(dns_names, ip_addresses)
    if problems:
        log.error("rpc-tls: %s", "; ".join(problems))
        return 2
    moment = now or datetime.datetime.now(datetime.UTC)
    try:
        ensure_memory_backed(args.out, args.allow_persistent_dir)
        if _usable(args.out, dns_names, ip_addresses, moment):
            log.info("kept the RPC certificate in %s", args.out)
            return 0
        certificate, key = self_signed(dns_names, ip_addresses, moment)
        write_files(args.out, {CERT_FILE: certificate, KEY_FILE: key})
    except KeyAgentError as exc:
        log.error("%s", exc)
        return exc.exit_code
    log.info("wrote a self-signed RPC certificate for %s to %s", ", ".join([*dns_names, *ip_addresses]), args.out)
    return 0
