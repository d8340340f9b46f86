"""Pure parts of the reporter: frame decoding, backoff, configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lacchain.errors import InvalidInput
from services.ethstats_client import protocol
from services.ethstats_client.chain import block_report
from services.ethstats_client.client import Backoff, Uptime
from services.ethstats_client.config import load_settings


def test_frames_are_primus_emit_envelopes() -> None:
    frame = json.loads(protocol.pending_message("node-1", 4))
    assert frame == {"emit": ["pending", {"id": "node-1", "stats": {"pending": 4}}]}
    assert json.loads(protocol.emit("ready")) == {"emit": ["ready"]}


def test_primus_ping_is_answered_with_the_same_timestamp() -> None:
    incoming = protocol.parse(json.dumps("primus::ping::1712345678901"))
    assert incoming.reply is not None
    assert json.loads(incoming.reply) == "primus::pong::1712345678901"


def test_events_are_decoded() -> None:
    incoming = protocol.parse('{"emit":["node-pong",{"clientTime":5,"serverTime":9}]}')
    assert (incoming.event, incoming.payload, incoming.reply) == ("node-pong", {"clientTime": 5, "serverTime": 9}, None)


@pytest.mark.parametrize("frame", ['"hello"', "[1, 2]", '{"emit": []}', '{"emit": [3]}', '{"other": 1}'])
def test_frames_outside_the_protocol_are_refused(frame: str) -> None:
    with pytest.raises(ValueError):
        protocol.parse(frame)


def test_history_requests_are_bounded_and_sorted() -> None:
    assert protocol.history_request({"list": [9, 3, 3, 7.0, -1, "x"]}, 10) == [3, 7, 9]
    assert protocol.history_request({"list": list(range(100))}, 5) == [95, 96, 97, 98, 99]
    assert protocol.history_request(None, 5) == []


def test_block_report_converts_quantities() -> None:
    block = {
        "number": "0x10",
        "hash": "0x" + "ab" * 32,
        "parentHash": "0x" + "cd" * 32,
        "timestamp": "0x6553f100",
        "miner": "0x" + "11" * 20,
        "gasUsed": "0x5208",
        "gasLimit": "0x2fefd800",
        "difficulty": "0x1",
        "totalDifficulty": "0x11",
        "transactions": ["0x" + "ee" * 32],
        "transactionsRoot": "0x" + "00" * 32,
        "stateRoot": "0x" + "01" * 32,
        "uncles": [],
        "logsBloom": "0x00",
    }
    report = block_report(block)
    assert report["number"] == 16 and report["gasUsed"] == 21000 and report["gasLimit"] == 0x2FEFD800
    assert (report["difficulty"], report["totalDifficulty"]) == ("1", "17")
    assert report["transactions"] == [{"hash": "0x" + "ee" * 32}]
    assert "logsBloom" not in report


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(base=1.0, cap=10.0, rng=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_backoff_is_jittered_below_its_ceiling() -> None:
    backoff = Backoff(base=1.0, cap=60.0, rng=lambda: 0.25)
    assert [backoff.next_delay() for _ in range(3)] == [0.25, 0.5, 1.0]


def test_uptime_is_the_share_of_answered_polls() -> None:
    uptime = Uptime()
    assert uptime.percent == 100
    for answered in (True, True, True, False):
        uptime.record(answered)
    assert uptime.percent == 75


BASE = {"ETHSTATS_URL": "wss://stats.example.org", "ETHSTATS_NODE_NAME": "n1", "ETHSTATS_SECRET": "s3cret"}


def test_a_host_only_url_gets_the_primus_path() -> None:
    assert load_settings(BASE).url == "wss://stats.example.org/api"
    assert load_settings({**BASE, "ETHSTATS_URL": "ws://10.0.0.5:3000/custom"}).url == "ws://10.0.0.5:3000/custom"


def test_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "ethstats-secret"
    secret.write_text("from-file\n")
    env = {key: value for key, value in BASE.items() if key != "ETHSTATS_SECRET"}
    assert load_settings({**env, "ETHSTATS_SECRET_FILE": str(secret)}).secret_value() == "from-file"


def _problems(env: dict[str, str]) -> str:
    with pytest.raises(InvalidInput) as caught:
        load_settings(env)
    return str(caught.value)


def test_problems_name_the_variable() -> None:
    text = _problems({"ETHSTATS_URL": "https://stats.example.org", "ETHSTATS_POLL_SECONDS": "0", "ETHSTATS_NAME": "x"})
    assert "ETHSTATS_URL: 'https://stats.example.org' is not a ws:// or wss:// URL" in text
    assert "ETHSTATS_NODE_NAME: required but not set" in text
    assert "ETHSTATS_POLL_SECONDS:" in text
    assert "ETHSTATS_NAME: unknown variable" in text


def test_at_most_one_secret_source(tmp_path: Path) -> None:
    both = {**BASE, "ETHSTATS_SECRET_FILE": str(tmp_path / "x")}
    assert "at most one of ETHSTATS_SECRET and ETHSTATS_SECRET_FILE" in _problems(both)
    neither = {key: value for key, value in BASE.items() if key != "ETHSTATS_SECRET"}
    assert load_settings(neither).secret_value() == ""  # the Kubernetes Secret is optional
    missing = {**neither, "ETHSTATS_SECRET_FILE": str(tmp_path / "absent")}
    assert "ETHSTATS_SECRET_FILE: cannot read it" in _problems(missing)


def test_the_secret_is_never_echoed() -> None:
    text = _problems({**BASE, "ETHSTATS_SECRET": "s3cret" * 100, "ETHSTATS_NODE_NAME": ""})
    assert "ETHSTATS_SECRET: Value should have at most 512" in text
    assert "ETHSTATS_NODE_NAME:" in text and "(got '')" in text  # other values are shown...
    assert "s3cret" not in text  # ...the secret never
    assert "s3cret" not in repr(load_settings(BASE))
