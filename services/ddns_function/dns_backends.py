"""DNS backends of the DDNS function: Amazon Route 53, RFC 2136 dynamic update (BIND, Knot, PowerDNS, Windows DNS)
and Google Cloud DNS. Each implements ``core.DnsBackend``:

* ``set_address(fqdn, "A"|"AAAA", host, ttl)``: the node's name resolves to its new address only;
* ``sync_txt_tree(domain, records, ttl)``: the TXT records at ``domain`` and directly under it become exactly
  ``records`` (the EIP-1459 tree), in one atomic change where the provider allows it.

TXT texts longer than 255 bytes (ENR leaves) are written as several character-strings of one record.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.tsig
import dns.update
import dns.zone

from lacchain.enr import txt_strings

log = logging.getLogger("lacchain.ddns.dns")

ADDRESS_TYPES = ("A", "AAAA")


class DnsUpdateError(RuntimeError):
    """The DNS provider refused or failed a change; the message names the provider's answer."""


def other_family(record_type: str) -> str:
    if record_type not in ADDRESS_TYPES:
        raise ValueError(f"address record type must be A or AAAA, not {record_type!r}")
    return "AAAA" if record_type == "A" else "A"


def quoted_txt(text: str) -> str:
    """Presentation form of a TXT value: each 255-byte string in double quotes (Route 53 and Cloud DNS rrdatas)."""
    return " ".join(f'"{part}"' for part in txt_strings(text))


def unquote_txt(value: str) -> str:
    """The text a resolver sees (strings concatenated) from a presentation-form TXT value."""
    parts = []
    for chunk in value.split('" "'):
        parts.append(chunk.strip().strip('"'))
    return "".join(parts)


def directly_under(name: str, domain: str) -> bool:
    """Whether ``name`` is ``domain`` or one label below it (where EIP-1459 tree entries live)."""
    name, domain = name.rstrip(".").lower(), domain.rstrip(".").lower()
    return name == domain or (name.endswith("." + domain) and "." not in name[: -len(domain) - 1])


def _absolute(name: str) -> str:
    return name if name.endswith(".") else name + "."


# -------------------------------------------------------------------------------------------------------- Route 53


