"""EIP-778 records and EIP-1459 trees: the specs' own examples, exact; hypothesis round trips; DNS size limits."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest
import rlp
from coincurve import PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from lacchain.enr import (
    MAX_BRANCH_CHILDREN,
    MAX_RECORD_BYTES,
    TXT_STRING_BYTES,
    Enr,
    EnrError,
    EnrTree,
    Root,
    b32,
    branch_text,
    entry_hash,
    parse_branch,
    parse_link,
    tree_link,
    txt_strings,
)
from lacchain.keys import NodeKey

# EIP-778, "Test Vectors": private key, record and node id.
EIP778_KEY = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"
EIP778_TEXT = (
    "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJ"
    "c2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8"
)
EIP778_NODE_ID = "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7"
EIP778_SIGNATURE = (
    "7098ad865b00a582051940cb9cf36836572411a47278783077011599ed5cd16b"
    "76f2635f4e234738f30813a89eb9137e3e3df5266e3a1f11df72ecf1145ccb9c"
)

# EIP-1459, "DNS Record Structure" example zone.
EIP1459_ROOT = (
    "enrtree-root:v1 e=JWXYDBPXYWG6FX3GMDIBFA6CJ4 l=C7HRFPF3BLGF3YR4DY5KX3SMBE seq=1 "
    "sig=o908WmNp7LibOfPsr4btQwatZJ5URBr2ZAuxvK4UWHlsB9sUOTJQaGAlLPVAhM__XJesCHxLISo94z5Z2a463gA"
)
EIP1459_ENTRIES = {
    "C7HRFPF3BLGF3YR4DY5KX3SMBE": "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@morenodes.example.org",
    "JWXYDBPXYWG6FX3GMDIBFA6CJ4": (
        "enrtree-branch:2XS2367YHAXJFGLZHVAWLQD4ZY,H4FHT4B454P6UXFD7JCYQ5PWDY,MHTDO6TMUBRIA2XWG5LUDACK24"
    ),
    "2XS2367YHAXJFGLZHVAWLQD4ZY": (
        "enr:-HW4QOFzoVLaFJnNhbgMoDXPnOvcdVuj7pDpqRvh6BRDO68aVi5ZcjB3vzQRZH2IcLBGHzo8uUN3snqmgTiE56CH3AMBgmlkgnY0iXNl"
        "Y3AyNTZrMaECC2_24YYkYHEgdzxlSNKQEnHhuNAbNlMlWJxrJxbAFvA"
    ),
    "H4FHT4B454P6UXFD7JCYQ5PWDY": (
        "enr:-HW4QAggRauloj2SDLtIHN1XBkvhFZ1vtf1raYQp9TBW2RD5EEawDzbtSmlXUfnaHcvwOizhVYLtr7e6vw7NAf6mTuoCgmlkgnY0iXNl"
        "Y3AyNTZrMaECjrXI8TLNXU0f8cthpAMxEshUyQlK-AM0PW2wfrnacNI"
    ),
    "MHTDO6TMUBRIA2XWG5LUDACK24": (
        "enr:-HW4QLAYqmrwllBEnzWWs7I5Ev2IAs7x_dZlbYdRdMUx5EyKHDXp7AV5CkuPGUPdvbv1_Ms1CPfhcGCvSElSosZmyoqAgmlkgnY0iXNl"
        "Y3AyNTZrMaECriawHKWdDRk2xeZkrOXBQ0dfMFLHY4eENZwdufn1S1o"
    ),
}
EIP1459_SIGNER = (
    "049f88229042fef9200246f49f94d9b77c4e954721442714e85850cb6d9e5daf2d880ea0e53cb3ac1a75f9923c2726a4f941f7d326781baa"
    "6380754a360de5c2b6"
)


# ------------------------------------------------------------------------------------------------------- EIP-778


def test_eip778_example_record_is_reproduced_exactly() -> None:
    key = NodeKey.from_hex(EIP778_KEY)
    record = Enr.create(key, 1, ip="127.0.0.1", udp=30303)
    assert record.text == EIP778_TEXT
    assert record.signature.hex() == EIP778_SIGNATURE
    assert record.node_id.hex() == EIP778_NODE_ID
    assert record.enode_id == key.node_id


def test_eip778_example_record_parses() -> None:
    record = Enr.from_text(EIP778_TEXT)
    assert record.seq == 1
    assert record.get("id") == b"v4"
    assert (record.ip, record.udp, record.tcp, record.ip6) == ("127.0.0.1", 30303, None, None)
    assert record.public_key.hex() == "03ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138"
    assert record.node_id.hex() == EIP778_NODE_ID
    assert record.text == EIP778_TEXT


def test_record_with_every_predefined_key() -> None:
    key = NodeKey.generate()
    record = Enr.create(key, 7, ip="1.2.3.4", tcp=60606, udp=30303, ip6="2001:db8::1", tcp6=1, udp6=65535)
    again = Enr.from_text(record.text)
    assert again == record
    assert (again.ip6, again.port("tcp6"), again.port("udp6")) == ("2001:db8::1", 1, 65535)
    assert [k for k, _ in again.pairs] == sorted(k for k, _ in again.pairs)


def _resigned(record: Enr, key: NodeKey, items: list) -> bytes:
    """Encode raw RLP items with a valid signature over them (to test checks other than the signature)."""
    from coincurve import PrivateKey
    from eth_hash.auto import keccak

    digest = keccak(rlp.encode(items))
    signature = PrivateKey(key.private_key).sign_recoverable(digest, hasher=None)[:64]
    return rlp.encode([signature, *items])


def test_malformed_records_are_refused() -> None:
    key = NodeKey.generate()
    record = Enr.create(key, 1, ip="1.2.3.4")
    with pytest.raises(EnrError, match="sorted"):
        Enr.decode(_resigned(record, key, [1, b"secp256k1", key.compressed_public_key, b"id", b"v4"]))
    with pytest.raises(EnrError, match="sorted and unique"):
        Enr.decode(_resigned(record, key, [1, b"id", b"v4", b"id", b"v4", b"secp256k1", key.compressed_public_key]))
    with pytest.raises(EnrError, match="scheme"):
        Enr.decode(_resigned(record, key, [1, b"id", b"v5", b"secp256k1", key.compressed_public_key]))
    with pytest.raises(EnrError, match="ip must be 4 bytes"):
        Enr.decode(
            _resigned(record, key, [1, b"id", b"v4", b"ip", b"\x01\x02", b"secp256k1", key.compressed_public_key])
        )
    with pytest.raises(EnrError, match="RLP"):
        Enr.decode(b"\xff\x00")
    with pytest.raises(EnrError, match="enr:"):
        Enr.from_text("enode://abc")
    with pytest.raises(EnrError, match="base64"):
        Enr.from_text("enr:a=b")
    too_big = _resigned(
        record, key, [1, b"id", b"v4", b"secp256k1", key.compressed_public_key, b"z", b"x" * MAX_RECORD_BYTES]
    )
    with pytest.raises(EnrError, match="at most 300"):
        Enr.decode(too_big)
    with pytest.raises(EnrError, match="at most 300"):
        Enr.create(key, 1, extra={b"z": b"x" * 260})


def test_signature_tampering_is_detected() -> None:
    record = Enr.create(NodeKey.generate(), 3, ip="1.2.3.4", tcp=1)
    for forged in (
        replace(record, seq=4),
        replace(record, signature=bytes(64)),
        replace(record, pairs=tuple((k, b"\x05\x06\x07\x08" if k == b"ip" else v) for k, v in record.pairs)),
    ):
        with pytest.raises(EnrError) as failure:
            Enr.from_text(forged.text)
        assert failure.value.signature
    other = NodeKey.generate()
    swapped = replace(
        record, pairs=tuple((k, other.compressed_public_key if k == b"secp256k1" else v) for k, v in record.pairs)
    )
    with pytest.raises(EnrError):
        Enr.from_text(swapped.text)


ports = st.none() | st.integers(0, 65535)
ipv4 = st.none() | st.ip_addresses(v=4).map(str)
ipv6 = st.none() | st.ip_addresses(v=6).map(str)


@settings(max_examples=60, deadline=None)
@given(
    secret=st.integers(1, 2**255),
    seq=st.integers(0, 2**64 - 1),
    ip=ipv4,
    ip6=ipv6,
    tcp=ports,
    udp=ports,
    extra=st.dictionaries(
        st.binary(min_size=1, max_size=8).filter(lambda k: not k.startswith((b"i", b"s", b"t", b"u"))),
        st.binary(max_size=40),
        max_size=3,
    ),
)
def test_records_round_trip(
    secret: int, seq: int, ip: str | None, ip6: str | None, tcp: int | None, udp: int | None, extra: dict
) -> None:
    key = NodeKey(secret.to_bytes(32, "big"))
    try:
        record = Enr.create(key, seq, ip=ip, ip6=ip6, tcp=tcp, udp=udp, extra=extra)
    except EnrError as exc:
        assert "at most 300" in str(exc)
        return
    assert len(record.encode()) <= MAX_RECORD_BYTES
    parsed = Enr.from_text(record.text)
    assert parsed == record
    assert Enr.decode(record.encode()) == record
    assert (parsed.ip, parsed.ip6, parsed.tcp, parsed.udp, parsed.seq) == (
        ip and str(ipaddress.ip_address(ip)),
        ip6 and str(ipaddress.ip_address(ip6)),
        tcp,
        udp,
        seq,
    )
    assert parsed.enode_id == key.node_id


# ------------------------------------------------------------------------------------------------------ EIP-1459


def test_eip1459_example_hashes_and_structure() -> None:
    for label, text in EIP1459_ENTRIES.items():
        assert entry_hash(text) == label
    root = Root.parse(EIP1459_ROOT)
    assert (root.enr_root, root.link_root, root.seq) == ("JWXYDBPXYWG6FX3GMDIBFA6CJ4", "C7HRFPF3BLGF3YR4DY5KX3SMBE", 1)
    assert root.text == EIP1459_ROOT
    assert parse_branch(EIP1459_ENTRIES[root.enr_root]) == [
        "2XS2367YHAXJFGLZHVAWLQD4ZY",
        "H4FHT4B454P6UXFD7JCYQ5PWDY",
        "MHTDO6TMUBRIA2XWG5LUDACK24",
    ]
    key, domain = parse_link(EIP1459_ENTRIES[root.link_root])
    assert domain == "morenodes.example.org" and len(key) == 33


def test_eip1459_example_root_signature_verifies_with_the_spec_key() -> None:
    root = Root.parse(EIP1459_ROOT)
    signer = PublicKey(bytes.fromhex(EIP1459_SIGNER)).format(compressed=True)
    root.verify(signer)
    with pytest.raises(EnrError):
        root.verify(NodeKey.generate().compressed_public_key)
    with pytest.raises(EnrError):
        Root.parse(EIP1459_ROOT.replace("seq=1", "seq=2")).verify(signer)


def test_eip1459_example_resolves_like_a_client() -> None:
    domain = "nodes.example.org"
    zone = {domain: EIP1459_ROOT, **{f"{label}.{domain}": text for label, text in EIP1459_ENTRIES.items()}}
    signer = PublicKey(bytes.fromhex(EIP1459_SIGNER)).format(compressed=True)
    tree, records, links = EnrTree.resolve(tree_link(signer, domain), zone)
    assert sorted(r.seq for r in records) == [0, 1, 2]
    assert links == [EIP1459_ENTRIES["C7HRFPF3BLGF3YR4DY5KX3SMBE"]]
    assert dict(tree.entries) == EIP1459_ENTRIES


def test_link_format() -> None:
    key = NodeKey.generate()
    link = tree_link(key.compressed_public_key, "nodes.example.org.")
    assert link == f"enrtree://{b32(key.compressed_public_key)}@nodes.example.org"
    assert parse_link(link) == (key.compressed_public_key, "nodes.example.org")
    for bad in ("enrtree://AAAA@x.org", "enrtree://x@y@z", "https://a@b", "enrtree://" + "A" * 53 + "@bad domain"):
        with pytest.raises(EnrError):
            parse_link(bad)


def _tree(count: int, links: int = 0, seq: int = 1) -> tuple[NodeKey, list[Enr], list[str], EnrTree]:
    key = NodeKey.generate()
    records = [Enr.create(NodeKey.generate(), 1, ip="1.2.3.4", tcp=60606, udp=60606) for _ in range(count)]
    link_list = [tree_link(NodeKey.generate().compressed_public_key, f"list{i}.example.org") for i in range(links)]
    return key, records, link_list, EnrTree.build(records, link_list, seq, key)


@pytest.mark.parametrize("count", [0, 1, 2, MAX_BRANCH_CHILDREN, MAX_BRANCH_CHILDREN + 1, 70, 200])
def test_built_trees_resolve_and_fit_dns(count: int) -> None:
    key, records, links, tree = _tree(count, links=3, seq=42)
    domain = "nodes.lacchain.example.org"
    txt = tree.txt_records(domain)
    _, found, found_links = EnrTree.resolve(tree_link(key.compressed_public_key, domain), txt)
    assert sorted(r.text for r in found) == sorted(r.text for r in records)
    assert sorted(found_links) == sorted(links)
    assert tree.root.seq == 42
    for text in txt.values():
        strings = txt_strings(text)
        assert "".join(strings) == text
        assert all(len(s.encode()) <= TXT_STRING_BYTES for s in strings)
        if text.startswith(("enrtree-branch:", "enrtree-root:", "enrtree://")):
            assert len(strings) == 1  # one string: fits even resolvers that read only the first
    assert all(len(parse_branch(t)) <= MAX_BRANCH_CHILDREN for t in txt.values() if t.startswith("enrtree-branch:"))


def test_tree_is_deterministic_for_a_set_of_records() -> None:
    key, records, _, tree = _tree(20)
    again = EnrTree.build(list(reversed(records)), [], 1, key)
    assert again.entries == tree.entries and again.root.enr_root == tree.root.enr_root


def test_tampered_entries_are_detected_when_resolving() -> None:
    key, _, _, tree = _tree(10)
    domain = "n.example.org"
    link = tree_link(key.compressed_public_key, domain)
    txt = tree.txt_records(domain)
    leaf = next(name for name, text in txt.items() if text.startswith("enr:"))
    forged = dict(txt)
    forged[leaf] = Enr.create(NodeKey.generate(), 1, ip="6.6.6.6").text
    with pytest.raises(EnrError, match="hash"):
        EnrTree.resolve(link, forged)
    with pytest.raises(EnrError, match="signed"):
        EnrTree.resolve(tree_link(NodeKey.generate().compressed_public_key, domain), txt)
    missing = dict(txt)
    del missing[leaf]
    with pytest.raises(EnrError, match="missing"):
        EnrTree.resolve(link, missing)


def test_branch_width_is_bounded() -> None:
    with pytest.raises(EnrError):
        EnrTree.build([], [], 1, NodeKey.generate(), max_children=MAX_BRANCH_CHILDREN + 1)
    assert len(branch_text(["A" * 26] * MAX_BRANCH_CHILDREN)) <= TXT_STRING_BYTES
    assert len(branch_text(["A" * 26] * (MAX_BRANCH_CHILDREN + 1))) > TXT_STRING_BYTES


@settings(max_examples=25, deadline=None)
@given(count=st.integers(0, 40), width=st.integers(2, MAX_BRANCH_CHILDREN), seq=st.integers(0, 2**32))
def test_trees_round_trip(count: int, width: int, seq: int) -> None:
    key = NodeKey.generate()
    records = [Enr.create(NodeKey(bytes([i + 1]) * 32), i, udp=i) for i in range(count)]
    tree = EnrTree.build(records, [], seq, key, max_children=width)
    parsed_root = Root.parse(tree.root.text)
    assert parsed_root == tree.root
    _, found, _ = EnrTree.resolve(
        tree_link(key.compressed_public_key, "t.example.org"), tree.txt_records("t.example.org")
    )
    assert sorted(r.seq for r in found) == list(range(count))
