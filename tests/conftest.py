"""Shared fixtures: the local stand-ins (moto server, anvil) started once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import standins


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Endpoint URL of a moto server (AWS APIs), shared by the session; tests use their own names/resources."""
    with standins.moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    """JSON-RPC URL of an anvil chain, shared by the session."""
    with standins.anvil() as url:
        yield url


@pytest.fixture()
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Credentials and region for boto3 against moto; returns the endpoint URL to pass to clients."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint
