"""Secrets Manager answers moto cannot give (IAM denials, KMS failures, throttling), via botocore's Stubber.

The Stubber validates every request against the real Secrets Manager API model, so the calls are checked too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from services.keyagent.agent import run
from services.keyagent.document import KeyDocument
from services.keyagent.errors import AccessDenied, StoreUnavailable
from services.keyagent.retry import RetryPolicy
from services.keyagent.stores.aws import SecretsManagerStore, initial_version_token
from tests.services.keyagent.conftest import RecordingSleep, assert_no_key_material

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:lacchain/m/writer-1/tm-keys-AbCdEf"


def _client() -> Any:
    return boto3.client("secretsmanager", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_access_denied_names_the_permission_and_the_secret(memory_dir: Path, fast_retry: RetryPolicy) -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_secret_value",
            "AccessDeniedException",
            "User is not authorized",
            400,
            expected_params={"SecretId": ARN},
        )
        with pytest.raises(AccessDenied) as denied:
            run(SecretsManagerStore(client, ARN, retry=fast_retry), memory_dir)
    assert f"the node's role needs secretsmanager:GetSecretValue on {ARN}" in str(denied.value)
    assert denied.value.exit_code == 4
    assert not memory_dir.exists()


def test_denied_write_of_a_new_key_does_not_leak_it(memory_dir: Path, fast_retry: RetryPolicy) -> None:
    client = _client()
    written: list[str] = []
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", "ResourceNotFoundException", "no AWSCURRENT", 400)
        stub.add_client_error(
            "put_secret_value",
            "AccessDeniedException",
            "not authorized to perform kms:GenerateDataKey",
            400,
            expected_params={"SecretId": ARN, "SecretString": ANY, "ClientRequestToken": initial_version_token(ARN)},
        )
        client.meta.events.register(
            "provide-client-params.secrets-manager.PutSecretValue",
            lambda params, **_: written.append(params["SecretString"]),
        )
        with pytest.raises(AccessDenied) as denied:
            run(SecretsManagerStore(client, ARN, retry=fast_retry), memory_dir)
    generated = KeyDocument.parse(written[0], "test")
    assert "secretsmanager:PutSecretValue" in str(denied.value) and "kms:GenerateDataKey" in str(denied.value)
    assert_no_key_material(str(denied.value), generated)
    assert not memory_dir.exists()


def test_kms_decryption_failure_points_at_the_key_permission(memory_dir: Path, fast_retry: RetryPolicy) -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", "DecryptionFailure", "can't decrypt", 400)
        with pytest.raises(AccessDenied, match="kms:Decrypt"):
            run(SecretsManagerStore(client, ARN, retry=fast_retry), memory_dir)


def test_throttling_is_retried_with_capped_backoff(
    memory_dir: Path, fast_retry: RetryPolicy, sleeps: RecordingSleep
) -> None:
    document = KeyDocument.new()
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", "ThrottlingException", "Rate exceeded", 400)
        stub.add_client_error("get_secret_value", "InternalServiceError", "oops", 500)
        stub.add_client_error("get_secret_value", "ThrottlingException", "Rate exceeded", 400)
        stub.add_response(
            "get_secret_value",
            {"ARN": ARN, "Name": "n", "VersionId": "v" * 32, "SecretString": document.serialize()},
        )
        outcome = run(SecretsManagerStore(client, ARN, retry=fast_retry), memory_dir)
    assert outcome.public_key == document.current.pair.public_key_b64 and not outcome.created
    assert sleeps.delays == [0.2, 0.4, 0.8]  # exponential; jitter pinned to its maximum by the fixture


def test_backoff_is_capped_and_gives_up_with_a_clear_error(memory_dir: Path, sleeps: RecordingSleep) -> None:
    policy = RetryPolicy(attempts=6, base_delay=0.2, max_delay=1.0, sleep=sleeps, random=lambda: 1.0)
    client = _client()
    with Stubber(client) as stub:
        for _ in range(6):
            stub.add_client_error("get_secret_value", "ThrottlingException", "Rate exceeded", 400)
        with pytest.raises(StoreUnavailable) as gave_up:
            run(SecretsManagerStore(client, ARN, retry=policy), memory_dir)
    assert sleeps.delays == [0.2, 0.4, 0.8, 1.0, 1.0]
    assert "ThrottlingException" in str(gave_up.value) and "quotas" in str(gave_up.value)
    assert gave_up.value.exit_code == 7


def test_jitter_spreads_delays_below_the_bound() -> None:
    draws = iter([0.0, 0.5, 0.25])
    policy = RetryPolicy(base_delay=1.0, max_delay=3.0, random=lambda: next(draws))
    assert [policy.delay(0), policy.delay(1), policy.delay(5)] == [0.0, 1.0, 0.75]


def test_no_platform_identity_is_explained(memory_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    client = boto3.session.Session().client("secretsmanager", region_name="us-east-1")
    with pytest.raises(AccessDenied, match="instance profile"):
        run(SecretsManagerStore(client, ARN, retry=RetryPolicy(attempts=1)), memory_dir)
