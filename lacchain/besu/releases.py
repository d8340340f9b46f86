"""The Besu releases lacchain-cloud targets, and what each one can run.

What a release supports is derived from its list of long options (taken from Besu's source, shipped under
``lacchain.data.besu_options/``), not from a table we maintain by hand: privacy exists in a release exactly
when ``--privacy-enabled`` is one of its options, onchain permissioning exactly when
``--permissions-nodes-contract-enabled`` is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

DEFAULT_BESU_VERSION = "24.12.2"
"""LACChain nodes default to the last release line that still has privacy and onchain permissioning."""


@dataclass(frozen=True)
class BesuRelease:
    """One Besu release and the set of its long options (config.toml keys are these without ``--``)."""

    version: str
    options: frozenset[str]

    @property
    def supports_privacy(self) -> bool:
        """Orion/Tessera private transactions (``privacy-*`` options); removed after the 24.12 line."""
        return "--privacy-enabled" in self.options

    @property
    def supports_onchain_permissioning(self) -> bool:
        """Onchain node/account permissioning contracts; removed after the 24.12 line."""
        return "--permissions-nodes-contract-enabled" in self.options

    def has_option(self, toml_key: str) -> bool:
        """Whether ``toml_key`` (an option name without ``--``) is an option of this release."""
        return f"--{toml_key}" in self.options

    @property
    def image(self) -> str:
        """The official upstream container image of this release."""
        return f"hyperledger/besu:{self.version}"


def supported_versions() -> tuple[str, ...]:
    """Every Besu version we have an option list for, oldest first."""
    names = [
        entry.name.removesuffix(".txt")
        for entry in resources.files("lacchain.data.besu_options").iterdir()
        if entry.name.endswith(".txt")
    ]
    return tuple(sorted(names, key=lambda v: tuple(int(p) for p in v.split("."))))


@cache
def besu_release(version: str) -> BesuRelease:
    """The release ``version``; raises ``KeyError`` naming the supported versions if we do not know it."""
    if version not in supported_versions():
        raise KeyError(f"unknown Besu version {version!r}; supported: {', '.join(supported_versions())}")
    text = resources.files("lacchain.data.besu_options").joinpath(f"{version}.txt").read_text()
    options = frozenset(line.strip() for line in text.splitlines() if line.strip().startswith("--"))
    return BesuRelease(version=version, options=options)
