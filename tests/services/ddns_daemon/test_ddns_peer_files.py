"""Besu's peer files: replaced atomically (temp file + rename, old version kept as .prev), only when their peer set
changes, and in config.toml only the bootnodes key changes: every other byte stays."""

from __future__ import annotations

import json
import os
import threading
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lacchain.enode import Enode
from lacchain.keys import NodeKey
from services.ddns_daemon import besu_files, files
from services.ddns_daemon.toml_edit import TomlEditError, read_array, set_array

KEYS = [NodeKey.generate() for _ in range(4)]
ENODES = [Enode.of(k.node_id, f"52.0.0.{i + 1}", 60606).url for i, k in enumerate(KEYS)]

CONFIG = """\
# LACChain writer node
data-path="/var/lib/lacchain/besu"   # chain data
p2p-port=60606
bootnodes = [ "enode://old@1.2.3.4:60606",   # first boot
  'enode://older@5.6.7.8:60606' ] # trailing comment
rpc-http-api=["ETH","NET","IBFT","EEA","PRIV"]
min-gas-price=0

[metrics]  # Besu ignores table headings
metrics-push-enabled=true
"""


def test_write_replaces_the_inode_and_keeps_the_previous_version(tmp_path: Path) -> None:
    target = tmp_path / "static-nodes.json"
    target.write_text("old\n")
    target.chmod(0o640)
    old_inode = target.stat().st_ino
    files.write_atomically(target, b"new\n")
    assert target.read_text() == "new\n"
    assert target.stat().st_ino != old_inode  # a new file renamed into place, not the old one truncated
    previous = files.previous_path(target)
    assert previous.read_text() == "old\n" and previous.stat().st_ino == old_inode
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["static-nodes.json", "static-nodes.json.prev"]


