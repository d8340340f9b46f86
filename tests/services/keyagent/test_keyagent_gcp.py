"""GCP Secret Manager store at the transport boundary (no emulator exists; see ``rest_fakes``)."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from services.keyagent.agent import run
from services.keyagent.document import KeyDocument
from services.keyagent.errors import AccessDenied, ConfigError, CorruptKeyValue, KeyMissing
from services.keyagent.retry import RetryPolicy
from services.keyagent.rotate import rotate
from services.keyagent.stores.crc32c import crc32c
from services.keyagent.stores.gcp import GcpSecretManagerStore
from services.keyagent.stores.http import GcpMetadataToken
from tests.services.keyagent.conftest import RecordingSleep
from tests.services.keyagent.rest_fakes import FakeSecretManager


def _store(fake: FakeSecretManager, secret: str, retry: RetryPolicy) -> GcpSecretManagerStore:
    """Wired exactly like production (``services.keyagent.build``), with the fake as the network."""
    transport = httpx.MockTransport(fake.handler)
    metadata = httpx.Client(transport=transport)
    session = httpx.Client(transport=transport, auth=GcpMetadataToken(metadata, policy=retry))
    return GcpSecretManagerStore(session, secret, retry=retry)


@pytest.fixture()
def fake() -> FakeSecretManager:
    return FakeSecretManager()


def test_crc32c_matches_the_castagnoli_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283


def test_first_boot_adds_a_version_and_reboot_reads_it(
    fake: FakeSecretManager, memory_dir: Path, fast_retry: RetryPolicy
) -> None:
    secret = fake.create_secret("lacchain-m-writer-1-tm-keys")
    first = run(_store(fake, secret, fast_retry), memory_dir)
    second = run(_store(fake, secret, fast_retry), memory_dir.with_name("again"))
    assert first.created and not second.created and first.public_key == second.public_key
    assert len(fake.enabled_payloads("lacchain-m-writer-1-tm-keys")) == 1
    assert all(
        r.headers["Authorization"] == "Bearer ya29.fake-token"
        for r in fake.requests
        if r.url.host != "metadata.google.internal"
    )


def test_ten_agents_racing_converge_on_the_oldest_version(
    fake: FakeSecretManager, memory_dir: Path, fast_retry: RetryPolicy
) -> None:
    secret = fake.create_secret("race")
    barrier = threading.Barrier(10)
    public_keys: list[str] = []

    def boot(index: int) -> None:
        store = _store(fake, secret, fast_retry)
        barrier.wait()
        public_keys.append(run(store, memory_dir.with_name(f"node-{index}")).public_key)

    threads = [threading.Thread(target=boot, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    enabled = fake.enabled_payloads("race")
    assert len(public_keys) == 10 and len(set(public_keys)) == 1
    assert len(enabled) == 1  # losers disabled their candidates
    assert KeyDocument.parse(enabled[0].decode(), "t").current.pair.public_key_b64 == public_keys[0]


def test_a_loser_that_crashed_before_disabling_does_not_change_the_identity(
    fake: FakeSecretManager, memory_dir: Path, fast_retry: RetryPolicy
) -> None:
    secret = fake.create_secret("crashed")
    winner, stray = KeyDocument.new(), KeyDocument.new()
    fake.secrets["crashed"] += [
        {"n": 1, "state": "ENABLED", "data": winner.serialize().encode()},
        {"n": 2, "state": "ENABLED", "data": stray.serialize().encode()},
    ]
    outcome = run(_store(fake, secret, fast_retry), memory_dir)
    assert outcome.public_key == winner.current.pair.public_key_b64


def test_rotation_leaves_one_enabled_version_holding_both_keys(
    fake: FakeSecretManager, memory_dir: Path, fast_retry: RetryPolicy
) -> None:
    secret = fake.create_secret("rotate")
    before = run(_store(fake, secret, fast_retry), memory_dir)
    rotation = rotate(_store(fake, secret, fast_retry))
    after = run(_store(fake, secret, fast_retry), memory_dir)
    assert rotation.old_public_key == before.public_key and after.public_key == rotation.new_public_key
    assert after.versions == 2 and len(fake.enabled_payloads("rotate")) == 1


def test_permission_denied_names_the_roles(fake: FakeSecretManager, memory_dir: Path, fast_retry: RetryPolicy) -> None:
    secret = fake.create_secret("denied")
    fake.allowed = False
    with pytest.raises(AccessDenied) as denied:
        run(_store(fake, secret, fast_retry), memory_dir)
    assert "roles/secretmanager.secretAccessor" in str(denied.value) and secret in str(denied.value)


def test_missing_secret_says_who_creates_it(fake: FakeSecretManager, memory_dir: Path, fast_retry: RetryPolicy) -> None:
    with pytest.raises(KeyMissing, match="OrionKeyVault"):
        run(_store(fake, "projects/my-project/secrets/never-made", fast_retry), memory_dir)


def test_throttling_and_outages_are_retried(
    fake: FakeSecretManager, memory_dir: Path, fast_retry: RetryPolicy, sleeps: RecordingSleep
) -> None:
    secret = fake.create_secret("busy")
    fake.failures.fail_next(429)
    fake.failures.fail_next(503)
    assert run(_store(fake, secret, fast_retry), memory_dir).created
    assert sleeps.delays == [0.2, 0.4]


def test_checksum_mismatch_is_corruption(fake: FakeSecretManager, memory_dir: Path, fast_retry: RetryPolicy) -> None:
    secret = fake.create_secret("bitrot")
    good = KeyDocument.new().serialize().encode()
    fake.secrets["bitrot"].append({"n": 1, "state": "ENABLED", "data": good})
    original = fake._handle

    def flip_a_bit(request: httpx.Request) -> httpx.Response:
        response = original(request)
        if request.url.path.endswith(":access"):
            body = response.json()
            body["payload"]["dataCrc32c"] = str(int(body["payload"]["dataCrc32c"]) ^ 1)
            return httpx.Response(200, json=body)
        return response

    fake._handle = flip_a_bit  # type: ignore[method-assign]
    with pytest.raises(CorruptKeyValue, match="CRC32C"):
        run(_store(fake, secret, fast_retry), memory_dir)
    assert not memory_dir.exists()


def test_metadata_token_is_cached_between_calls(
    fake: FakeSecretManager, memory_dir: Path, fast_retry: RetryPolicy
) -> None:
    secret = fake.create_secret("cached")
    run(_store(fake, secret, fast_retry), memory_dir)
    assert fake.token_requests == 1


def test_secret_name_format_is_checked_before_any_call(fake: FakeSecretManager, fast_retry: RetryPolicy) -> None:
    with pytest.raises(ConfigError, match="projects/<project>/secrets/<secret-id>"):
        _store(fake, "my-secret", fast_retry)
    assert fake.requests == []
