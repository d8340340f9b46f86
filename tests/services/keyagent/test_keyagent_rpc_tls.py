"""``python -m services.keyagent rpc-tls``: the self-signed certificate a pod's nginx starts with when the node has
no cert-manager issuer. Run with the arguments the pod renders, into a real tmpfs, and read back with
``cryptography`` (and by a real nginx in ``tests/images/test_nginx_config.py``)."""

from __future__ import annotations

import datetime
import ipaddress
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from lacchain import kubernetes as pod
from lacchain import nginx
from lacchain.roles import TransactionManager
from services.keyagent import rpc_tls
from services.keyagent.cli import main
from services.keyagent.output import MEMORY_FILESYSTEMS, MOUNTINFO, filesystem_type
from tests.services.keyagent.test_keyagent_wiring import pod_spec, writer


def _init_args(n: pod.NodeObjects, out: Path) -> list[str]:
    """The pod's rpc-tls init container arguments, with its output directory moved to ``out``."""
    (container,) = [c for c in pod_spec(n)["initContainers"] if c["name"] == "rpc-tls"]
    args = list(container["args"])
    assert args[:3] == [rpc_tls.COMMAND, "--out", nginx.TLS_DIR]
    assert container["volumeMounts"] == [{"name": "rpc-tls", "mountPath": nginx.TLS_DIR}]
    return [*args[:2], str(out), *args[3:]]


def _read(out: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    certificate = x509.load_pem_x509_certificate((out / rpc_tls.CERT_FILE).read_bytes())
    key = serialization.load_pem_private_key((out / rpc_tls.KEY_FILE).read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return certificate, key


def test_the_pods_init_step_certifies_every_rpc_name_in_memory(memory_dir: Path) -> None:
    n = writer(TransactionManager.TESSERA, rpc_tls=pod.RpcTlsSource.SELF_SIGNED, dns_name="rpc.acme.example.org")
    assert main(_init_args(n, memory_dir)) == 0

    certificate, key = _read(memory_dir)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == pod.rpc_dns_names(n)
    assert "acme-writer-1-rpc.lacchain.svc.cluster.local" in pod.rpc_dns_names(n)  # the rpc_endpoint output's host
    assert "rpc.acme.example.org" in pod.rpc_dns_names(n)
    assert key.curve.name == "secp256r1"
    assert certificate.public_key() == key.public_key()
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime <= datetime.timedelta(days=rpc_tls.VALIDITY_DAYS)
    for name in (rpc_tls.CERT_FILE, rpc_tls.KEY_FILE):
        assert stat.S_IMODE((memory_dir / name).stat().st_mode) == 0o600


def test_a_restarted_init_step_keeps_the_pair_and_new_names_replace_it(memory_dir: Path) -> None:
    args = ["--out", str(memory_dir), "--dns-name", "rpc.example.org", "--ip", "10.1.2.3"]
    assert rpc_tls.main(args) == 0
    first = (memory_dir / rpc_tls.KEY_FILE).read_bytes()
    assert rpc_tls.main(args) == 0
    assert (memory_dir / rpc_tls.KEY_FILE).read_bytes() == first
    certificate, _ = _read(memory_dir)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.1.2.3")]

    assert rpc_tls.main(["--out", str(memory_dir), "--dns-name", "other.example.org"]) == 0
    assert (memory_dir / rpc_tls.KEY_FILE).read_bytes() != first
    # close to expiry: replaced too
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=rpc_tls.VALIDITY_DAYS - 1)
    second = (memory_dir / rpc_tls.KEY_FILE).read_bytes()
    assert rpc_tls.main(["--out", str(memory_dir), "--dns-name", "other.example.org"], now=later) == 0
    assert (memory_dir / rpc_tls.KEY_FILE).read_bytes() != second


def test_it_refuses_a_disk_and_bad_names_without_writing(tmp_path: Path, memory_dir: Path) -> None:
    if filesystem_type(tmp_path.resolve(), MOUNTINFO.read_text()) in MEMORY_FILESYSTEMS:
        pytest.skip("the test's temporary directory is itself in memory")
    disk = tmp_path / "tls"
    assert rpc_tls.main(["--out", str(disk), "--dns-name", "rpc.example.org"]) == 3
    assert not disk.exists()
    assert rpc_tls.main(["--out", str(memory_dir), "--dns-name", "Not A Name"]) == 2
    assert rpc_tls.main(["--out", str(memory_dir), "--ip", "300.1.1.1"]) == 2
    assert rpc_tls.main(["--out", str(memory_dir)]) == 2
    assert rpc_tls.main(["--dns-name", "x.example.org"]) == 2  # --out is required
    assert not memory_dir.exists()


def test_the_module_entry_point_dispatches_the_command(memory_dir: Path) -> None:
    """As the image runs it: ``python -m services.keyagent rpc-tls ...`` (no agent settings needed)."""
    result = subprocess.run(
        [sys.executable, "-m", "services.keyagent", "rpc-tls", "--out", str(memory_dir), "--dns-name", "a.example"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "PRIVATE KEY" not in result.stderr + result.stdout
    _read(memory_dir)


@pytest.mark.parametrize("issuer", [None, "internal-ca"])
def test_an_issuer_replaces_the_init_step_with_the_certificates_secret(issuer: str | None) -> None:
    source = pod.RpcTlsSource.SECRET if issuer else pod.RpcTlsSource.SELF_SIGNED
    n = writer(TransactionManager.TESSERA, rpc_tls=source, rpc_tls_issuer=issuer)
    spec = pod_spec(n)
    volume = next(v for v in spec["volumes"] if v["name"] == "rpc-tls")
    inits = [c["name"] for c in spec["initContainers"]]
    if issuer:
        assert volume == {"name": "rpc-tls", "secret": {"secretName": "acme-writer-1-rpc-tls", "defaultMode": 0o440}}
        assert pod.rpc_certificate(n)["spec"]["secretName"] == volume["secret"]["secretName"]
        assert "rpc-tls" not in inits
    else:
        assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Mi"} and "rpc-tls" in inits