class Route53Dns:
    """Route 53 through a boto3 ``route53`` client (``boto3.client("route53", endpoint_url=...)``).

    Changes go in ``ChangeResourceRecordSets`` batches, which Route 53 applies atomically: one batch per address
    update; the tree in as few batches as the limits allow (1000 changes, 32000 characters of values), with the
    root record in the last one so resolvers never see a root whose entries are missing.
    """

    MAX_CHANGES = 500
    MAX_VALUE_CHARS = 30000

    def __init__(self, client: Any, hosted_zone_id: str) -> None:
        self.client = client
        self.zone_id = hosted_zone_id.removeprefix("/hostedzone/")

    def set_address(self, fqdn: str, record_type: str, host: str, ttl: int) -> None:
        name = _absolute(fqdn)
        other = other_family(record_type)
        changes: list[dict[str, Any]] = [
            {
                "Action": "UPSERT",
                "ResourceRecordSet": {
                    "Name": name,
                    "Type": record_type,
                    "TTL": ttl,
                    "ResourceRecords": [{"Value": host}],
                },
            }
        ]
        existing = self._record_set(name, other)
        if existing is not None:
            changes.append({"Action": "DELETE", "ResourceRecordSet": existing})
        self._change(changes, f"DDNS {fqdn} {record_type} {host}")

    def sync_txt_tree(self, domain: str, records: Mapping[str, str], ttl: int) -> None:
        current = {
            rrset["Name"].rstrip(".").lower(): rrset
            for rrset in self._all_record_sets()
            if rrset["Type"] == "TXT" and directly_under(rrset["Name"], domain)
        }
        root = domain.rstrip(".").lower()
        upserts: list[dict[str, Any]] = []
        root_change: dict[str, Any] | None = None
        for fqdn, text in records.items():
            value = quoted_txt(text)
            existing = current.get(fqdn.lower())
            if existing is not None and [r["Value"] for r in existing.get("ResourceRecords", [])] == [value]:
                continue
            change = {
                "Action": "UPSERT",
                "ResourceRecordSet": {
                    "Name": _absolute(fqdn),
                    "Type": "TXT",
                    "TTL": ttl,
                    "ResourceRecords": [{"Value": value}],
                },
            }
            if fqdn.lower() == root:
                root_change = change
            else:
                upserts.append(change)
        wanted = {name.lower() for name in records}
        deletes = [
            {"Action": "DELETE", "ResourceRecordSet": rrset} for name, rrset in current.items() if name not in wanted
        ]
        ordered = upserts + ([root_change] if root_change else []) + deletes
        for batch in self._batches(ordered):
            self._change(batch, f"EIP-1459 tree at {domain}")

    def _batches(self, changes: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        size = 0
        for change in changes:
            chars = sum(len(r["Value"]) for r in change["ResourceRecordSet"].get("ResourceRecords", []))
            if batch and (len(batch) >= self.MAX_CHANGES or size + chars > self.MAX_VALUE_CHARS):
                yield batch
                batch, size = [], 0
            batch.append(change)
            size += chars
        if batch:
            yield batch

    def _change(self, changes: list[dict[str, Any]], comment: str) -> None:
        if not changes:
            return
        self.client.change_resource_record_sets(
            HostedZoneId=self.zone_id, ChangeBatch={"Comment": comment[:256], "Changes": changes}
        )

    def _record_set(self, name: str, record_type: str) -> dict[str, Any] | None:
        answer = self.client.list_resource_record_sets(
            HostedZoneId=self.zone_id, StartRecordName=name, StartRecordType=record_type, MaxItems="1"
        )
        for rrset in answer.get("ResourceRecordSets", []):
            if rrset["Name"].lower() == name.lower() and rrset["Type"] == record_type:
                return dict(rrset)
        return None

    def _all_record_sets(self) -> Iterable[dict[str, Any]]:
        paginator = self.client.get_paginator("list_resource_record_sets")
        for page in paginator.paginate(HostedZoneId=self.zone_id):
            yield from page.get("ResourceRecordSets", [])


# -------------------------------------------------------------------------------------------------------- RFC 2136


@dataclass(frozen=True)
class TsigKey:
    name: str
    secret: str
    """Base64, as in BIND's ``key`` statement (``tsig-keygen -a hmac-sha256``)."""
    algorithm: str = "hmac-sha256"

    @property
    def dns_name(self) -> dns.name.Name:
        return dns.name.from_text(self.name)

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        return {self.dns_name: dns.tsig.Key(self.dns_name, self.secret, self.algorithm)}


class Rfc2136Dns:
    """Dynamic updates (RFC 2136) signed with TSIG (RFC 8945) sent over TCP to the zone's primary server.

    Every change is one UPDATE message, which the server applies atomically. ``sync_txt_tree`` reads the zone by
    TSIG-signed AXFR to find stale tree entries, so the key needs ``allow-transfer { key <name>; };`` as well as
    an ``update-policy`` grant for the zone.
    """

    def __init__(self, zone: str, server: str, key: TsigKey, port: int = 53, timeout: float = 10.0) -> None:
        self.zone = dns.name.from_text(zone)
        self.server = server
        self.port = port
        self.key = key
        self.timeout = timeout

    def _message(self) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(self.zone, keyring=self.key.keyring(), keyname=self.key.dns_name)

    def _relative(self, fqdn: str) -> dns.name.Name:
        name = dns.name.from_text(fqdn)
        if not name.is_subdomain(self.zone):
            raise DnsUpdateError(f"{fqdn} is outside the zone {self.zone}")
        return name.relativize(self.zone)

    def _send(self, message: dns.update.UpdateMessage, what: str) -> None:
        response = dns.query.tcp(message, self.server, port=self.port, timeout=self.timeout)
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise DnsUpdateError(f"{what}: server answered {dns.rcode.to_text(rcode)}")

    def set_address(self, fqdn: str, record_type: str, host: str, ttl: int) -> None:
        name = self._relative(fqdn)
        message = self._message()
        message.replace(name, ttl, record_type, host)
        message.delete(name, other_family(record_type))
        self._send(message, f"update of {fqdn} {record_type}")

    def sync_txt_tree(self, domain: str, records: Mapping[str, str], ttl: int) -> None:
        wanted = {self._relative(fqdn): text for fqdn, text in records.items()}
        current = self._current_txt(domain)
        message = self._message()
        changed = 0
        for name, text in wanted.items():
            if current.get(name) == text:
                continue
            rdata = dns.rdtypes.ANY.TXT.TXT(
                dns.rdataclass.IN, dns.rdatatype.TXT, [part.encode() for part in txt_strings(text)]
            )
            message.replace(name, ttl, rdata)
            changed += 1
        for name in current:
            if name not in wanted:
                message.delete(name, "TXT")
                changed += 1
        if changed:
            self._send(message, f"EIP-1459 tree at {domain} ({changed} records)")

    def _current_txt(self, domain: str) -> dict[dns.name.Name, str]:
        zone = dns.zone.from_xfr(
            dns.query.xfr(self.server, self.zone, port=self.port, keyring=self.key.keyring(), timeout=self.timeout),
            relativize=True,
        )
        base = self._relative(domain)
        found: dict[dns.name.Name, str] = {}
        for name, node in zone.nodes.items():
            absolute = name.derelativize(self.zone)
            if not directly_under(absolute.to_text(), base.derelativize(self.zone).to_text()):
                continue
            rdataset = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.TXT)
            if rdataset is None:
                continue
            for rdata in rdataset:
                found[name] = b"".join(rdata.strings).decode()
        return found

    def resolve(self, fqdn: str, record_type: str) -> list[str]:
        """Ask the server directly (tests, diagnostics): values of ``fqdn``'s record set, [] if none."""
        query = dns.message.make_query(fqdn, record_type)
        response = dns.query.tcp(query, self.server, port=self.port, timeout=self.timeout)
        values = []
        for rrset in response.answer:
            for rdata in rrset:
                if rrset.rdtype == dns.rdatatype.TXT:
                    values.append(b"".join(rdata.strings).decode())
                else:
                    values.append(rdata.to_text())
        return values


