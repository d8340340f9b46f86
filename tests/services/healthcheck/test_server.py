"""The healthcheck as it runs in its container: ``python -m services.healthcheck`` configured by environment,
probing a real JSON-RPC chain (anvil, through the proxy that stages Besu's p2p answers) and a transaction
manager stand-in."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import standins
from tests.services.healthcheck.neighbours import ProxyControl, TmControl

pytestmark = pytest.mark.slow


def _serve(env: dict[str, str]) -> Any:
    port = standins.free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {"HEALTHCHECK_LISTEN_HOST": "127.0.0.1", "HEALTHCHECK_LISTEN_PORT": str(port), **env}

    def up() -> bool:
        return httpx.get(f"{url}/healthz", timeout=1).status_code in (200, 503)

    return url, standins.child(
        [sys.executable, "-m", "services.healthcheck"], "healthcheck", up, env=full_env, cwd=standins.ROOT
    )


@pytest.fixture(scope="module")
def writer(proxy: tuple[str, ProxyControl], tm: tuple[str, TmControl]) -> Iterator[str]:
    """A writer's healthcheck with a transaction manager, reading RPC through the proxy."""
    url, process = _serve(
        {"HEALTHCHECK_ROLE": "writer", "HEALTHCHECK_BESU_RPC_URL": proxy[0], "HEALTHCHECK_TM_UPCHECK_URL": tm[0]}
    )
    with process:
        yield url


@pytest.fixture()
def stage(
    proxy: tuple[str, ProxyControl], tm: tuple[str, TmControl], live_chain: str
) -> Iterator[tuple[ProxyControl, TmControl]]:
    """A healthy writer's world (3 peers, in sync, live chain, manager up); tests change one thing."""
    control, manager = proxy[1], tm[1]
    control.reset(live_chain)
    control.overrides["net_peerCount"] = "0x3"
    manager.status, manager.body = 200, "I'm up!"
    yield control, manager
    control.reset(live_chain)


def _ready(url: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{url}/readyz", timeout=10)
    return response.status_code, response.json()


def test_ready_writer_reports_every_check(writer: str, stage: tuple[ProxyControl, TmControl]) -> None:
    status, body = _ready(writer)

    assert status == 200, body
    assert body["status"] == "ok"
    assert body["role"] == "writer"
    checks = body["checks"]
    assert set(checks) == {"rpc", "peers", "sync", "blockAge", "transactionManager"}
    assert all(check["ok"] for check in checks.values())
    assert checks["rpc"]["client"].startswith("anvil/")
    assert checks["peers"] == {"ok": True, "detail": "3 peers", "peers": 3, "minimum": 1}
    assert checks["sync"]["syncing"] is False
    # Default threshold: 10 block periods of LACChain's 2 s.
    assert checks["blockAge"]["maxAgeSeconds"] == 20.0
    assert 0 <= checks["blockAge"]["ageSeconds"] <= 20.0
    # The checks really asked the chain.
    assert {"web3_clientVersion", "net_peerCount", "eth_syncing", "eth_getBlockByNumber"} <= set(stage[0].calls)


def test_head_advances_between_probes(writer: str, stage: tuple[ProxyControl, TmControl]) -> None:
    first = _ready(writer)[1]["checks"]["blockAge"]["block"]
    standins.wait_until(lambda: _ready(writer)[1]["checks"]["blockAge"]["block"] > first, "a new block", timeout=5)


def test_too_few_peers_is_not_ready(writer: str, stage: tuple[ProxyControl, TmControl]) -> None:
    stage[0].overrides["net_peerCount"] = "0x0"

    status, body = _ready(writer)

    assert status == 503
    assert body["status"] == "fail"
    assert body["checks"]["peers"]["ok"] is False
    assert body["checks"]["peers"]["detail"] == "0 peers, fewer than the 1 required"
    assert all(check["ok"] for name, check in body["checks"].items() if name != "peers")


def test_far_behind_while_syncing_is_not_ready(writer: str, stage: tuple[ProxyControl, TmControl]) -> None:
    stage[0].overrides["eth_syncing"] = {"startingBlock": "0x0", "currentBlock": "0x10", "highestBlock": "0x100"}

    status, body = _ready(writer)

    assert status == 503
    sync = body["checks"]["sync"]
    assert sync["ok"] is False
    assert (sync["currentBlock"], sync["highestBlock"], sync["blocksBehind"]) == (16, 256, 240)


def test_syncing_close_to_the_head_is_ready(writer: str, stage: tuple[ProxyControl, TmControl]) -> None:
    stage[0].overrides["eth_syncing"] = {"startingBlock": "0x0", "currentBlock": "0x10", "highestBlock": "0x1a"}

    status, body = _ready(writer)

    assert status == 200, body
    assert body["checks"]["sync"]["blocksBehind"] == 10


def test_stale_head_is_not_ready(writer: str, stage: tuple[ProxyControl, TmControl], frozen_chain: str) -> None:
    stage[0].upstream = frozen_chain

    status, body = _ready(writer)

    assert status == 503
    age = body["checks"]["blockAge"]
    assert age["ok"] is False
    assert age["block"] == 0
    assert age["ageSeconds"] > 3600 * 24 * 365


@pytest.mark.parametrize(("http_status", "text"), [(200, "starting"), (500, "I'm up!")])
def test_transaction_manager_down_is_not_ready(
    writer: str, stage: tuple[ProxyControl, TmControl], http_status: int, text: str
) -> None:
    stage[1].status, stage[1].body = http_status, text

    status, body = _ready(writer)

    assert status == 503
    assert body["checks"]["transactionManager"]["ok"] is False
    assert str(http_status) in body["checks"]["transactionManager"]["detail"]


def test_liveness_ignores_peers_and_sync(writer: str, stage: tuple[ProxyControl, TmControl]) -> None:
    stage[0].overrides.update({"net_peerCount": "0x0", "eth_syncing": {"currentBlock": "0x0", "highestBlock": "0x99"}})

    response = httpx.get(f"{writer}/healthz", timeout=10)

    assert response.status_code == 200
    assert set(response.json()["checks"]) == {"rpc"}


def test_dead_besu_fails_liveness_and_readiness_fast() -> None:
    dead_rpc = f"http://127.0.0.1:{standins.free_port()}"
    url, process = _serve(
        {"HEALTHCHECK_ROLE": "validator", "HEALTHCHECK_BESU_RPC_URL": dead_rpc, "HEALTHCHECK_TIMEOUT_SECONDS": "1"}
    )
    with process:
        live = httpx.get(f"{url}/healthz", timeout=5)
        ready = httpx.get(f"{url}/readyz", timeout=5)

    assert live.status_code == 503
    assert "ConnectError" in live.json()["checks"]["rpc"]["detail"]
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert "transactionManager" not in checks  # validators have none
    assert not any(check["ok"] for check in checks.values())


def test_bad_environment_exits_before_listening() -> None:
    env = {"HEALTHCHECK_ROLE": "miner", "HEALTHCHECK_MAX_BLOCKS_BEHIND": "-1", "HEALTHCHECK_MIN_PEER": "2"}

    result = subprocess.run(
        [sys.executable, "-m", "services.healthcheck"],
        env={**_base_env(), **env},
        cwd=standins.ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "HEALTHCHECK_ROLE: 'miner' is not a node role" in result.stderr
    assert "HEALTHCHECK_MAX_BLOCKS_BEHIND" in result.stderr
    assert "HEALTHCHECK_MIN_PEER: unknown variable" in result.stderr


def _base_env() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if not key.startswith("HEALTHCHECK_")}
