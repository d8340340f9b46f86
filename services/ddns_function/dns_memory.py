"""A DNS backend that keeps the zone in the process: for development servers, benchmarks and tests of the core.

It publishes nothing; choose it explicitly (``DDNS_DNS_BACKEND=memory``). The real backends are Route 53, RFC 2136
(BIND and other authoritative servers) and Google Cloud DNS, in ``dns_backends.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from lacchain.enr import txt_strings
from services.ddns_function.dns_backends import directly_under


class MemoryDns:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        """(fqdn, type) -> values; TXT values are their 255-byte strings joined (what resolvers read)."""
        self.changes = 0
        self._lock = threading.Lock()

    def set_address(self, fqdn: str, record_type: str, host: str, ttl: int) -> None:
        other = "AAAA" if record_type == "A" else "A"
        with self._lock:
            self.records[(fqdn, record_type)] = [host]
            self.records.pop((fqdn, other), None)
            self.changes += 1

    def sync_txt_tree(self, domain: str, records: Mapping[str, str], ttl: int) -> None:
        with self._lock:
            for name, kind in list(self.records):
                if kind == "TXT" and directly_under(name, domain) and name not in records:
                    del self.records[(name, kind)]
            for name, text in records.items():
                self.records[(name, "TXT")] = ["".join(txt_strings(text))]
            self.changes += 1

    def lookup(self, fqdn: str, record_type: str) -> list[str]:
        with self._lock:
            return list(self.records.get((fqdn, record_type), []))

    def txt(self, fqdn: str) -> str | None:
        values = self.lookup(fqdn, "TXT")
        return values[0] if values else None

    def snapshot(self) -> dict[tuple[str, str], list[str]]:
        with self._lock:
            return {key: list(value) for key, value in self.records.items()}
