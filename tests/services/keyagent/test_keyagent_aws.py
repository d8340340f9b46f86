"""The key agent end to end against moto (Secrets Manager + KMS): first boot, reboot, races, refusals, rotation."""

from __future__ import annotations

import json
import stat
import threading
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from lacchain.tm.keys import TmKeyPair
from services.keyagent.agent import Outcome, run
from services.keyagent.document import KeyDocument
from services.keyagent.errors import CorruptKeyValue, KeyMissing
from services.keyagent.retry import RetryPolicy
from services.keyagent.rotate import rotate
from services.keyagent.stores.aws import SecretsManagerStore
from tests.services.keyagent.conftest import assert_no_key_material

pytestmark = pytest.mark.slow


def _client(endpoint: str, service: str = "secretsmanager") -> Any:
    return boto3.session.Session().client(service, endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture()
def kms_key(aws_env: str) -> str:
    return str(_client(aws_env, "kms").create_key(Description="member vault key")["KeyMetadata"]["Arn"])


@pytest.fixture()
def secret_name() -> str:
    return f"lacchain/member-{uuid.uuid4().hex[:8]}/writer-1/tm-keys"


@pytest.fixture()
def empty_secret(aws_env: str, kms_key: str, secret_name: str) -> str:
    """The secret as OrionKeyVault leaves it: created with the member's KMS key, no value."""
    return str(_client(aws_env).create_secret(Name=secret_name, KmsKeyId=kms_key)["ARN"])


def _store(endpoint: str, secret_id: str, kms_key: str | None = None) -> SecretsManagerStore:
    return SecretsManagerStore(_client(endpoint), secret_id, kms_key, RetryPolicy(attempts=3, base_delay=0.01))


def _version_ids(endpoint: str, secret_id: str) -> list[str]:
    return [v["VersionId"] for v in _client(endpoint).list_secret_version_ids(SecretId=secret_id)["Versions"]]


def _pair_on_disk(directory: Path, stem: str = "nodeKey") -> TmKeyPair:
    pair = TmKeyPair.from_private_key_file((directory / f"{stem}.key").read_text())
    pair.check_public_key_file((directory / f"{stem}.pub").read_text())
    return pair


def test_first_boot_creates_and_second_boot_reuses_the_same_key(
    aws_env: str, empty_secret: str, memory_dir: Path
) -> None:
    first = run(_store(aws_env, empty_secret), memory_dir)
    on_disk = _pair_on_disk(memory_dir)
    second_dir = memory_dir.with_name("reboot")
    second = run(_store(aws_env, empty_secret), second_dir)

    assert first.created and not second.created
    assert on_disk.public_key_b64 == first.public_key == second.public_key
    assert _pair_on_disk(second_dir) == on_disk
    for path in first.written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in memory_dir.iterdir() if p.name.endswith(".tmp")]
    stored = json.loads(_client(aws_env).get_secret_value(SecretId=empty_secret)["SecretString"])
    assert stored["current"]["publicKey"] == on_disk.public_key_b64
    assert len(_version_ids(aws_env, empty_secret)) == 1
    keys = json.loads((memory_dir / "tm-keys.json").read_text())
    assert keys == {
        "keyData": [
            {"publicKeyPath": str(memory_dir / "nodeKey.pub"), "privateKeyPath": str(memory_dir / "nodeKey.key")}
        ]
    }


def test_agent_creates_a_missing_secret_with_the_configured_kms_key(
    aws_env: str, kms_key: str, secret_name: str, memory_dir: Path
) -> None:
    outcome = run(_store(aws_env, secret_name, kms_key), memory_dir)
    described = _client(aws_env).describe_secret(SecretId=secret_name)
    assert outcome.created
    assert described["KmsKeyId"] == kms_key


@pytest.mark.parametrize("precreated", [True, False], ids=["pulumi-created-secret", "no-secret-yet"])
def test_ten_agents_racing_on_a_fresh_node_end_with_one_identity(
    aws_env: str, kms_key: str, secret_name: str, memory_dir: Path, precreated: bool
) -> None:
    if precreated:
        _client(aws_env).create_secret(Name=secret_name, KmsKeyId=kms_key)
    barrier = threading.Barrier(10)
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []

    def boot(index: int) -> None:
        store = _store(aws_env, secret_name, kms_key)  # one client per instance, as on ten machines
        barrier.wait()
        try:
            outcomes.append(run(store, memory_dir.with_name(f"instance-{index}")))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=boot, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(_version_ids(aws_env, secret_name)) == 1
    assert sum(o.created for o in outcomes) == 1
    stored = KeyDocument.parse(_client(aws_env).get_secret_value(SecretId=secret_name)["SecretString"], "test")
    for index in range(10):
        assert _pair_on_disk(memory_dir.with_name(f"instance-{index}")) == stored.current.pair


