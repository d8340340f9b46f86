"""The node's public address, decided by a quorum of independent sources.

A single source can be wrong: an echo service behind a proxy reports the proxy, a misconfigured one reports a
private address, a metadata server can be unreachable. Publishing a wrong address takes the node off the network
for everyone, so the daemon asks every configured source at once (each with its own timeout) and acts only on an
address that at least ``quorum`` sources name. Echo sources never get a private or otherwise non-public address
accepted; metadata sources and the static address may name one inside ``allowed_private_cidrs`` (on-prem).

Sources:

* AWS IMDSv2: ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` gives a session token, then
  ``GET /latest/meta-data/public-ipv4`` with ``X-aws-ec2-metadata-token``. The token is reused until shortly
  before it expires and fetched again on a 401.
* GCP: ``GET /computeMetadata/v1/instance/network-interfaces/0/access-configs/0/external-ip`` with
  ``Metadata-Flavor: Google``; the answer must carry the same header (anything else is not a metadata server).
* Echo: ``GET <url>``, a plain-text body holding the caller's address.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

import httpx

from lacchain.ddns.policy import IpAddress, IpNetwork, check_host
from lacchain.ddns.update import UpdateRejected
from services.ddns_daemon.config import AddressSource, IpSettings, SourceKind

log = logging.getLogger(__name__)

IMDS_TOKEN_PATH = "/latest/api/token"
IMDS_PUBLIC_IPV4_PATH = "/latest/meta-data/public-ipv4"
IMDS_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
IMDS_TOKEN_HEADER = "X-aws-ec2-metadata-token"
IMDS_TOKEN_TTL_SECONDS = 21600
GCP_EXTERNAL_IP_PATH = "/computeMetadata/v1/instance/network-interfaces/0/access-configs/0/external-ip"
GCP_FLAVOR_HEADER = "Metadata-Flavor"
MAX_ANSWER_BYTES = 256
"""An address is at most 45 characters; anything much longer is not a plain-text address answer."""


class SourceError(Exception):
    """One source could not give a usable address; the message says why."""


class Source(Protocol):
    label: str
    public_only: bool
    """Whether only public addresses are accepted from it, whatever ``allowed_private_cidrs`` says."""

    def fetch(self) -> str:
        """The address text the source reports; raises ``SourceError``."""
        ...


def _get(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    try:
        return client.get(url, headers=headers)
    except httpx.TimeoutException:
        raise SourceError("timed out") from None
    except httpx.TransportError as exc:
        raise SourceError(f"unreachable ({type(exc).__name__})") from None


def _answer(response: httpx.Response, what: str) -> str:
    if response.status_code != 200:
        raise SourceError(f"{what} answered HTTP {response.status_code}")
    if len(response.content) > MAX_ANSWER_BYTES:
        raise SourceError(f"{what} answered {len(response.content)} bytes, not an address")
    return response.content.decode("ascii", errors="replace").strip()


class AwsImdsSource:
    """EC2 instance metadata with IMDSv2 session tokens."""

    def __init__(self, label: str, base_url: str, client: httpx.Client, clock: Callable[[], float] = time.monotonic):
        self.label = label
        self.public_only = False
        self._base = base_url.rstrip("/")
        self._client = client
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        self._lock = threading.Lock()

    def _session_token(self, fresh: bool = False) -> str:
        with self._lock:
            if not fresh and self._token is not None and self._clock() < self._token_expires:
                return self._token
            try:
                response = self._client.put(
                    self._base + IMDS_TOKEN_PATH, headers={IMDS_TTL_HEADER: str(IMDS_TOKEN_TTL_SECONDS)}
                )
            except httpx.TimeoutException:
                raise SourceError("IMDSv2 token request timed out") from None
            except httpx.TransportError as exc:
                raise SourceError(f"IMDS unreachable ({type(exc).__name__}); not on EC2?") from None
            token = _answer(response, "IMDSv2 token request")
            if not token:
                raise SourceError("IMDSv2 answered an empty token")
            self._token = token
            # Renew a minute early so a token never expires between fetching and using it.
            self._token_expires = self._clock() + IMDS_TOKEN_TTL_SECONDS - 60
            return token

    def fetch(self) -> str:
        url = self._base + IMDS_PUBLIC_IPV4_PATH
        response = _get(self._client, url, {IMDS_TOKEN_HEADER: self._session_token()})
        if response.status_code == 401:
            response = _get(self._client, url, {IMDS_TOKEN_HEADER: self._session_token(fresh=True)})
        if response.status_code == 404:
            raise SourceError("the instance has no public IPv4 address (IMDS answered 404)")
        return _answer(response, "IMDS public-ipv4")


class GcpMetadataSource:
    def __init__(self, label: str, base_url: str, client: httpx.Client) -> None:
        self.label = label
        self.public_only = False
        self._url = base_url.rstrip("/") + GCP_EXTERNAL_IP_PATH
        self._client = client

    def fetch(self) -> str:
        response = _get(self._client, self._url, {GCP_FLAVOR_HEADER: "Google"})
        if response.headers.get(GCP_FLAVOR_HEADER) != "Google":
            raise SourceError("the answer lacks Metadata-Flavor: Google; not a GCP metadata server")
        if response.status_code == 404:
            raise SourceError("network interface 0 has no external IP (metadata answered 404)")
        return _answer(response, "GCP metadata external-ip")


class EchoSource:
    def __init__(self, label: str, url: str, client: httpx.Client) -> None:
        self.label = label
        self.public_only = True
        self._url = url
        self._client = client

    def fetch(self) -> str:
        return _answer(_get(self._client, self._url, {"Accept": "text/plain"}), "echo service")


@dataclass(frozen=True)
class SourceResult:
    source: str
    address: str | None
    problem: str | None = None


@dataclass(frozen=True)
class Detection:
    """The outcome of asking every source once."""

    address: str | None
    """The agreed address (canonical text), or None when there is no quorum."""
    results: tuple[SourceResult, ...]
    quorum: int
    disagreement: bool
    """Whether the sources that answered named more than one address."""

    @property
    def votes(self) -> dict[str, int]:
        return dict(Counter(r.address for r in self.results if r.address is not None))

    def explain(self) -> str:
        parts = [f"{r.source}={r.address or 'failed: ' + (r.problem or '?')}" for r in self.results]
        return f"quorum {self.quorum}: " + ", ".join(parts)


def usable_address(text: str, private_cidrs: Iterable[IpNetwork]) -> IpAddress:
    """The address if it is a public unicast IP (or inside ``private_cidrs``); ``SourceError`` saying why not."""
    try:
        return check_host(text, tuple(private_cidrs))
    except UpdateRejected as exc:
        raise SourceError(exc.problem) from None


class AddressDetector:
    """Asks every source concurrently, each bounded by the timeout, and applies the quorum."""

    def __init__(
        self,
        sources: Sequence[Source],
        quorum: int,
        timeout_seconds: float,
        private_cidrs: Sequence[IpNetwork] = (),
    ) -> None:
        if not 1 <= quorum <= max(len(sources), 1):
            raise ValueError(f"quorum {quorum} must be between 1 and the {len(sources)} sources")
        self.sources = list(sources)
        self.quorum = quorum
        self.timeout_seconds = timeout_seconds
        self._private_cidrs = tuple(private_cidrs)
        self._pool = ThreadPoolExecutor(max_workers=max(len(self.sources), 1), thread_name_prefix="ip-source")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _ask(self, source: Source) -> SourceResult:
        try:
            text = source.fetch()
            cidrs = () if source.public_only else self._private_cidrs
            return SourceResult(source.label, str(usable_address(text, cidrs)))
        except SourceError as exc:
            return SourceResult(source.label, None, str(exc))
        except Exception as exc:  # a bug or an odd answer in one source must not stop the others
            log.exception("address source %s failed unexpectedly", source.label)
            return SourceResult(source.label, None, f"unexpected {type(exc).__name__}")

    def detect(self) -> Detection:
        futures = {self._pool.submit(self._ask, source): source for source in self.sources}
        # Each HTTP call has its own timeout; this bound also covers a server that trickles bytes forever.
        done, _pending = wait(futures, timeout=self.timeout_seconds * 2 + 0.5)
        results = []
        for future, source in futures.items():
            if future in done:
                results.append(future.result())
            else:
                future.cancel()
                results.append(SourceResult(source.label, None, "timed out"))
        counts = Counter(r.address for r in results if r.address is not None)
        winners = [address for address, votes in counts.items() if votes >= self.quorum]
        address = winners[0] if len(winners) == 1 else None
        return Detection(address, tuple(results), self.quorum, disagreement=len(counts) > 1)


def build_sources(settings: IpSettings, client_factory: Callable[[bool], httpx.Client]) -> list[Source]:
    """Sources from the config. ``client_factory(trust_env)`` makes the HTTP clients: metadata servers are
    link-local and must never go through a proxy from the environment; echo services may need one."""
    metadata_client = client_factory(False)
    echo_client = client_factory(True)
    sources: list[Source] = []
    for entry in settings.sources:
        sources.append(_source(entry, metadata_client, echo_client))
    return sources


def _source(entry: AddressSource, metadata_client: httpx.Client, echo_client: httpx.Client) -> Source:
    if entry.kind is SourceKind.AWS_IMDS:
        return AwsImdsSource(entry.label, entry.base_url, metadata_client)
    if entry.kind is SourceKind.GCP_METADATA:
        return GcpMetadataSource(entry.label, entry.base_url, metadata_client)
    return EchoSource(entry.label, entry.base_url, echo_client)


def private_networks(settings: IpSettings) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in settings.allowed_private_cidrs)
