"""Key files go only to memory, atomically, mode 0600, and never through a planted symlink."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lacchain.keys import NodeKey
from lacchain.layout import SECRETS_DIR
from lacchain.tm.config import TLS_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE
from services.keyagent.agent import run
from services.keyagent.document import KeyDocument, TlsPair
from services.keyagent.errors import UnsafeOutputDir
from services.keyagent.output import ensure_memory_backed, filesystem_type, write_files
from services.keyagent.stores import StoredValue
from tests.services.keyagent.test_keyagent_document import tls_pair

MOUNTINFO = """\
22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
25 22 0:23 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=812k,mode=755
26 25 0:24 / /run/lacchain/keys rw,nosuid,nodev - ext4 /dev/vdb rw
27 22 0:25 / /mnt/my\\040keys rw - ramfs ramfs rw
28 22 0:26 / /var/lib/kubelet/pods/abc/volumes/kubernetes.io~empty-dir/keys rw - tmpfs tmpfs rw
29 22 0:27 / /srv rw - tmpfs tmpfs rw
30 22 0:28 / /srv rw - xfs /dev/vdc rw
"""


class MemoryStore:
    """A KeyStore holding one value in memory (for tests of what the agent writes, not of a cloud)."""

    def __init__(self, text: str | None = None) -> None:
        self.value = None if text is None else StoredValue(text, "1")
        self.reads = 0

    @property
    def reference(self) -> str:
        return "memory:test"

    def read(self) -> StoredValue | None:
        self.reads += 1
        return self.value

    def create(self, text: str) -> bool:
        if self.value is not None:
            return False
        self.value = StoredValue(text, "1")
        return True

    def replace(self, text: str, expected: StoredValue) -> None:
        self.value = StoredValue(text, str(int(expected.version) + 1))


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/run/lacchain", "tmpfs"),
        ("/run/lacchain/keys", "ext4"),  # a disk mounted over a tmpfs path is still a disk
        ("/run/lacchain/keys/sub", "ext4"),
        ("/runner", "ext4"),  # prefix of a name is not a parent directory
        ("/mnt/my keys/a", "ramfs"),  # octal escapes in mountinfo
        ("/var/lib/kubelet/pods/abc/volumes/kubernetes.io~empty-dir/keys", "tmpfs"),
        ("/srv/x", "xfs"),  # the later mount on the same point is the visible one
    ],
)
def test_filesystem_type_from_mountinfo(path: str, kind: str) -> None:
    assert filesystem_type(Path(path), MOUNTINFO) == kind


def test_persistent_directory_is_refused_before_the_store_is_touched(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("22 1 252:1 / / rw - ext4 /dev/vda1 rw\n")
    store = MemoryStore()
    with pytest.raises(UnsafeOutputDir) as refused:
        run(store, tmp_path / "keys", mountinfo=mountinfo)
    assert "--allow-persistent-dir" in str(refused.value) and "ext4" in str(refused.value)
    assert refused.value.exit_code == 3
    assert store.reads == 0 and store.value is None
    assert not (tmp_path / "keys").exists()


def test_allow_flag_permits_a_development_directory(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("22 1 252:1 / / rw - ext4 /dev/vda1 rw\n")
    outcome = run(MemoryStore(), tmp_path / "keys", allow_persistent_dir=True, mountinfo=mountinfo)
    assert outcome.created and (tmp_path / "keys" / "nodeKey.key").exists()


def test_unknown_filesystem_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeOutputDir, match="cannot be determined"):
        ensure_memory_backed(tmp_path, allow_persistent=False, mountinfo_file=tmp_path / "no-such-file")


def test_the_real_mount_table_accepts_tmpfs(memory_dir: Path) -> None:
    ensure_memory_backed(memory_dir, allow_persistent=False)  # /proc/self/mountinfo, no override


def test_files_are_private_and_replaced_atomically(memory_dir: Path) -> None:
    written = write_files(memory_dir, {"a.key": "one", "tls/tls.key": "two"})
    write_files(memory_dir, {"a.key": "three"})
    assert (memory_dir / "a.key").read_text() == "three"
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(memory_dir.stat().st_mode) == 0o700
    assert sorted(p.name for p in memory_dir.rglob("*")) == ["a.key", "tls", "tls.key"]


def test_a_planted_symlink_is_replaced_not_followed(memory_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    memory_dir.mkdir(parents=True)
    (memory_dir / "nodeKey.key").symlink_to(victim)
    write_files(memory_dir, {"nodeKey.key": "secret"})
    assert victim.read_text() == "untouched"
    assert not (memory_dir / "nodeKey.key").is_symlink()


def test_names_outside_the_directory_are_refused(memory_dir: Path) -> None:
    with pytest.raises(ValueError, match="inside the output directory"):
        write_files(memory_dir, {"../escape": "x"})


def test_umask_cannot_widen_permissions(memory_dir: Path) -> None:
    previous = os.umask(0)
    try:
        (path,) = write_files(memory_dir, {"k": "v"})
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_node_key_and_tls_pair_are_written_when_stored(memory_dir: Path) -> None:

    node_key = NodeKey.generate()
    pair = tls_pair()
    tls = TlsPair(pair.certificate_pem, pair.private_key_pem, ca_pem=tls_pair().certificate_pem)
    document = KeyDocument(KeyDocument.new().current, node_key=node_key, tls=tls)
    run(MemoryStore(document.serialize()), memory_dir)
    assert NodeKey.load(memory_dir / "key") == node_key
    assert (memory_dir / "key.pub").read_text() == "0x" + node_key.node_id
    # exactly where lacchain.tm.config points Orion and Tessera (relative to the secrets directory)
    for rendered, content in (
        (TLS_CERT_FILE, tls.certificate_pem),
        (TLS_KEY_FILE, tls.private_key_pem),
        (TLS_CA_FILE, tls.ca_pem),
    ):
        written = memory_dir / Path(rendered).relative_to(SECRETS_DIR)
        assert written.read_text() == content
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