def test_a_crash_before_the_rename_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "static-nodes.json"
    target.write_text('["enode://a"]\n')
    real_replace = os.replace

    def crash(source: object, destination: object) -> None:
        if Path(str(destination)) == target:
            raise OSError("simulated power cut before rename")
        real_replace(source, destination)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        files.write_atomically(target, b'["enode://b", "enode://c"]\n')
    assert target.read_text() == '["enode://a"]\n'
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_concurrent_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "static-nodes.json"
    versions = [json.dumps([f"enode://{i:0128x}@52.0.0.1:60606"] * (50 + i)) for i in range(40)]
    target.write_text(versions[0])
    seen: set[str] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(target.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for version in versions[1:]:
            files.write_atomically(target, version.encode())
    finally:
        stop.set()
        reader.join()
    assert seen <= set(versions)


def test_static_nodes_are_rewritten_only_when_the_peer_set_changes(tmp_path: Path) -> None:
    target = tmp_path / "static-nodes.json"
    assert besu_files.sync_static_nodes(target, ENODES[:2])
    assert json.loads(target.read_text()) == ENODES[:2]
    stat = target.stat()
    assert not besu_files.sync_static_nodes(target, list(reversed(ENODES[:2])))  # same set
    assert target.stat().st_ino == stat.st_ino and target.stat().st_mtime_ns == stat.st_mtime_ns
    assert besu_files.sync_static_nodes(target, ENODES[1:3])
    assert json.loads(files.previous_path(target).read_text()) == ENODES[:2]


def test_only_the_bootnodes_key_of_config_toml_changes(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    target.write_text(CONFIG)
    assert besu_files.sync_toml_array(target, "bootnodes", ENODES[:2], create=False)
    text = target.read_text()
    start = CONFIG.index("bootnodes")
    end = CONFIG.index("# trailing comment")
    assert text.startswith(CONFIG[:start])
    assert text.endswith(CONFIG[end - 1 :])  # " # trailing comment\n..." and everything after, byte for byte
    document = tomllib.loads(text)
    assert document["bootnodes"] == ENODES[:2]
    assert document == {**tomllib.loads(CONFIG), "bootnodes": ENODES[:2]}
    assert files.previous_path(target).read_text() == CONFIG
    assert not besu_files.sync_toml_array(target, "bootnodes", ENODES[:2], create=False)


def test_an_absent_bootnodes_key_is_added_before_the_first_table(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    original = "p2p-port=60606\n\n[metrics]\nmetrics-push-enabled=true\n"
    target.write_text(original)
    assert besu_files.sync_toml_array(target, "bootnodes", ENODES[:1], create=False)
    document = tomllib.loads(target.read_text())
    assert document["bootnodes"] == ENODES[:1]
    assert document["metrics"] == {"metrics-push-enabled": True}  # not swallowed by the table
    assert not besu_files.sync_toml_array(tmp_path / "config.toml", "bootnodes", ENODES[:1], create=False)


def test_a_missing_config_toml_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    with pytest.raises(besu_files.PeerFileError, match="does not exist"):
        besu_files.sync_toml_array(tmp_path / "config.toml", "bootnodes", ENODES, create=False)
    assert not (tmp_path / "config.toml").exists()


def test_the_allowlist_keeps_accounts_and_matches_besus_format(tmp_path: Path) -> None:
    target = tmp_path / "permissions_config.toml"
    target.write_text('accounts-allowlist=["0xfe3b557e8fb62b89f4916b721be55ceb828dbd73"]\nnodes-allowlist=[]\n')
    assert besu_files.sync_toml_array(target, "nodes-allowlist", ENODES[:3], create=True)
    document = tomllib.loads(target.read_text())
    assert document == {
        "accounts-allowlist": ["0xfe3b557e8fb62b89f4916b721be55ceb828dbd73"],
        "nodes-allowlist": ENODES[:3],
    }
    # Besu rewrites the file in its own layout after perm_* calls: same set, so the daemon leaves it alone.
    besu_layout = "nodes-allowlist=[" + ",".join(f'"{e}"' for e in reversed(ENODES[:3])) + "]\n"
    target.write_text(besu_layout)
    assert not besu_files.sync_toml_array(target, "nodes-allowlist", ENODES[:3], create=True)
    assert target.read_text() == besu_layout


def test_a_missing_allowlist_file_is_created(tmp_path: Path) -> None:
    target = tmp_path / "permissions_config.toml"
    assert besu_files.sync_toml_array(target, "nodes-allowlist", ENODES[:1], create=True)
    assert tomllib.loads(target.read_text()) == {"nodes-allowlist": ENODES[:1]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bootnodes = [\n", "not valid TOML"),
        ('bootnodes = "enode://x"\n', "array of enode URL strings"),
        ('[p2p]\nbootnodes = ["enode://x"]\n', "under the table"),
    ],
)
def test_files_that_cannot_be_edited_safely_are_refused_and_left_alone(tmp_path: Path, text: str, message: str) -> None:
    target = tmp_path / "config.toml"
    target.write_text(text)
    with pytest.raises(TomlEditError, match=message):
        besu_files.sync_toml_array(target, "bootnodes", ENODES[:1], create=False)
    assert target.read_text() == text
    assert not files.previous_path(target).exists()


toml_scalars = st.one_of(
    st.integers(-(2**31), 2**31),
    st.booleans(),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=20),
    st.lists(st.text(alphabet="abc[]#'\",=", max_size=8), max_size=4),
)
keys = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True).filter(lambda k: k != "bootnodes")


@settings(max_examples=150, deadline=None)
@given(
    before=st.dictionaries(keys, toml_scalars, max_size=5),
    after=st.dictionaries(keys, toml_scalars, max_size=5),
    old=st.one_of(st.none(), st.lists(st.sampled_from(ENODES), max_size=3)),
    new=st.lists(st.sampled_from(ENODES), max_size=4, unique=True),
)
def test_set_array_changes_exactly_one_key(
    before: dict[str, object], after: dict[str, object], old: list[str] | None, new: list[str]
) -> None:
    lines = [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in before.items()]
    if old is not None:
        lines.append("bootnodes = [" + ", ".join(json.dumps(e) for e in old) + "]  # keep me")
    lines += [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in after.items() if k not in before]
    text = "\n".join(lines) + "\n"
    document = tomllib.loads(text)
    edited = set_array(text, "bootnodes", new, "config.toml")
    assert tomllib.loads(edited) == {**document, "bootnodes": new}
    assert read_array(edited, "bootnodes", "config.toml") == new
    if old is not None:
        head = text[: text.index("bootnodes")]
        assert edited.startswith(head) and edited.endswith(text[text.index("  # keep me") :])
