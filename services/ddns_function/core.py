"""The DDNS update function's core: one implementation behind the Lambda, Cloud Functions and on-prem HTTP adapters.

``DdnsService.handle(method, path, body, headers)`` answers the HTTP contract the node daemon is written against:

* ``POST /v1/update`` with a ``SignedUpdate`` JSON body: parse -> verify the signature -> policy -> conditional
  write to the node table -> DNS A/AAAA -> the node's TM TLS certificate (when its address changed) -> the network's
  EIP-1459 ENR tree. 200 ``{"accepted": true, "name": "<label>.<zone>", "sequence": n}``; refusals are 4xx
  ``{"error": {"field": ..., "problem": ...}}`` and change nothing.
* ``POST /v1/enr`` with ``{"enr": "enr:..."}``: a node's own signed EIP-778 record for the ENR tree (self-authenticating:
  its key is its node id); it must be a member already present in the table, with a higher ENR sequence.
* ``GET /v1/nodes``: the node table, sorted by name, with the ENR tree link. Every node polls it about once a
  second, so it is a conditional GET: the answer carries ``ETag: "<sha256 of the body>"`` and ``Cache-Control:
  no-cache``, and a request whose ``If-None-Match`` names the current ETag gets ``304 Not Modified`` without a body.
* ``GET /healthz``.

Everything outside the process is reached through the small ports below (node table, DNS, certificates, member
list), each with real implementations in the sibling modules, chosen by ``config.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from lacchain import enr as enrlib
from lacchain.ddns.policy import Decision, Member, MemberList, PolicySettings, StoredNode, check_host, decide
from lacchain.ddns.update import SignedUpdate, UpdateRejected
from lacchain.keys import NodeKey

log = logging.getLogger("lacchain.ddns")

MAX_ENR_BODY_BYTES = 1024
"""Largest ``POST /v1/enr`` body: an ENR is at most 300 bytes, 404 characters as text."""


# ---------------------------------------------------------------------------------------------------------- ports


class NodeStore(Protocol):
    """The node table: one row per node id, the last accepted update."""

    def get(self, node_id: str) -> StoredNode | None: ...

    def put(self, record: StoredNode) -> bool:
        """Write ``record`` only if its sequence is greater than the stored one (atomically, so concurrent updates
        can never lower it). Returns False when the condition failed. Keeps the stored ENR (``record.enr`` ignored)."""
        ...

    def put_enr(self, node_id: str, enr_text: str, enr_seq: int) -> bool:
        """Attach a node's ENR to its existing row if ``enr_seq`` is greater than the stored ENR's (atomically)."""
        ...

    def all(self) -> list[StoredNode]: ...

    def next_tree_sequence(self) -> int:
        """Atomically increment and return the ENR tree's sequence number."""
        ...

    def tree_sequence(self) -> int:
        """The current ENR tree sequence (0 before the first publication)."""
        ...


class DnsBackend(Protocol):
    """An authoritative DNS zone the function may change."""

    def set_address(self, fqdn: str, record_type: str, host: str, ttl: int) -> None:
        """Make ``fqdn`` resolve to ``host`` only: UPSERT the ``A``/``AAAA`` record and delete the other family."""
        ...

    def sync_txt_tree(self, domain: str, records: Mapping[str, str], ttl: int) -> None:
        """Make the TXT records at ``domain`` and its direct subdomains exactly ``records`` (fqdn -> text, long texts
        split into 255-byte strings); other TXT records directly under ``domain`` are deleted."""
        ...


class CertificateIssuer(Protocol):
    def reissue(self, member: Member, fqdn: str, host: str) -> None:
        """Issue the node's TM TLS server certificate for its new address and store it (and its key)."""
        ...


class MemberSource(Protocol):
    def load(self) -> MemberList: ...


class TreeKeySource(Protocol):
    def load(self) -> NodeKey: ...


