"""Fixtures: two anvil chains (one sealing a block every second, one frozen at an old genesis), the JSON-RPC
proxy in front of them, and a transaction manager ``/upcheck`` stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services.healthcheck.neighbours import (
    OLD_GENESIS_TIMESTAMP,
    ProxyControl,
    TmControl,
    anvil_chain,
    rpc_proxy,
    tm_upcheck,
)


@pytest.fixture(scope="session")
def live_chain() -> Iterator[str]:
    """A chain that seals a block every second, like an IBFT network (whose period is 2 s)."""
    with anvil_chain("--block-time", "1") as url:
        yield url


@pytest.fixture(scope="session")
def frozen_chain() -> Iterator[str]:
    """A chain whose head is its genesis block from 2023: no block production."""
    with anvil_chain("--timestamp", str(OLD_GENESIS_TIMESTAMP), "--no-mining") as url:
        yield url


@pytest.fixture(scope="session")
def proxy(live_chain: str) -> Iterator[tuple[str, ProxyControl]]:
    with rpc_proxy(live_chain) as served:
        yield served


@pytest.fixture(scope="session")
def tm() -> Iterator[tuple[str, TmControl]]:
    with tm_upcheck() as served:
        yield served
