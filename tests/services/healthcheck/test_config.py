"""Configuration from the environment: defaults per role, and refusals that name the variable."""

from __future__ import annotations

import pytest

from lacchain.errors import InvalidInput
from lacchain.stack_config import Role
from services.healthcheck.config import MIN_PEERS_BY_ROLE, load_settings


def test_defaults_are_lacchain_ports_and_timings() -> None:
    settings = load_settings({"HEALTHCHECK_ROLE": "observer", "UNRELATED": "ignored"})

    assert settings.besu_rpc_url == "http://127.0.0.1:4545"
    assert settings.listen_port == 8080
    assert settings.block_period_seconds == 2.0
    assert settings.effective_max_block_age == 20.0
    assert settings.tm_upcheck_url is None


@pytest.mark.parametrize("role", list(Role))
def test_minimum_peers_follow_the_role_unless_overridden(role: Role) -> None:
    assert load_settings({"HEALTHCHECK_ROLE": role.value}).effective_min_peers == MIN_PEERS_BY_ROLE[role]
    overridden = load_settings({"HEALTHCHECK_ROLE": role.value, "HEALTHCHECK_MIN_PEERS": "0"})
    assert overridden.effective_min_peers == 0


def test_validators_need_more_peers_than_observers() -> None:
    assert MIN_PEERS_BY_ROLE[Role.VALIDATOR] > MIN_PEERS_BY_ROLE[Role.OBSERVER]


def test_block_age_follows_the_block_period() -> None:
    settings = load_settings({"HEALTHCHECK_ROLE": "boot", "HEALTHCHECK_BLOCK_PERIOD_SECONDS": "5"})
    assert settings.effective_max_block_age == 50.0
    explicit = load_settings({"HEALTHCHECK_ROLE": "boot", "HEALTHCHECK_MAX_BLOCK_AGE_SECONDS": "7.5"})
    assert explicit.effective_max_block_age == 7.5


def _problems(env: dict[str, str]) -> str:
    with pytest.raises(InvalidInput) as caught:
        load_settings(env)
    return str(caught.value)


def test_role_is_required() -> None:
    assert "HEALTHCHECK_ROLE: required but not set" in _problems({})


def test_every_problem_is_reported_with_its_variable() -> None:
    text = _problems(
        {
            "HEALTHCHECK_ROLE": "miner",
            "HEALTHCHECK_BESU_RPC_URL": "127.0.0.1:4545",
            "HEALTHCHECK_MIN_PEERS": "many",
            "HEALTHCHECK_LISTEN_PORT": "70000",
            "HEALTHCHECK_TIMEOUT": "3",
        }
    )

    assert "HEALTHCHECK_ROLE: 'miner' is not a node role; use one of validator, boot, writer, observer" in text
    assert "HEALTHCHECK_BESU_RPC_URL: '127.0.0.1:4545' is not an http(s) URL" in text
    assert "HEALTHCHECK_MIN_PEERS:" in text and "'many'" in text
    assert "HEALTHCHECK_LISTEN_PORT:" in text and "65535" in text
    assert "HEALTHCHECK_TIMEOUT: unknown variable" in text


def test_transaction_manager_check_only_on_writers() -> None:
    env = {"HEALTHCHECK_ROLE": "validator", "HEALTHCHECK_TM_UPCHECK_URL": "http://127.0.0.1:4444/upcheck"}
    assert "only writers run a transaction manager" in _problems(env)
    writer = load_settings({**env, "HEALTHCHECK_ROLE": "writer"})
    assert writer.tm_upcheck_url == "http://127.0.0.1:4444/upcheck"