def test_missing_key_with_creation_disabled_is_refused_and_writes_nothing(
    aws_env: str, empty_secret: str, memory_dir: Path
) -> None:
    with pytest.raises(KeyMissing) as refused:
        run(_store(aws_env, empty_secret), memory_dir, allow_create=False)
    assert empty_secret in str(refused.value) and "--no-create" in str(refused.value)
    assert not memory_dir.exists()
    assert _version_ids(aws_env, empty_secret) == []


@pytest.mark.parametrize(
    "corruption",
    ["not json at all", "mismatched pair", "private key is not base64"],
)
def test_corrupted_secret_value_is_refused_without_echoing_it(
    aws_env: str, empty_secret: str, memory_dir: Path, corruption: str
) -> None:
    document = KeyDocument.new()
    stored = json.loads(document.serialize())
    if corruption == "not json at all":
        text = document.current.pair.private_key_b64 + " garbage"
    elif corruption == "mismatched pair":
        stored["current"]["publicKey"] = TmKeyPair.generate().public_key_b64
        text = json.dumps(stored)
    else:
        stored["current"]["privateKey"] = "!" + document.current.pair.private_key_b64
        text = json.dumps(stored)
    _client(aws_env).put_secret_value(SecretId=empty_secret, SecretString=text)

    with pytest.raises(CorruptKeyValue) as refused:
        run(_store(aws_env, empty_secret), memory_dir)

    message = str(refused.value)
    assert empty_secret in message and "Restore a good version" in message
    assert_no_key_material(message, document)
    assert not memory_dir.exists()


def test_rotation_keeps_old_keys_readable_and_the_agent_writes_every_version(
    aws_env: str, empty_secret: str, memory_dir: Path
) -> None:
    original = run(_store(aws_env, empty_secret), memory_dir)
    first = rotate(_store(aws_env, empty_secret))
    second = rotate(_store(aws_env, empty_secret))
    after = run(_store(aws_env, empty_secret), memory_dir)

    assert first.old_public_key == original.public_key and second.old_public_key == first.new_public_key
    assert after.public_key == second.new_public_key and after.versions == 3
    assert _pair_on_disk(memory_dir).public_key_b64 == second.new_public_key
    assert _pair_on_disk(memory_dir, "nodeKey.prev-1").public_key_b64 == first.new_public_key
    assert _pair_on_disk(memory_dir, "nodeKey.prev-2").public_key_b64 == original.public_key
    key_data = json.loads((memory_dir / "tm-keys.json").read_text())["keyData"]
    assert [Path(k["publicKeyPath"]).name for k in key_data] == [
        "nodeKey.pub",
        "nodeKey.prev-1.pub",
        "nodeKey.prev-2.pub",
    ]
    previous = _client(aws_env).get_secret_value(SecretId=empty_secret, VersionStage="AWSPREVIOUS")
    assert json.loads(previous["SecretString"])["current"]["publicKey"] == first.new_public_key


def test_rotation_can_prune_old_versions_and_the_agent_removes_their_files(
    aws_env: str, empty_secret: str, memory_dir: Path
) -> None:
    run(_store(aws_env, empty_secret), memory_dir)
    rotate(_store(aws_env, empty_secret))
    run(_store(aws_env, empty_secret), memory_dir)
    assert (memory_dir / "nodeKey.prev-1.key").exists()
    rotate(_store(aws_env, empty_secret), keep=1)
    rotate(_store(aws_env, empty_secret), keep=1)
    after = run(_store(aws_env, empty_secret), memory_dir)
    assert after.versions == 2
    assert (memory_dir / "nodeKey.prev-1.key").exists() and not (memory_dir / "nodeKey.prev-2.key").exists()


def test_rotation_before_first_boot_is_refused(aws_env: str, empty_secret: str) -> None:
    with pytest.raises(KeyMissing, match="start the node once"):
        rotate(_store(aws_env, empty_secret))
