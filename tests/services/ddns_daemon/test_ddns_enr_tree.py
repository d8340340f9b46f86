"""The daemon's ENR records end to end: after an accepted address update each node posts its own signed EIP-778
record, and the EIP-1459 tree the real DDNS function publishes in DNS then holds it, resolved and verified the way
Besu (``discovery-dns-url``) reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lacchain.enr import Enr, EnrTree
from lacchain.keys import NodeKey
from lacchain.stack_config import Role
from services.ddns_function.core import DdnsService, error
from tests.services.ddns_daemon.simnet import SimNetwork, SimNode, initial_address, simulated_network

pytestmark = pytest.mark.slow

V, B, W, OBS = Role.VALIDATOR, Role.BOOT, Role.WRITER, Role.OBSERVER


def tree_of(network: SimNetwork) -> dict[str, Enr]:
    """The published tree, resolved from the function's DNS and verified against the tree key; by node id."""
    service = network.service
    assert isinstance(service, DdnsService)
    link = service.enr_tree_link()
    assert link is not None
    _, records, _ = EnrTree.resolve(link, service.dns.txt)  # type: ignore[attr-defined]
    return {record.enode_id: record for record in records}


def row_sequence(network: SimNetwork, node: SimNode) -> int:
    service = network.service
    assert isinstance(service, DdnsService)
    stored = service.store.get(node.key.node_id)
    assert stored is not None
    return stored.sequence


def test_every_node_is_in_the_published_tree_after_its_first_update_and_follows_a_move(tmp_path: Path) -> None:
    with simulated_network(tmp_path, [V, V, B, W, OBS], tree_key=NodeKey.generate()) as network:
        for node in network.nodes:
            report = node.start().run_once()
            assert report.ok and report.published is not None and report.published.accepted, node.name
            assert report.enr is not None and report.enr.accepted, node.name
        tree = tree_of(network)
        assert set(tree) == {node.key.node_id for node in network.nodes}
        for node in network.nodes:
            record = tree[node.key.node_id]
            assert (record.ip, record.tcp, record.udp) == (initial_address(node.index), 60606, 60606), node.name
            assert record.seq == row_sequence(network, node)

        moved = network.nodes[3]
        before = tree[moved.key.node_id].seq
        network.move(moved, "52.33.44.55")
        assert moved.daemon is not None
        again = moved.daemon.run_once()
        assert again.enr is not None and again.enr.accepted
        record = tree_of(network)[moved.key.node_id]
        assert record.ip == "52.33.44.55" and record.seq > before

        # Nothing changed: no record is sent again, on this daemon or a restarted one.
        moved.daemon.close()
        quiet = moved.start().run_once()
        assert quiet.ok and quiet.published is None and quiet.enr is None


def test_a_record_the_function_failed_to_take_is_sent_at_the_next_check(tmp_path: Path) -> None:
    with simulated_network(tmp_path, [B, W], tree_key=NodeKey.generate()) as network:
        service = network.service
        assert isinstance(service, DdnsService)
        real = service.post_enr
        service.post_enr = lambda body: error(503, "enrTree", "busy")  # type: ignore[method-assign]
        node = network.nodes[0]
        first = node.start().run_once()
        assert first.published is not None and first.published.accepted
        assert first.enr is not None and not first.enr.accepted and not first.ok
        assert node.key.node_id not in tree_of(network)

        service.post_enr = real  # type: ignore[method-assign]
        assert node.daemon is not None
        assert node.daemon.sync().ok  # the loop polls the table every second, so it lists the address by now
        second = node.daemon.check_address()
        assert second.published is None  # the address is unchanged: no new update ...
        assert second.enr is not None and second.enr.accepted  # ... but the record still owed
        assert second.enr.sequence == first.published.sequence
        assert tree_of(network)[node.key.node_id].ip == initial_address(0)


def test_a_lost_state_file_does_not_block_the_record(tmp_path: Path) -> None:
    with simulated_network(tmp_path, [B], tree_key=NodeKey.generate()) as network:
        node = network.nodes[0]
        assert node.start().run_once().ok
        assert node.daemon is not None
        node.daemon.close()
        (node.root / "state" / "state.json").unlink()
        again = node.start().run_once()  # the table has the address; the function already holds the record
        assert again.ok and again.published is None
        assert again.enr is not None and again.enr.accepted and again.enr.status == 409
        assert node.key.node_id in tree_of(network)
