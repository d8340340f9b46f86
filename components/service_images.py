"""``ServiceImageBuild``: builds the node's service images from ``images/`` and pushes them to the member's registry.

Members who cannot (or prefer not to) pull from Docker Hub at run time, or whose clusters only pull from their
own registry (ECR, Artifact Registry), build every image once per stack and pin nodes to what was pushed. The
outputs are *repository digests* (``<registry>/<image>@sha256:...``), not tags: a tag can be pushed over, a digest
names exactly the bytes that were built, so a node never runs an image nobody reviewed.

Image tags follow what they contain: Besu and the upstream-based images carry the upstream version read from
their Dockerfile (Besu: the ``BESU_VERSION`` build argument, which is the node's Besu release), our own services
carry ``SERVICE_VERSION``. Build contexts are paths relative to the Pulumi project directory (the program's
working directory), so the stack's state does not depend on where the repository is checked out. The Python
services build from the repository root because they ship ``lacchain/`` too; the root ``.dockerignore`` keeps
that context small.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_docker as docker

from components.backends.base import ServiceImages
from lacchain.besu.releases import DEFAULT_BESU_VERSION, besu_release

TYPE = "lacchain:index:ServiceImageBuild"
PLATFORM = "linux/amd64"
SERVICE_VERSION = "0.1.0"
"""Version tag of the images whose code lives in this repository (healthcheck, ethstats client)."""
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ImageSpec:
    """How one image of ``images/`` is built and where its reference goes in ``ServiceImages``."""

    directory: str
    """Folder under ``images/``; also the repository name in the registry."""
    service_field: str
    """The ``ServiceImages`` field the pushed reference replaces."""
    root_context: bool = False
    """Build from the repository root (the image copies repository code) instead of its own folder."""
    own_code: bool = False
    """Tagged ``SERVICE_VERSION`` (our code) rather than the upstream version of its base image."""


IMAGES: Mapping[str, ImageSpec] = {
    "besu": ImageSpec("besu", "besu"),
    "tessera": ImageSpec("tessera", "tessera"),
    "orion": ImageSpec("orion", "orion"),
    "nginx": ImageSpec("nginx", "nginx"),
    "ethstats-client": ImageSpec("ethstats-client", "ethstats", root_context=True, own_code=True),
    "healthcheck": ImageSpec("healthcheck", "healthcheck", root_context=True, own_code=True),
    "keyagent": ImageSpec("keyagent", "keyagent", root_context=True, own_code=True),
    "ddns-daemon": ImageSpec("ddns-daemon", "ddns", root_context=True, own_code=True),
}
"""Every image of ``images/`` and the ``ServiceImages`` field it fills."""


def image_tag(image: str, besu_version: str = DEFAULT_BESU_VERSION) -> str:
    """The tag ``image`` is pushed with: ``SERVICE_VERSION`` for our services, the upstream version otherwise."""
    spec = IMAGES[image]
    if spec.own_code:
        return SERVICE_VERSION
    build_args = {"BESU_VERSION": besu_version} if image == "besu" else {}
    return _upstream_tag(base_image(PROJECT_ROOT / "images" / spec.directory / "Dockerfile", build_args))


def registry_images(registry_url: str, besu_version: str) -> ServiceImages:
    """A node's images when they come from the member's registry, named exactly as ``ServiceImageBuild`` pushes
    them (so a node never references an image the build does not produce)."""
    base = registry_url.rstrip("/")
    return ServiceImages(
        **{
            spec.service_field: _image_name(spec.directory, image_tag(image, besu_version), base)
            for image, spec in IMAGES.items()
        }
    )


_ARG = re.compile(r"^ARG\s+(\w+)(?:=(\S+))?\s*$", re.IGNORECASE)
_FROM = re.compile(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)", re.IGNORECASE)


def base_image(dockerfile: Path, build_args: Mapping[str, str] | None = None) -> str:
    """The final stage's base image of ``dockerfile``, with ``${ARG}`` references resolved from the build
    arguments or the ``ARG`` defaults declared before ``FROM``."""
    values: dict[str, str] = {}
    image = ""
    for line in dockerfile.read_text().splitlines():
        line = line.strip()
        if arg := _ARG.match(line):
            name, default = arg.group(1), arg.group(2)
            values[name] = (build_args or {}).get(name, default or "")
        elif base := _FROM.match(line):
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), base.group(1))
    if not image:
        raise ValueError(f"{dockerfile} has no FROM instruction")
    return image


def _upstream_tag(image: str) -> str:
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        raise ValueError(f"base image {image!r} has no tag; pin an exact version")
    return tag.removesuffix("-alpine")


@dataclass(frozen=True)
class RegistryCredentials:
    """Login for the registry. The password is always handled as a Pulumi secret."""

    username: pulumi.Input[str]
    password: pulumi.Input[str]


@dataclass(frozen=True)
class ServiceImageBuildArgs:
    registry_url: pulumi.Input[str]
    """Registry host and repository prefix, e.g. ``123456789012.dkr.ecr.us-east-1.amazonaws.com/lacchain``."""
    besu_version: str = DEFAULT_BESU_VERSION
    """The Besu release of the nodes that will run these images (``NodeConfig.besu_version``)."""
    images: Sequence[str] = field(default_factory=lambda: tuple(IMAGES))
    credentials: RegistryCredentials | None = None
    """None uses the Docker client's own login (``docker login``, ECR credential helper)."""
    project_root: str = "."
    """The repository root relative to the Pulumi program's working directory."""