# ------------------------------------------------------------------------------------------------- Google Cloud DNS


class HttpResponse(Protocol):
    status_code: int

    def json(self) -> Any: ...

    @property
    def text(self) -> str: ...


class HttpSession(Protocol):
    """What the Cloud DNS backend needs of an HTTP client: ``google.auth.transport.requests.AuthorizedSession`` and
    ``httpx.Client`` (with ``gcp_auth.MetadataTokenAuth``) both fit."""

    def request(self, method: str, url: str, **kwargs: Any) -> HttpResponse: ...


CLOUD_DNS_API = "https://dns.googleapis.com/dns/v1"


class CloudDns:
    """Google Cloud DNS through its REST API v1 (``changes.create`` and ``resourceRecordSets.list``).

    A change holds ``additions`` and the exact current record sets as ``deletions``; Cloud DNS applies it
    atomically (and refuses it if a deletion no longer matches, so a concurrent writer is detected, not lost).
    """

    def __init__(self, session: HttpSession, project: str, managed_zone: str, timeout: float = 30.0) -> None:
        self.session = session
        self.project = project
        self.managed_zone = managed_zone
        self.timeout = timeout
        self.base = f"{CLOUD_DNS_API}/projects/{project}/managedZones/{managed_zone}"

    def set_address(self, fqdn: str, record_type: str, host: str, ttl: int) -> None:
        name = _absolute(fqdn)
        other_family(record_type)
        existing = [r for r in self._list(name=name) if r["type"] in ADDRESS_TYPES]
        addition = {"kind": "dns#resourceRecordSet", "name": name, "type": record_type, "ttl": ttl, "rrdatas": [host]}
        if any(_same(r, addition) for r in existing):
            return
        self._change([addition], existing)

    def sync_txt_tree(self, domain: str, records: Mapping[str, str], ttl: int) -> None:
        current = {
            r["name"].rstrip(".").lower(): r
            for r in self._list()
            if r["type"] == "TXT" and directly_under(r["name"], domain)
        }
        additions: list[dict[str, Any]] = []
        deletions: list[dict[str, Any]] = []
        for fqdn, text in records.items():
            wanted = {
                "kind": "dns#resourceRecordSet",
                "name": _absolute(fqdn),
                "type": "TXT",
                "ttl": ttl,
                "rrdatas": [quoted_txt(text)],
            }
            existing = current.pop(fqdn.lower(), None)
            if existing is not None and _same(existing, wanted):
                continue
            additions.append(wanted)
            if existing is not None:
                deletions.append(existing)
        deletions.extend(current.values())
        if additions or deletions:
            self._change(additions, deletions)

    def _list(self, name: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"name": name} if name else {}
        found: list[dict[str, Any]] = []
        while True:
            body = self._call("GET", f"{self.base}/rrsets", params=dict(params))
            found.extend(body.get("rrsets", []))
            token = body.get("nextPageToken")
            if not token:
                return found
            params["pageToken"] = token

    def _change(self, additions: list[dict[str, Any]], deletions: list[dict[str, Any]]) -> None:
        body: dict[str, Any] = {"kind": "dns#change", "additions": additions}
        if deletions:
            body["deletions"] = deletions
        self._call("POST", f"{self.base}/changes", json=body)

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        if not 200 <= response.status_code < 300:
            raise DnsUpdateError(f"Cloud DNS {method} {url} answered {response.status_code}: {response.text[:300]}")
        return response.json()


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return (a["name"].lower(), a["type"], a.get("ttl"), list(a.get("rrdatas", []))) == (
        b["name"].lower(),
        b["type"],
        b.get("ttl"),
        list(b.get("rrdatas", [])),
    )
