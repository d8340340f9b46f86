"""Tessera's ``keys`` section (``lacchain.tm.tessera_vault``) and the agent's native AWS mirror against moto."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from lacchain.errors import InvalidInput
from lacchain.tm.tessera_vault import (
    AwsKeyPairIds,
    aws_key_data,
    aws_key_vault_config,
    aws_native_pair_ids,
    keys_section,
    secrets_manager_endpoint,
)
from services.keyagent.agent import run
from services.keyagent.errors import CorruptKeyValue
from services.keyagent.retry import RetryPolicy
from services.keyagent.rotate import rotate
from services.keyagent.stores.aws import SecretsManagerStore
from services.keyagent.tessera_native import AwsTesseraMirror


def test_aws_keys_section_has_tesseras_shape() -> None:
    section = keys_section(
        aws_key_data([AwsKeyPairIds("n/pub", "n/key")]),
        [aws_key_vault_config(secrets_manager_endpoint("us-west-2"))],
    )
    assert section == {
        "keyData": [{"awsSecretsManagerPublicKeyId": "n/pub", "awsSecretsManagerPrivateKeyId": "n/key"}],
        "keyVaultConfigs": [
            {"keyVaultType": "AWS", "properties": {"endpoint": "https://secretsmanager.us-west-2.amazonaws.com"}}
        ],
    }


def test_inputs_are_checked() -> None:
    with pytest.raises(InvalidInput, match=r"keys\.keyData"):
        keys_section([])
    with pytest.raises(InvalidInput, match="region"):
        secrets_manager_endpoint("mars-1")
    with pytest.raises(InvalidInput, match="secretName"):
        aws_native_pair_ids("bad name!", "pub")


def test_mirror_names_are_stable_and_under_the_node_prefix() -> None:
    ids = aws_native_pair_ids("lacchain/m/w1/tm-keys", "PUBLICKEY=")
    assert ids == aws_native_pair_ids("lacchain/m/w1/tm-keys", "PUBLICKEY=")
    assert ids.public_key_id.startswith("lacchain/m/w1/tm-keys/tessera/") and ids.private_key_id.endswith("/key")
    assert aws_native_pair_ids("lacchain/m/w1/tm-keys", "OTHER=") != ids


@pytest.mark.slow
def test_native_mode_mirrors_every_version_and_writes_no_private_key_file(aws_env: str, memory_dir: Path) -> None:
    client: Any = boto3.session.Session().client("secretsmanager", endpoint_url=aws_env, region_name="us-east-1")
    kms_key = boto3.client("kms", endpoint_url=aws_env, region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    name = f"lacchain/m-{uuid.uuid4().hex[:6]}/writer-1/tm-keys"
    arn = client.create_secret(Name=name, KmsKeyId=kms_key)["ARN"]

    def boot() -> Any:
        store = SecretsManagerStore(client, arn, kms_key, RetryPolicy(attempts=2))
        return run(
            store,
            memory_dir,
            tessera=AwsTesseraMirror(store, kms_key, "https://secretsmanager.us-east-1.amazonaws.com"),
        )

    first = boot()
    rotate(SecretsManagerStore(client, arn))
    second = boot()  # rotation: both versions mirrored, the first one reused

    section = json.loads((memory_dir / "tm-keys.json").read_text())
    assert section["keyVaultConfigs"] == [
        {"keyVaultType": "AWS", "properties": {"endpoint": "https://secretsmanager.us-east-1.amazonaws.com"}}
    ]
    assert len(section["keyData"]) == 2
    current, previous = section["keyData"]
    assert (
        client.get_secret_value(SecretId=current["awsSecretsManagerPublicKeyId"])["SecretString"] == second.public_key
    )
    assert (
        client.get_secret_value(SecretId=previous["awsSecretsManagerPublicKeyId"])["SecretString"] == first.public_key
    )
    private = client.describe_secret(SecretId=current["awsSecretsManagerPrivateKeyId"])
    assert private["KmsKeyId"] == kms_key and private["Name"].startswith(f"{name}/tessera/")
    assert (memory_dir / "nodeKey.pub").read_text() == second.public_key
    assert not list(memory_dir.glob("*.key"))


@pytest.mark.slow
def test_a_mirror_holding_another_key_is_refused(aws_env: str, memory_dir: Path) -> None:
    client: Any = boto3.session.Session().client("secretsmanager", endpoint_url=aws_env, region_name="us-east-1")
    name = f"lacchain/m-{uuid.uuid4().hex[:6]}/writer-1/tm-keys"
    store = SecretsManagerStore(client, name, retry=RetryPolicy(attempts=2))
    outcome = run(store, memory_dir)
    ids = aws_native_pair_ids(name, outcome.public_key)
    client.create_secret(Name=ids.private_key_id, SecretString="c29tZXRoaW5nIGVsc2U=")
    with pytest.raises(CorruptKeyValue, match=re.escape(ids.private_key_id)):
        run(store, memory_dir, tessera=AwsTesseraMirror(store, None, None))