# ------------------------------------------------------------------------------------------------------- service


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any] | None
    """The JSON document, or None for an answer without a body (``304 Not Modified``)."""
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    raw: bytes | None = field(default=None, repr=False, compare=False)
    """The body already encoded (``GET /v1/nodes`` encodes it once to hash it); ``encoded()`` returns it."""

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return _encode(self.body)

    @property
    def has_body(self) -> bool:
        """False for statuses that never carry one (RFC 9110: 304); adapters then send no body and no length."""
        return self.status != 304


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def etag_of(payload: bytes) -> str:
    """A strong entity tag for a body: its SHA-256, quoted as RFC 9110 requires."""
    return '"' + hashlib.sha256(payload).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: ``*`` or a comma-separated list of entity tags, compared weakly (``W/`` ignored)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag.removeprefix("W/"):
            return True
    return False


def error(status: int, field_name: str, problem: str) -> Response:
    return Response(status, {"error": {"field": field_name, "problem": problem}})


@dataclass
class EnrTreeSettings:
    """Where and with which key the network's EIP-1459 tree is published."""

    domain: str
    """e.g. ``nodes.<zone>``; the tree root TXT lives here, entries at ``<hash>.<domain>``."""
    key: TreeKeySource
    ttl: int = 300
    links: tuple[str, ...] = ()
    """``enrtree://`` links to other lists (federation), published in the link subtree."""
    max_children: int = enrlib.MAX_BRANCH_CHILDREN


@dataclass(frozen=True)
class _Listing:
    """The last ``GET /v1/nodes`` body and what it was built from."""

    members: MemberList
    rows: list[StoredNode]
    link: str | None
    document: dict[str, Any]
    payload: bytes
    etag: str


class StaticKey:
    """A tree key already in memory (tests, benchmarks, on-prem keys read by the caller)."""

    def __init__(self, key: NodeKey) -> None:
        self._key = key

    def load(self) -> NodeKey:
        return self._key


