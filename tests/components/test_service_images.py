"""``ServiceImageBuild`` under Pulumi mocks: the build each image gets, where it is pushed, what is secret."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from components.backends.base import ServiceImages
from components.service_images import (
    IMAGES,
    PROJECT_ROOT,
    SERVICE_VERSION,
    RegistryCredentials,
    ServiceImageBuild,
    ServiceImageBuildArgs,
    base_image,
)
from lacchain.besu.releases import DEFAULT_BESU_VERSION

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/lacchain"


class Mocks(pulumi.runtime.Mocks):
    """Records every resource; a docker Image "pushes" and gets a digest derived from its name."""

    def __init__(self) -> None:
        self.resources: dict[str, tuple[str, dict[str, Any]]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        self.resources[args.name] = (args.typ, dict(args.inputs))
        outputs = dict(args.inputs)
        if args.typ == "docker:index/image:Image":
            name = args.inputs["imageName"]
            digest = hashlib.sha256(name.encode()).hexdigest()
            outputs["repoDigest"] = f"{name.rsplit(':', 1)[0]}@sha256:{digest}"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


@pytest.fixture()
def mocks() -> Iterator[Mocks]:
    recorder = Mocks()
    pulumi.runtime.set_mocks(recorder, preview=False)
    yield recorder


def _images(mocks: Mocks) -> dict[str, dict[str, Any]]:
    return {name: inputs for name, (typ, inputs) in mocks.resources.items() if typ == "docker:index/image:Image"}


@pulumi.runtime.test
def test_every_image_is_built_for_amd64_and_pushed_to_the_registry(mocks: Mocks) -> Any:
    build = ServiceImageBuild("img", ServiceImageBuildArgs(registry_url=REGISTRY + "/"))

    def check(references: dict[str, str]) -> None:
        images = _images(mocks)
        assert set(images) == {f"img-{image}" for image in IMAGES}
        for image, spec in IMAGES.items():
            inputs = images[f"img-{image}"]
            assert inputs["imageName"].startswith(f"{REGISTRY}/{spec.directory}:")
            assert inputs["skipPush"] is False
            assert inputs["build"]["platform"] == "linux/amd64"
            assert inputs["build"]["dockerfile"] == f"./images/{spec.directory}/Dockerfile"
            # Contexts are relative to the project, so state does not depend on the checkout path.
            expected_context = "." if spec.root_context else f"./images/{spec.directory}"
            assert inputs["build"]["context"] == expected_context
            assert references[image].startswith(f"{REGISTRY}/{spec.directory}@sha256:")
        # The Python services copy lacchain/ and services/: they need the repository root.
        assert images["img-healthcheck"]["build"]["context"] == "."
        assert images["img-besu"]["build"]["context"] == "./images/besu"

    return pulumi.Output.all(**build.references).apply(check)


@pulumi.runtime.test
def test_tags_follow_what_the_images_contain(mocks: Mocks) -> Any:
    build = ServiceImageBuild("tags", ServiceImageBuildArgs(registry_url=REGISTRY))

    def check(_: Any) -> None:
        names = {name: inputs["imageName"].rsplit(":", 1)[1] for name, inputs in _images(mocks).items()}
        assert names["tags-besu"] == DEFAULT_BESU_VERSION
        assert names["tags-tessera"] == "24.4.2"
        assert names["tags-orion"] == "21.7.3"
        assert names["tags-nginx"] == base_image(PROJECT_ROOT / "images/nginx/Dockerfile").split(":")[1].split("-")[0]
        assert names["tags-healthcheck"] == names["tags-ethstats-client"] == SERVICE_VERSION

    return pulumi.Output.all(**build.references).apply(check)


@pytest.mark.parametrize("version", ["24.12.2", "25.12.0"])
def test_besu_is_built_for_the_nodes_release(mocks: Mocks, version: str) -> None:
    @pulumi.runtime.test
    def scenario() -> Any:
        build = ServiceImageBuild(
            "b", ServiceImageBuildArgs(registry_url=REGISTRY, besu_version=version, images=["besu", "healthcheck"])
        )

        def check(_: Any) -> None:
            images = _images(mocks)
            assert images["b-besu"]["build"]["args"] == {"BESU_VERSION": version}
            assert images["b-besu"]["imageName"] == f"{REGISTRY}/besu:{version}"
            # Only Besu takes the version; nothing else gets build arguments.
            assert not images["b-healthcheck"]["build"].get("args")
            assert set(images) == {"b-besu", "b-healthcheck"}

        return pulumi.Output.all(**build.references).apply(check)

    scenario()


def test_the_besu_dockerfile_default_is_the_default_release() -> None:
    dockerfile = PROJECT_ROOT / "images/besu/Dockerfile"
    assert base_image(dockerfile) == f"hyperledger/besu:{DEFAULT_BESU_VERSION}"
    assert base_image(dockerfile, {"BESU_VERSION": "25.12.0"}) == "hyperledger/besu:25.12.0"


def _unwrap_secret(value: Any) -> tuple[bool, Any]:
    """(is it a secret, its value) for an input as the engine receives it."""
    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return True, value["value"]
    return False, value


@pulumi.runtime.test
def test_registry_password_reaches_the_provider_as_a_secret(mocks: Mocks) -> Any:
    credentials = RegistryCredentials(username="AWS", password="ecr-token-123")  # a plain string from config
    build = ServiceImageBuild(
        "sec", ServiceImageBuildArgs(registry_url=REGISTRY, images=["nginx"], credentials=credentials)
    )

    def check(_: Any) -> None:
        secret, registry = _unwrap_secret(_images(mocks)["sec-nginx"]["registry"])
        assert secret, "the registry login must be sent as a secret"
        assert registry == {
            "server": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "username": "AWS",
            "password": "ecr-token-123",
        }

    return pulumi.Output.all(**build.references).apply(check)


@pulumi.runtime.test
def test_without_credentials_the_docker_client_login_is_used(mocks: Mocks) -> Any:
    build = ServiceImageBuild("nocred", ServiceImageBuildArgs(registry_url=REGISTRY, images=["nginx"]))

    def check(_: Any) -> None:
        assert "registry" not in _images(mocks)["nocred-nginx"]

    return pulumi.Output.all(**build.references).apply(check)


@pulumi.runtime.test
def test_service_images_are_the_pushed_digests(mocks: Mocks) -> Any:
    build = ServiceImageBuild("svc", ServiceImageBuildArgs(registry_url=REGISTRY, images=["besu", "healthcheck"]))

    def check(images: ServiceImages) -> None:
        assert images.besu.startswith(f"{REGISTRY}/besu@sha256:")
        assert images.healthcheck.startswith(f"{REGISTRY}/healthcheck@sha256:")
        # Images not built here keep the official defaults.
        assert images.tessera == ServiceImages(besu="x").tessera
        assert images.nginx == ServiceImages(besu="x").nginx

    return build.service_images().apply(check)


def test_unknown_images_are_refused(mocks: Mocks) -> None:
    with pytest.raises(ValueError, match="unknown images keyagnt; known: besu, tessera"):
        ServiceImageBuild("bad", ServiceImageBuildArgs(registry_url=REGISTRY, images=["keyagnt"]))


def test_unsupported_besu_releases_are_refused(mocks: Mocks) -> None:
    with pytest.raises(KeyError, match=re.escape("unknown Besu version '23.1.0'")):
        ServiceImageBuild("old", ServiceImageBuildArgs(registry_url=REGISTRY, besu_version="23.1.0"))