def _image_name(repository: str, tag: str, registry_url: str) -> str:
    return f"{registry_url}/{repository}:{tag}"


def _registry_host(registry_url: str) -> str:
    host = registry_url.split("://", 1)[-1].split("/", 1)[0]
    if not host:
        raise ValueError(f"registry URL {registry_url!r} has no host")
    return host


class ServiceImageBuild(pulumi.ComponentResource):
    """Builds and pushes the selected images. Outputs: ``references`` (image -> repo digest)."""

    references: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ServiceImageBuildArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        unknown = sorted(set(args.images) - set(IMAGES))
        if unknown:
            raise ValueError(f"unknown images {', '.join(unknown)}; known: {', '.join(IMAGES)}")
        besu_release(args.besu_version)  # KeyError naming the supported versions
        self._besu_version = args.besu_version

        registry_url = pulumi.Output.from_input(args.registry_url).apply(lambda url: url.rstrip("/"))
        registry: docker.RegistryArgs | None = None
        if args.credentials is not None:
            registry = docker.RegistryArgs(
                server=registry_url.apply(_registry_host),
                username=args.credentials.username,
                password=pulumi.Output.secret(args.credentials.password),
            )

        self.references = {}
        child = pulumi.ResourceOptions(parent=self)
        for image in dict.fromkeys(args.images):  # each once, in the order given
            spec = IMAGES[image]
            build_args = {"BESU_VERSION": args.besu_version} if image == "besu" else {}
            dockerfile = f"{args.project_root}/images/{spec.directory}/Dockerfile"
            tag = image_tag(image, args.besu_version)
            built = docker.Image(
                f"{name}-{image}",
                image_name=registry_url.apply(functools.partial(_image_name, spec.directory, tag)),
                build=docker.DockerBuildArgs(
                    context=args.project_root if spec.root_context else f"{args.project_root}/images/{spec.directory}",
                    dockerfile=dockerfile,
                    args=build_args,
                    platform=PLATFORM,
                ),
                registry=registry,
                skip_push=False,
                opts=child,
            )
            self.references[image] = built.repo_digest

        self.register_outputs({"references": self.references})

    def service_images(self, defaults: ServiceImages | None = None) -> pulumi.Output[ServiceImages]:
        """``defaults`` (official images for this Besu release) with every built image replaced by its digest."""
        base = defaults or ServiceImages(besu=besu_release(self._besu_version).image)
        fields = {IMAGES[image].service_field: reference for image, reference in self.references.items()}
        if not fields:
            return pulumi.Output.from_input(base)

        def merge(resolved: dict[str, Any]) -> ServiceImages:
            return dataclasses.replace(base, **resolved)

        return pulumi.Output.all(**fields).apply(merge)
