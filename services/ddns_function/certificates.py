"""Reissue a node's TM TLS certificate from the network CA held in a secret store, and store it back.

Secrets (names configurable, defaults below):

* ``<ca_secret>``: ``{"certificate": "<CA PEM>", "privateKey": "<CA key PEM>"}``, written by the member stacks;
* ``<node secret>`` (``lacchain/<network>/nodes/<name>/tm-tls``): ``{"certificate", "privateKey",
  "caCertificate", "fqdn", "host"}``, read by the node's key agent into ``lacchain.layout.TM_TLS_DIR``.

The node's private key is kept across reissues (only the certificate changes), so a node that has not yet fetched
the new certificate still holds a key that matches the next one.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from lacchain.ddns.certificate import KeyAndCertificate, issue_server_certificate
from lacchain.ddns.policy import Member
from services.ddns_function.secrets import SecretStore

log = logging.getLogger("lacchain.ddns.certificates")

DEFAULT_CA_SECRET = "lacchain/{network}/tm-ca"
DEFAULT_NODE_SECRET = "lacchain/{network}/nodes/{name}/tm-tls"
CA_CACHE_SECONDS = 300.0


class SecretStoreCertificates:
    def __init__(
        self,
        secrets: SecretStore,
        network: str,
        ca_secret: str = DEFAULT_CA_SECRET,
        node_secret: str = DEFAULT_NODE_SECRET,
        days: int = 365,
    ) -> None:
        self.secrets = secrets
        self.network = network
        self.ca_secret = ca_secret.format(network=network)
        self.node_secret = node_secret
        self.days = days
        self._ca: tuple[float, KeyAndCertificate] | None = None
        self._lock = threading.Lock()

    def node_secret_name(self, member: Member) -> str:
        return self.node_secret.format(network=self.network, name=member.name, node_id=member.node_id)

    def ca(self) -> KeyAndCertificate:
        now = time.monotonic()
        with self._lock:
            if self._ca is not None and now - self._ca[0] < CA_CACHE_SECONDS:
                return self._ca[1]
            text = self.secrets.get(self.ca_secret)
            if text is None:
                raise LookupError(f"the network CA secret {self.ca_secret!r} does not exist")
            ca = KeyAndCertificate.from_json(text, f"secret {self.ca_secret}")
            self._ca = (now, ca)
            return ca

    def reissue(self, member: Member, fqdn: str, host: str) -> None:
        name = self.node_secret_name(member)
        previous = self.secrets.get(name)
        key_pem = None
        if previous is not None:
            try:
                key_pem = str(json.loads(previous)["privateKey"])
            except (json.JSONDecodeError, KeyError, TypeError):
                log.warning("certificates: %s is not the expected JSON; issuing with a new key", name)
        ca = self.ca()
        issued = issue_server_certificate(ca, fqdn, host, private_key_pem=key_pem, days=self.days)
        self.secrets.put(name, issued.to_json(caCertificate=ca.certificate_pem, fqdn=fqdn, host=host))
        log.info("certificates: reissued %s for %s (%s)", name, fqdn, host)
