"""Address detection against real HTTP servers on loopback: metadata (IMDSv2, GCP), echo services, quorum."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from services.ddns_daemon.config import AddressSource, IpSettings, SourceKind
from services.ddns_daemon.ipdetect import AddressDetector, AwsImdsSource, Detection, build_sources, private_networks
from tests.services.ddns_daemon.doubles import GcpMetadata, HttpDouble, Imds, Reply, Request, echo
from tests.standins import free_port

pytestmark = pytest.mark.slow

PUBLIC = "52.14.7.9"
OTHER_PUBLIC = "34.120.5.6"


@pytest.fixture()
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0, trust_env=False) as http:
        yield http


def detect(settings: IpSettings) -> Detection:
    """One detection with the sources the daemon would build from ``settings``."""
    clients: list[httpx.Client] = []

    def factory(trust_env: bool) -> httpx.Client:
        clients.append(httpx.Client(timeout=settings.timeout_seconds, trust_env=False))
        return clients[-1]

    detector = AddressDetector(
        build_sources(settings, factory),
        settings.effective_quorum,
        settings.timeout_seconds,
        private_networks(settings),
    )
    try:
        return detector.detect()
    finally:
        detector.close()
        for client in clients:
            client.close()


def test_two_of_three_agreeing_sources_decide_the_address() -> None:
    imds, gcp = Imds(PUBLIC), GcpMetadata(PUBLIC)
    with imds.server, gcp.server, echo({"ip": OTHER_PUBLIC}) as echo_server:
        settings = IpSettings(
            sources=[
                AddressSource(kind=SourceKind.AWS_IMDS, url=imds.server.url),
                AddressSource(kind=SourceKind.GCP_METADATA, url=gcp.server.url),
                AddressSource(kind=SourceKind.ECHO, url=f"{echo_server.url}/ip"),
            ],
            quorum=2,
        )
        detection = detect(settings)
    assert detection.address == PUBLIC
    assert detection.disagreement
    assert detection.votes == {PUBLIC: 2, OTHER_PUBLIC: 1}


def test_no_address_without_a_quorum() -> None:
    with echo({"a": PUBLIC, "b": OTHER_PUBLIC, "c": "35.1.2.3"}) as server:
        settings = IpSettings(
            sources=[AddressSource(kind=SourceKind.ECHO, url=f"{server.url}/{p}", name=p) for p in "abc"], quorum=2
        )
        detection = detect(settings)
    assert detection.address is None
    assert detection.disagreement
    assert "a=52.14.7.9" in detection.explain()


def test_the_default_quorum_is_a_majority() -> None:
    with echo({"a": PUBLIC, "b": PUBLIC, "c": OTHER_PUBLIC}) as server:
        sources = [AddressSource(kind=SourceKind.ECHO, url=f"{server.url}/{p}", name=p) for p in "abc"]
        assert IpSettings(sources=sources).effective_quorum == 2
        assert detect(IpSettings(sources=sources)).address == PUBLIC
        assert detect(IpSettings(sources=sources[1:])).address is None  # 1 of 2 is no majority


@pytest.mark.parametrize("answer", ["10.1.2.3", "192.168.0.7", "127.0.0.1", "100.64.0.1", "not-an-ip", "fe80::1"])
def test_an_echo_source_naming_a_non_public_address_is_refused(answer: str) -> None:
    with echo({"a": answer, "b": PUBLIC}) as server:
        settings = IpSettings(
            sources=[AddressSource(kind=SourceKind.ECHO, url=f"{server.url}/{p}", name=p) for p in "ab"],
            quorum=1,
            allowed_private_cidrs=["10.0.0.0/8", "192.168.0.0/16"],  # never applies to echo sources
        )
        detection = detect(settings)
    refused = next(r for r in detection.results if r.source == "a")
    assert refused.address is None and refused.problem
    assert detection.address == PUBLIC


def test_metadata_may_name_an_address_in_an_allowed_private_range() -> None:
    gcp = GcpMetadata("10.20.0.5")
    with gcp.server:
        source = AddressSource(kind=SourceKind.GCP_METADATA, url=gcp.server.url)
        allowed = IpSettings(sources=[source], allowed_private_cidrs=["10.20.0.0/16"])
        strict = IpSettings(sources=[source])
        assert detect(allowed).address == "10.20.0.5"
        assert detect(strict).address is None


def test_imdsv2_token_is_fetched_with_a_put_reused_and_renewed_after_a_401(client: httpx.Client) -> None:
    imds = Imds(PUBLIC)
    with imds.server:
        source = AwsImdsSource("aws", imds.server.url, client)
        assert source.fetch() == PUBLIC
        assert source.fetch() == PUBLIC
        assert imds.tokens == ["token-1"]  # one PUT, reused
        puts = [r for r in imds.server.requests if r.method == "PUT"]
        assert puts[0].path == "/latest/api/token"
        assert int(puts[0].headers["X-aws-ec2-metadata-token-ttl-seconds"]) <= 21600
        gets = [r for r in imds.server.requests if r.method == "GET"]
        assert all(r.headers["X-aws-ec2-metadata-token"] == "token-1" for r in gets)
        imds.expire_tokens()
        assert source.fetch() == PUBLIC
        assert imds.tokens == ["token-2"]


def test_imds_without_a_public_address_is_a_failed_source_not_a_crash(client: httpx.Client) -> None:
    imds = Imds(None)
    with imds.server:
        settings = IpSettings(sources=[AddressSource(kind=SourceKind.AWS_IMDS, url=imds.server.url)])
        detection = detect(settings)
    assert detection.address is None
    assert "no public IPv4" in (detection.results[0].problem or "")


def test_a_server_that_is_not_gcp_metadata_is_not_believed() -> None:
    def impostor(request: Request) -> Reply:
        return Reply.text(PUBLIC)  # right path answered, but without Metadata-Flavor: Google

    with HttpDouble(impostor) as server:
        settings = IpSettings(sources=[AddressSource(kind=SourceKind.GCP_METADATA, url=server.url)])
        detection = detect(settings)
        assert server.requests[0].headers["Metadata-Flavor"] == "Google"
    assert detection.address is None
    assert "Metadata-Flavor" in (detection.results[0].problem or "")


def test_a_slow_source_times_out_without_holding_up_the_others() -> None:
    holder: dict[str, HttpDouble] = {}

    def slow(request: Request) -> Reply:
        holder["server"].release.wait(10)
        return Reply.text(OTHER_PUBLIC)

    with HttpDouble(slow) as slow_server, echo({"a": PUBLIC, "b": PUBLIC}) as fast:
        holder["server"] = slow_server
        settings = IpSettings(
            sources=[
                AddressSource(kind=SourceKind.ECHO, url=f"{slow_server.url}/x", name="slow"),
                AddressSource(kind=SourceKind.ECHO, url=f"{fast.url}/a", name="a"),
                AddressSource(kind=SourceKind.ECHO, url=f"{fast.url}/b", name="b"),
            ],
            quorum=2,
            timeout_seconds=0.3,
        )
        started = time.monotonic()
        detection = detect(settings)
        elapsed = time.monotonic() - started
    assert detection.address == PUBLIC
    slow_result = next(r for r in detection.results if r.source == "slow")
    assert slow_result.address is None and "timed out" in (slow_result.problem or "")
    assert elapsed < 5  # it did not wait for the slow server's 10 s


def test_an_unreachable_source_fails_alone() -> None:
    with echo({"a": PUBLIC}) as server:
        settings = IpSettings(
            sources=[
                AddressSource(kind=SourceKind.ECHO, url=f"http://127.0.0.1:{free_port()}/", name="closed"),
                AddressSource(kind=SourceKind.ECHO, url=f"{server.url}/a", name="a"),
            ],
            quorum=1,
        )
        detection = detect(settings)
    assert detection.address == PUBLIC
    assert "unreachable" in (next(r for r in detection.results if r.source == "closed").problem or "")