class DdnsService:
    """Accept or refuse signed address updates and keep the node table, DNS, certificates and ENR tree current."""

    def __init__(
        self,
        *,
        zone: str,
        store: NodeStore,
        dns: DnsBackend,
        members: MemberSource,
        certificates: CertificateIssuer | None = None,
        tree: EnrTreeSettings | None = None,
        settings: PolicySettings | None = None,
        ttl: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.zone = zone.rstrip(".").lower()
        self.store = store
        self.dns = dns
        self.members = members
        self.certificates = certificates
        self.tree = tree
        self.settings = settings or PolicySettings()
        self.ttl = ttl
        self.clock = clock
        self._tree_lock = threading.Lock()
        self._published: frozenset[str] | None = None
        self._tree_members: frozenset[str] | None = None
        self._records: dict[str, enrlib.Enr] = {}
        self._listing: _Listing | None = None

    # -------------------------------------------------------------------------------------------------- routing

    def handle(self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> Response:
        """Answer one HTTP request; never raises. ``headers`` are the request's (names in any case); only
        ``If-None-Match`` is read."""
        route = path.split("?", 1)[0].rstrip("/") or "/"
        try:
            if route == "/v1/update":
                return self.post_update(body) if method == "POST" else _not_allowed("POST")
            if route == "/v1/enr":
                return self.post_enr(body) if method == "POST" else _not_allowed("POST")
            if route == "/v1/nodes":
                if method not in ("GET", "HEAD"):
                    return _not_allowed("GET")
                return self.get_nodes(_header(headers, "If-None-Match"))
            if route == "/healthz":
                return Response(200, {"ok": True}) if method in ("GET", "HEAD") else _not_allowed("GET")
            return error(404, "path", f"no such endpoint {route!r}; see /v1/update, /v1/enr, /v1/nodes, /healthz")
        except Exception:
            log.exception("ddns: unexpected error on %s %s", method, route)
            return error(500, "server", "internal error; the update may not have been applied, retry later")

    # ------------------------------------------------------------------------------------------------ endpoints

    def post_update(self, body: bytes) -> Response:
        try:
            signed = SignedUpdate.from_json(body)
            update = signed.verify()
            members = self.members.load()
            stored = self.store.get(update.node_id)
            now = int(self.clock())
            decision = decide(update, stored, members, now, self.settings)
        except UpdateRejected as refusal:
            log.info("ddns: refused %s (%d): %s", refusal.field, refusal.status, refusal.problem)
            return error(refusal.status, refusal.field, refusal.problem)
        record = StoredNode(
            node_id=update.node_id,
            name=decision.label,
            role=decision.member.role,
            host=decision.host,
            port=decision.port,
            sequence=decision.sequence,
            updated_at=now,
        )
        if not self.store.put(record):
            return error(409, "update.sequence", "a newer update for this node was accepted meanwhile")
        fqdn = self.fqdn(decision.label)
        log.info("ddns: accepted %s -> %s:%d (sequence %d)", fqdn, decision.host, decision.port, decision.sequence)
        failure = self._apply(decision, fqdn)
        if failure is not None:
            return failure
        return Response(200, {"accepted": True, "name": fqdn, "sequence": decision.sequence})

    def post_enr(self, body: bytes) -> Response:
        if len(body) > MAX_ENR_BODY_BYTES:
            return error(413, "body", f"{len(body)} bytes; at most {MAX_ENR_BODY_BYTES}")
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error(400, "body", 'not JSON; expected {"enr": "enr:..."}')
        if not isinstance(document, dict) or set(document) != {"enr"} or not isinstance(document["enr"], str):
            return error(400, "body", 'must be an object with exactly one string field "enr"')
        try:
            record = enrlib.Enr.from_text(document["enr"])
        except enrlib.EnrError as exc:
            return error(401 if exc.signature else 400, "enr", str(exc))
        members = self.members.load()
        member = members.get(record.enode_id)
        if member is None:
            return error(403, "enr", "the record's key is not a node of this network")
        stored = self.store.get(member.node_id)
        if stored is None:
            return error(409, "enr", "send an address update (POST /v1/update) before the node's ENR")
        try:
            for host in record.addresses():
                check_host(host, self.settings.allowed_private_cidrs)
        except UpdateRejected as refusal:
            return error(422, "enr", refusal.problem)
        previous = self._parsed(stored.enr).seq if stored.enr else -1
        if record.seq <= previous or not self.store.put_enr(member.node_id, record.text, record.seq):
            return error(409, "enr.seq", f"seq must be greater than {previous}, the stored record's")
        failure = self._publish_tree_safely()
        if failure is not None:
            return failure
        return Response(200, {"accepted": True, "name": self.fqdn(member.name), "seq": record.seq})

    def get_nodes(self, if_none_match: str | None = None) -> Response:
        """The table with its ETag; ``304`` without a body when ``if_none_match`` names the current one.

        The table is read on every poll (another instance may have changed it), but the listing is rebuilt only
        when the rows, the member list or the tree link differ from the last poll's: the body is a function of
        those three, and building it is most of a poll's cost."""
        members = self.members.load()
        rows = self.store.all()
        link = self.enr_tree_link()
        cached = self._listing
        if cached is not None and cached.members is members and cached.rows == rows and cached.link == link:
            document, payload, etag = cached.document, cached.payload, cached.etag
        else:
            nodes = []
            for stored in rows:
                member = members.get(stored.node_id)
                if member is None:
                    continue
                nodes.append(replace(stored, name=member.name, role=member.role).to_json())
            nodes.sort(key=lambda n: n["name"])
            document = {"network": members.network, "zone": self.zone, "nodes": nodes, "enrTree": link}
            payload = _encode(document)
            etag = etag_of(payload)
            self._listing = _Listing(members, rows, link, document, payload, etag)
        caching = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag_matches(if_none_match, etag):
            return Response(304, None, caching)
        return Response(200, document, {"Content-Type": "application/json", **caching}, raw=payload)

    # ---------------------------------------------------------------------------------------------- side effects

    def fqdn(self, label: str) -> str:
        return f"{label}.{self.zone}"

    def enr_tree_link(self) -> str | None:
        if self.tree is None:
            return None
        return enrlib.tree_link(self.tree.key.load().compressed_public_key, self.tree.domain)

    def _apply(self, decision: Decision, fqdn: str) -> Response | None:
        """DNS, certificate and tree for an accepted update; a 502 naming the step that failed, or None."""
        try:
            self._set_address_converging(decision, fqdn)
        except Exception as exc:
            log.exception("ddns: DNS update of %s failed", fqdn)
            return error(502, "dns", f"accepted but the DNS update failed ({type(exc).__name__}); retry")
        if self.certificates is not None and decision.member.transaction_manager and decision.host_changed:
            try:
                self.certificates.reissue(decision.member, fqdn, decision.host)
            except Exception as exc:
                log.exception("ddns: certificate of %s failed", fqdn)
                return error(502, "certificate", f"accepted but the certificate failed ({type(exc).__name__}); retry")
        # An address update changes no ENR; the tree changes here only if the member list did (a node removed).
        if self.tree is not None and self._tree_members != frozenset(self.members.load().members):
            return self._publish_tree_safely()
        return None

    def _set_address_converging(self, decision: Decision, fqdn: str) -> None:
        """Write the address, then re-read the table: if a newer update was stored while this one wrote DNS, write
        the newest address again, so DNS never ends on an older address than the table."""
        host, record_type, sequence = decision.host, decision.record_type, decision.sequence
        for _ in range(5):
            self.dns.set_address(fqdn, record_type, host, self.ttl)
            latest = self.store.get(decision.member.node_id)
            if latest is None or latest.sequence <= sequence:
                return
            host, sequence = latest.host, latest.sequence
            record_type = "AAAA" if ":" in host else "A"

    def _publish_tree_safely(self) -> Response | None:
        if self.tree is None:
            return None
        try:
            self.publish_tree()
        except Exception as exc:
            log.exception("ddns: ENR tree publication failed")
            return error(502, "enrTree", f"accepted but publishing the ENR tree failed ({type(exc).__name__}); retry")
        return None

    def publish_tree(self, force: bool = False) -> enrlib.EnrTree | None:
        """Publish the tree of the stored ENRs of current members, with a new sequence number, if its content
        differs from what this instance last published (or ``force``).

        The sequence is taken before the table is read, so a publication that took a later sequence also saw
        every row this one saw; a publication overtaken by a later one does not write its (older) root.
        """
        if self.tree is None:
            return None
        with self._tree_lock:
            members = frozenset(self.members.load().members)
            if not force and self._tree_content() == self._published:
                self._tree_members = members
                return None
            sequence = self.store.next_tree_sequence()
            texts = self._tree_content()
            records = [self._parsed(text) for text in texts]
            tree = enrlib.EnrTree.build(
                records, list(self.tree.links), sequence, self.tree.key.load(), self.tree.max_children
            )
            if self.store.tree_sequence() != sequence:
                log.info("ddns: ENR tree %d overtaken by a later publication; not written", sequence)
                return tree
            self.dns.sync_txt_tree(self.tree.domain, tree.txt_records(self.tree.domain), self.tree.ttl)
            self._published, self._tree_members = texts, members
            log.info("ddns: published ENR tree seq %d with %d records", sequence, len(records))
            return tree

    def _tree_content(self) -> frozenset[str]:
        """The ENR texts the tree should hold: stored records of current members."""
        members = self.members.load()
        return frozenset(n.enr for n in self.store.all() if n.enr and members.get(n.node_id) is not None)

    def _parsed(self, text: str) -> enrlib.Enr:
        """Records are verified when accepted and again when first read from the table, not on every publication."""
        record = self._records.get(text)
        if record is None:
            if len(self._records) > 10_000:
                self._records.clear()
            record = self._records[text] = enrlib.Enr.from_text(text)
        return record


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A request header by case-insensitive name (adapters pass what their platform gives: any case)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return str(value) if value is not None else None


def _not_allowed(allowed: str) -> Response:
    return Response(
        405,
        {"error": {"field": "method", "problem": f"use {allowed}"}},
        {"Content-Type": "application/json", "Allow": allowed},
    )
