"""The signed update client against HTTP servers: retries on 5xx, no retry on 4xx, bounded 409 handling, and a
sequence that keeps growing across restarts (checked by the real DDNS function, which refuses replays)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from lacchain.ddns.update import SignedUpdate
from lacchain.enr import Enr
from lacchain.keys import NodeKey
from services.ddns_daemon.config import FunctionSettings
from services.ddns_daemon.metrics import DaemonMetrics
from services.ddns_daemon.state import EnrSent, StateStore
from services.ddns_daemon.update_client import Outcome, UpdateClient
from services.ddns_function.http_server import local_service, running
from tests.services.ddns_daemon.doubles import Reply, Scripted

pytestmark = pytest.mark.slow

NETWORK = "lacchain-test"
HOST = "52.14.7.9"
PORT = 60606
ACCEPTED = Reply.json(200, {"accepted": True, "name": "node-1.nodes.example.org", "sequence": 1})


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        yield client


def make_client(
    url: str,
    key: NodeKey,
    state_dir: Path,
    http: httpx.Client,
    sleeps: list[float] | None = None,
    sequence_clock: int | None = None,
    current_sequence: Callable[[], int | None] = lambda: None,
    **settings: object,
) -> tuple[UpdateClient, DaemonMetrics]:
    metrics = DaemonMetrics()
    recorded = sleeps if sleeps is not None else []
    options = {"url": url, "backoff_initial_seconds": 0.5, "backoff_max_seconds": 4.0, **settings}
    extra = {"sequence_clock": lambda: sequence_clock} if sequence_clock is not None else {}
    client = UpdateClient(
        function_url=url,
        network=NETWORK,
        key=key,
        state=StateStore(state_dir),
        settings=FunctionSettings.model_validate(options),
        metrics=metrics,
        client=http,
        current_sequence=current_sequence,
        sleep=recorded.append,
        **extra,  # type: ignore[arg-type]
    )
    return client, metrics


def count(metrics: DaemonMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(f"lacchain_ddns_{name}_total", labels or None) or 0.0


def test_the_posted_update_is_signed_by_the_node_key_and_names_the_address(tmp_path: Path, http: httpx.Client) -> None:
    key = NodeKey.generate()
    server = Scripted([ACCEPTED])
    with server.server:
        client, _ = make_client(server.server.url, key, tmp_path, http)
        result = client.publish(HOST, PORT)
    assert result.accepted and result.name == "node-1.nodes.example.org"
    request = server.server.requests[0]
    assert request.path == "/v1/update"
    update = SignedUpdate.from_json(request.body).verify()
    assert (update.network, update.node_id, update.host, update.port) == (NETWORK, key.node_id, HOST, PORT)
    assert key.hex[2:] not in request.body.decode()


def test_503_is_retried_with_growing_jittered_backoff_then_accepted(tmp_path: Path, http: httpx.Client) -> None:
    unavailable = Reply.json(503, {"error": {"field": "server", "problem": "busy"}})
    server = Scripted([unavailable, unavailable, unavailable, ACCEPTED])
    sleeps: list[float] = []
    with server.server:
        client, metrics = make_client(server.server.url, NodeKey.generate(), tmp_path, http, sleeps)
        result = client.publish(HOST, PORT)
    assert result.outcome is Outcome.ACCEPTED
    bodies = [r.body for r in server.server.requests]
    assert len(bodies) == 4 and len(set(bodies)) == 1  # the same signed update each time
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps, start=1):
        assert 0 <= delay <= min(4.0, 0.5 * 2 ** (attempt - 1))
    assert count(metrics, "update_retries") == 3
    assert count(metrics, "updates_accepted") == 1


def test_retry_after_is_honoured_up_to_the_cap(tmp_path: Path, http: httpx.Client) -> None:
    server = Scripted([Reply.json(429, {}, {"Retry-After": "3"}), ACCEPTED])
    sleeps: list[float] = []
    with server.server:
        client, _ = make_client(server.server.url, NodeKey.generate(), tmp_path, http, sleeps)
        assert client.publish(HOST, PORT).accepted
    assert sleeps and sleeps[0] >= 3


def test_the_client_gives_up_after_max_attempts(tmp_path: Path, http: httpx.Client) -> None:
    server = Scripted([Reply.json(502, {})])
    with server.server:
        client, metrics = make_client(server.server.url, NodeKey.generate(), tmp_path, http, max_attempts=3)
        result = client.publish(HOST, PORT)
    assert result.outcome is Outcome.FAILED
    assert len(server.server.requests) == 3
    assert count(metrics, "updates_failed") == 1


@pytest.mark.parametrize(
    ("status", "field", "reason"),
    [
        (400, "update.host", "malformed"),
        (401, "signature", "bad_signature"),
        (403, "update.nodeId", "not_in_network"),
        (413, "body", "too_large"),
        (422, "update.host", "bad_address"),
    ],
)
def test_4xx_is_not_retried_and_the_servers_field_is_reported(
    tmp_path: Path, http: httpx.Client, caplog: pytest.LogCaptureFixture, status: int, field: str, reason: str
) -> None:
    server = Scripted(
        [Reply.json(status, {"error": {"field": field, "problem": "the function's explanation"}}), ACCEPTED]
    )
    with server.server:
        client, metrics = make_client(server.server.url, NodeKey.generate(), tmp_path, http)
        result = client.publish(HOST, PORT)
    assert result.outcome is Outcome.REFUSED
    assert (result.status, result.field, result.problem) == (status, field, "the function's explanation")
    assert len(server.server.requests) == 1
    assert count(metrics, "updates_refused", reason=reason) == 1
    assert f"{field}: the function's explanation" in caplog.text


def test_409_stale_sequence_bumps_a_bounded_number_of_times(tmp_path: Path, http: httpx.Client) -> None:
    stale = Reply.json(409, {"error": {"field": "update.sequence", "problem": "must be greater than 99"}})
    server = Scripted([stale])
    with server.server:
        client, metrics = make_client(server.server.url, NodeKey.generate(), tmp_path, http, max_sequence_bumps=3)
        result = client.publish(HOST, PORT)
    sequences = [post["update"]["sequence"] for post in server.posts]
    assert result.outcome is Outcome.REFUSED and result.status == 409
    assert len(sequences) == 4  # the first try and three bumps, then it stops
    assert sequences == sorted(set(sequences))
    assert count(metrics, "updates_refused", reason="stale_sequence") == 1


def test_409_on_the_timestamp_is_not_answered_with_a_bump(tmp_path: Path, http: httpx.Client) -> None:
    old = Reply.json(409, {"error": {"field": "update.timestamp", "problem": "900 s old"}})
    server = Scripted([old])
    with server.server:
        client, _ = make_client(server.server.url, NodeKey.generate(), tmp_path, http)
        assert client.publish(HOST, PORT).outcome is Outcome.REFUSED
    assert len(server.server.requests) == 1


def _members(key: NodeKey) -> dict[str, object]:
    return {"network": NETWORK, "nodes": [{"nodeId": key.node_id, "name": "node-1", "role": "boot"}]}


def test_the_sequence_keeps_growing_across_restarts_even_if_the_clock_does_not(
    tmp_path: Path, http: httpx.Client
) -> None:
    key = NodeKey.generate()
    with running(local_service(_members(key), "nodes.example.org")) as url:
        first, _ = make_client(url, key, tmp_path, http, sequence_clock=1_000)
        assert first.publish(HOST, PORT).accepted
        restarted, _ = make_client(url, key, tmp_path, http, sequence_clock=1_000)  # same state dir, same clock
        result = restarted.publish("52.14.7.10", PORT)
    assert result.accepted
    assert result.sequence == 1_001
    stored = json.loads((tmp_path / "state.json").read_text())
    assert stored["sequence"] == 1_001 and stored["published"]["host"] == "52.14.7.10"


def test_a_lost_state_file_is_recovered_from_the_node_table_after_a_409(tmp_path: Path, http: httpx.Client) -> None:
    """The function holds sequence 5000; a node that lost its state and whose clock says 1000 catches up."""
    key = NodeKey.generate()
    with running(local_service(_members(key), "nodes.example.org")) as url:
        before, _ = make_client(url, key, tmp_path / "old", http, sequence_clock=5_000)
        assert before.publish(HOST, PORT).accepted

        def table_sequence() -> int:
            rows = httpx.get(f"{url}/v1/nodes").json()["nodes"]
            return int(rows[0]["sequence"])

        after, _ = make_client(url, key, tmp_path / "new", http, sequence_clock=1_000, current_sequence=table_sequence)
        result = after.publish("52.14.7.10", PORT)
    assert result.accepted and result.sequence == 5_001


# ---------------------------------------------------------------------------------------------------- ENR records


def test_the_enr_is_the_nodes_own_record_with_the_address_and_p2p_port(tmp_path: Path, http: httpx.Client) -> None:
    key = NodeKey.generate()
    server = Scripted([Reply.json(200, {"accepted": True, "name": "n", "seq": 7})])
    with server.server:
        client, metrics = make_client(server.server.url, key, tmp_path, http)
        v4 = client.publish_enr(HOST, 30303, 1_700_000_000_123)
        v6 = client.publish_enr("2600:1f18::7", 30303, 1_700_000_000_124)
    assert v4.accepted and v6.accepted
    records = [Enr.from_text(json.loads(r.body)["enr"]) for r in server.server.requests]  # verifies signatures
    assert [r.path for r in server.server.requests] == ["/v1/enr", "/v1/enr"]
    assert all(r.enode_id == key.node_id for r in records)
    assert (records[0].ip, records[0].ip6, records[0].tcp, records[0].udp) == (HOST, None, 30303, 30303)
    assert (records[1].ip, records[1].ip6, records[1].tcp, records[1].udp) == (None, "2600:1f18::7", 30303, 30303)
    assert [r.seq for r in records] == [1_700_000_000_123, 1_700_000_000_124]
    assert StateStore(tmp_path).state.enr == EnrSent(1_700_000_000_124, accepted=True)  # persisted
    assert count(metrics, "enr_accepted") == 2


def test_the_enr_is_retried_like_an_update_and_refusals_are_recorded(tmp_path: Path, http: httpx.Client) -> None:
    key = NodeKey.generate()
    server = Scripted(
        [Reply(503), Reply.json(429, {}, {"Retry-After": "1"}), Reply.json(200, {"accepted": True}), Reply(404)]
    )
    sleeps: list[float] = []
    with server.server:
        client, metrics = make_client(server.server.url, key, tmp_path, http, sleeps)
        assert client.publish_enr(HOST, PORT, 5).accepted
        refused = client.publish_enr(HOST, PORT, 6)
    assert len(sleeps) == 2 and sleeps[1] >= 1.0  # backoff, honouring Retry-After
    assert refused.outcome is Outcome.REFUSED and refused.status == 404
    assert len(server.server.requests) == 4  # a 4xx is not retried
    assert StateStore(tmp_path).state.enr == EnrSent(6, accepted=False)
    assert count(metrics, "enr_refused", reason="http_4xx") == 1


def test_an_enr_the_function_already_holds_counts_as_published(tmp_path: Path, http: httpx.Client) -> None:
    key = NodeKey.generate()
    held = Reply.json(409, {"error": {"field": "enr.seq", "problem": "seq must be greater than 5"}})
    no_address = Reply.json(409, {"error": {"field": "enr", "problem": "send an address update first"}})
    server = Scripted([held, no_address])
    with server.server:
        client, _ = make_client(server.server.url, key, tmp_path, http)
        assert client.publish_enr(HOST, PORT, 5).accepted
        assert client.publish_enr(HOST, PORT, 6).outcome is Outcome.REFUSED
