"""Fixtures: anvil chains and the JSON-RPC proxy (shared helpers from the healthcheck tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services.healthcheck.neighbours import ProxyControl, anvil_chain, rpc_proxy


@pytest.fixture(scope="session")
def sealing_chain() -> Iterator[str]:
    """A chain that seals a block every second."""
    with anvil_chain("--block-time", "1") as url:
        yield url


@pytest.fixture(scope="session")
def idle_chain() -> Iterator[str]:
    """A chain that never seals: transactions sent to it stay pending."""
    with anvil_chain("--no-mining") as url:
        yield url


@pytest.fixture()
def besu_like(sealing_chain: str) -> Iterator[tuple[str, ProxyControl]]:
    """The sealing chain answering ``net_peerCount`` like a Besu node with two peers."""
    with rpc_proxy(sealing_chain) as (url, control):
        control.overrides["net_peerCount"] = "0x2"
        yield url, control
