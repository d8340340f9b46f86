"""registry.build: the member builds and pushes every node image to its registry, and nodes pull exactly those."""

from __future__ import annotations

from typing import Any

from tests.components.harness import by_type, named, synth
from tests.standins import ROOT
from tests.unit.stack_documents import valid

REGISTRY = "123456789012.dkr.ecr.sa-east-1.amazonaws.com/lacchain"


def containers_of(result: Any, node: str) -> list[dict[str, Any]]:
    spec = named(result, "kubernetes:apps/v1:StatefulSet", f"acme-{node}").inputs["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_nodes_pull_exactly_what_the_build_pushes_and_wait_for_it() -> None:
    document = valid()
    document["registry"] = {"url": REGISTRY, "build": True}
    document["nodes"][0]["besuVersion"] = "25.12.0"
    result = synth(document, ROOT)
    images = by_type(result, "docker:index/image:Image")
    pushed = {i.inputs["imageName"] for i in images}
    assert len(images) == 7 + 2  # the shared images once, Besu once per release the nodes run
    assert all(name.startswith(REGISTRY + "/") for name in pushed)
    assert f"{REGISTRY}/besu:25.12.0" in pushed and f"{REGISTRY}/besu:24.12.2" in pushed
    for node in ("validator-1", "writer-1", "writer-2", "boot-1"):
        for container in containers_of(result, node):
            assert container["image"] in pushed, f"{node}/{container['name']} pulls {container['image']}"
    # Depending on the build components resolves to their pushes.
    statefulset = named(result, "kubernetes:apps/v1:StatefulSet", "acme-writer-1")
    assert {i.urn for i in images} <= set(statefulset.depends_on)


def test_a_registry_without_build_only_renames_the_images() -> None:
    document = valid()
    document["registry"] = {"url": REGISTRY}
    result = synth(document, ROOT)
    assert not by_type(result, "docker:index/image:Image")
    assert all(c["image"].startswith(REGISTRY + "/") for c in containers_of(result, "writer-1"))
