"""Vault (KV v2 + Kubernetes auth) and Kubernetes Secret stores at the transport boundary (see ``rest_fakes``)."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import httpx
import pytest

from services.keyagent.agent import run
from services.keyagent.document import KeyDocument
from services.keyagent.errors import AccessDenied, StoreConflict
from services.keyagent.retry import RetryPolicy
from services.keyagent.rotate import rotate
from services.keyagent.stores.http import BearerTokenFile
from services.keyagent.stores.kubernetes import DATA_KEY, KubernetesSecretStore
from services.keyagent.stores.vault import VaultKubernetesLogin, VaultKvStore
from tests.services.keyagent.conftest import RecordingSleep
from tests.services.keyagent.rest_fakes import FakeKubernetes, FakeVault

PATH = "lacchain/member/writer-1/tm-keys"


@pytest.fixture()
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("sa-jwt\n")
    return path


def _vault(fake: FakeVault, token_file: Path, retry: RetryPolicy, role: str = "lacchain-writer") -> VaultKvStore:
    client = httpx.Client(base_url="https://vault.example:8200", transport=httpx.MockTransport(fake.handler))
    return VaultKvStore(client, VaultKubernetesLogin(role, token_file=str(token_file)), PATH, retry=retry)


def test_vault_first_boot_writes_with_cas_zero_and_reboot_reads(
    token_file: Path, memory_dir: Path, fast_retry: RetryPolicy
) -> None:
    fake = FakeVault()
    first = run(_vault(fake, token_file, fast_retry), memory_dir)
    second = run(_vault(fake, token_file, fast_retry), memory_dir.with_name("again"))
    assert first.created and not second.created and first.public_key == second.public_key
    assert len(fake.kv[PATH]) == 1


def test_vault_racing_agents_keep_one_identity(token_file: Path, memory_dir: Path, fast_retry: RetryPolicy) -> None:
    fake = FakeVault()
    barrier = threading.Barrier(10)
    keys: list[str] = []

    def boot(index: int) -> None:
        store = _vault(fake, token_file, fast_retry)
        barrier.wait()
        keys.append(run(store, memory_dir.with_name(f"n{index}")).public_key)

    threads = [threading.Thread(target=boot, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 10 and len(set(keys)) == 1 and len(fake.kv[PATH]) == 1


def test_vault_rotation_uses_the_version_it_read(token_file: Path, memory_dir: Path, fast_retry: RetryPolicy) -> None:
    fake = FakeVault()
    run(_vault(fake, token_file, fast_retry), memory_dir)
    store = _vault(fake, token_file, fast_retry)
    stale = store.read()
    assert stale is not None
    rotate(_vault(fake, token_file, fast_retry))
    with pytest.raises(StoreConflict):
        store.replace(KeyDocument.new().serialize(), stale)
    assert run(_vault(fake, token_file, fast_retry), memory_dir).versions == 2


def test_vault_login_refused_names_the_role_binding(
    token_file: Path, memory_dir: Path, fast_retry: RetryPolicy
) -> None:
    with pytest.raises(AccessDenied, match="bind that role to the node's service account"):
        run(_vault(FakeVault(), token_file, fast_retry, role="wrong-role"), memory_dir)


def test_vault_policy_denial_names_the_path_capabilities(
    token_file: Path, memory_dir: Path, fast_retry: RetryPolicy
) -> None:
    fake = FakeVault()
    fake.policy_allows = False
    with pytest.raises(AccessDenied) as denied:
        run(_vault(fake, token_file, fast_retry), memory_dir)
    assert f'path "secret/data/{PATH}"' in str(denied.value)


def test_vault_sealed_or_throttled_is_retried(
    token_file: Path, memory_dir: Path, fast_retry: RetryPolicy, sleeps: RecordingSleep
) -> None:
    fake = FakeVault()
    fake.failures.fail_next(503)
    fake.failures.fail_next(429)
    assert run(_vault(fake, token_file, fast_retry), memory_dir).created
    assert len(sleeps.delays) == 2


def _kubernetes(
    fake: FakeKubernetes, token_file: Path, retry: RetryPolicy, mount: Path | None = None
) -> KubernetesSecretStore:
    client = httpx.Client(
        base_url="https://kubernetes.default.svc",
        transport=httpx.MockTransport(fake.handler),
        auth=BearerTokenFile(str(token_file)),
    )
    return KubernetesSecretStore(client, "member-a", "writer-1-tm-keys", mount, retry)


@pytest.fixture()
def k8s_token(tmp_path: Path) -> Path:
    path = tmp_path / "k8s-token"
    path.write_text("sa-token")
    return path


def test_kubernetes_first_boot_creates_the_secret_then_reads_the_mount(
    k8s_token: Path, tmp_path: Path, memory_dir: Path, fast_retry: RetryPolicy
) -> None:
    fake = FakeKubernetes()
    mount = tmp_path / "mount"
    mount.mkdir()  # optional secret volume: empty until the Secret exists
    first = run(_kubernetes(fake, k8s_token, fast_retry, mount), memory_dir)
    stored = fake.secrets[("member-a", "writer-1-tm-keys")]
    assert first.created and stored["type"] == "Opaque"

    (mount / DATA_KEY).write_bytes(base64.b64decode(stored["data"][DATA_KEY]))  # what the kubelet projects
    fake.requests.clear()
    second = run(_kubernetes(fake, k8s_token, fast_retry, mount), memory_dir)
    assert second.public_key == first.public_key and not second.created
    assert fake.requests == []  # mounted: no API call, no permission needed


def test_kubernetes_racing_agents_keep_one_identity(k8s_token: Path, memory_dir: Path, fast_retry: RetryPolicy) -> None:
    fake = FakeKubernetes()
    barrier = threading.Barrier(10)
    keys: list[str] = []

    def boot(index: int) -> None:
        store = _kubernetes(fake, k8s_token, fast_retry)
        barrier.wait()
        keys.append(run(store, memory_dir.with_name(f"p{index}")).public_key)

    threads = [threading.Thread(target=boot, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 10 and len(set(keys)) == 1


def test_kubernetes_forbidden_names_the_role(k8s_token: Path, memory_dir: Path, fast_retry: RetryPolicy) -> None:
    fake = FakeKubernetes()
    fake.allowed_verbs = {"get"}
    with pytest.raises(AccessDenied, match="Role OrionKeyVault creates"):
        run(_kubernetes(fake, k8s_token, fast_retry), memory_dir)


def test_kubernetes_rotation_uses_resource_version(k8s_token: Path, memory_dir: Path, fast_retry: RetryPolicy) -> None:
    fake = FakeKubernetes()
    run(_kubernetes(fake, k8s_token, fast_retry), memory_dir)
    rotation = rotate(_kubernetes(fake, k8s_token, fast_retry))
    after = run(_kubernetes(fake, k8s_token, fast_retry), memory_dir)
    assert after.public_key == rotation.new_public_key and after.versions == 2


def test_missing_service_account_token_is_explained(tmp_path: Path, memory_dir: Path, fast_retry: RetryPolicy) -> None:
    with pytest.raises(AccessDenied, match="automountServiceAccountToken"):
        run(_kubernetes(FakeKubernetes(), tmp_path / "absent", fast_retry), memory_dir)
