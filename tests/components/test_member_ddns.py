"""network.ddns in a member stack: the operating stack creates the DDNS zone and function with its nodes as
members and no key in plain inputs; other stacks only point their nodes at the function."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from pulumi import RunError

from components.member import ddns_members_document, node_keys_of
from lacchain.errors import InvalidInput
from lacchain.stack_config import parse_member_stack
from lacchain_cli.synth import SECRET, write_output
from tests.components.harness import by_type, synth
from tests.standins import ROOT
from tests.unit.stack_documents import valid

TREE = "0x" + "11" * 32


def with_ddns(ddns: dict[str, Any], **top: Any) -> dict[str, Any]:
    document = valid()
    document["network"]["ddns"] = ddns
    document.update(top)
    return document


def test_aws_operator_stack_creates_the_zone_with_its_nodes_as_members() -> None:
    result = synth(
        with_ddns(
            {"network": "acme-net", "zone": "nodes.acme.example.org", "platform": "aws", "region": "us-east-1"},
            ddnsTreeKey=TREE,
        ),
        ROOT,
    )
    (members,) = [
        v for v in by_type(result, "aws:secretsmanager/secretVersion:SecretVersion") if v.name.endswith("members")
    ]
    assert members.inputs["secretString"] == SECRET  # a secret value by the provider's schema
    stack = parse_member_stack(with_ddns({"network": "acme-net", "zone": "nodes.acme.example.org", "url": "https://x"}))
    listed = ddns_members_document(stack, node_keys_of(stack), ROOT)
    assert listed["network"] == "acme-net"
    assert sorted(n["name"] for n in listed["nodes"]) == sorted(n["name"] for n in valid()["nodes"])
    assert {n["nodeId"] for n in listed["nodes"]} == {k.node_id for k in node_keys_of(stack).values()}
    assert by_type(result, "aws:lambda/function:Function")
    assert result.outputs["ddns"]["zoneName"] == "nodes.acme.example.org"
    assert result.outputs["ddns"]["enrTreeUrl"].startswith("enrtree://")
    tree_versions = [
        v for v in by_type(result, "aws:secretsmanager/secretVersion:SecretVersion") if v.name.endswith("tree-key")
    ]
    assert tree_versions[0].inputs["secretString"] == SECRET
    for resource in result.resources:
        assert "11" * 32 not in json.dumps(resource.inputs)
    (function,) = by_type(result, "aws:lambda/function:Function")
    assert "services/ddns_function/aws_lambda.py" in function.inputs["code"]["archive"]
    with tempfile.TemporaryDirectory() as out:
        write_output(result, Path(out), "acme")
        assert "aws_lambda.py" in (Path(out) / "plan.json").read_text()


def test_a_user_stack_only_points_at_the_url() -> None:
    result = synth(
        with_ddns({"network": "acme-net", "zone": "nodes.acme.example.org", "url": "https://ddns.example.org"}), ROOT
    )
    assert not by_type(result, "lacchain:index:DdnsZone") and "ddns" not in result.outputs


def test_platform_and_url_are_exclusive_and_onprem_needs_its_tsig_secret() -> None:
    with pytest.raises(InvalidInput):
        parse_member_stack(with_ddns({"network": "n", "zone": "z.example.org"}))
    onprem = {
        "network": "acme-net",
        "zone": "nodes.acme.example.org",
        "platform": "onprem",
        "onprem": {"server": "192.0.2.53", "keyName": "ddns-key."},
    }
    with pytest.raises(RunError, match="ddnsTsigSecret"):
        synth(with_ddns(onprem), ROOT)
    result = synth(with_ddns(onprem, ddnsTsigSecret="c2VjcmV0"), ROOT)
    assert result.outputs["ddns"]["zoneName"] == "nodes.acme.example.org"
