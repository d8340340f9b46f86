"""Errors the key agent reports, each with the fix and a distinct exit code.

The agent runs unattended (init container, systemd oneshot), so its only voice is one log line and an exit code.
Every message says what to change and where; none ever contains key material: messages are built from secret
*names*, never from secret *values*.
"""

from __future__ import annotations

from lacchain.errors import LacchainError


class KeyAgentError(LacchainError):
    """Base class; ``exit_code`` lets systemd and Kubernetes tell the failure kinds apart."""

    exit_code = 1


class ConfigError(KeyAgentError, ValueError):
    """The agent's own configuration (flags/environment) cannot work."""

    exit_code = 2


class UnsafeOutputDir(KeyAgentError):
    """The output directory is on a persistent file system, where a private key must not land."""

    exit_code = 3


class AccessDenied(KeyAgentError):
    """The platform identity lacks a permission on the node's secret."""

    exit_code = 4


class KeyMissing(KeyAgentError):
    """No key is stored for the node and the agent may not create one."""

    exit_code = 5


class CorruptKeyValue(KeyAgentError):
    """The stored value is not a key document this agent can use (never echoes the value)."""

    exit_code = 6


class StoreUnavailable(KeyAgentError):
    """The key store kept failing (throttling, 5xx, network) after every retry."""

    exit_code = 7


class StoreConflict(KeyAgentError):
    """Someone else changed the stored value between our read and our write (rotation only)."""

    exit_code = 8
