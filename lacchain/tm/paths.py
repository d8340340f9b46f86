"""Where a writer's transaction manager finds its configuration: the one place the paths are spelled.

The Pulumi program renders the configuration before any key exists (``lacchain.tm.config``), so it can only name
one key pair. The key agent (``services/keyagent``) reads that rendered *template* and writes a *runtime* copy
into the memory-backed secrets directory whose key lists name every key version (current and every rotated-out
one). The transaction manager must start from the runtime copy, or a rotation never reaches it.

Every party reads these constants: the member plan (where the template is written), the Kubernetes manifests and
the VM units (the key agent's ``--tessera-config``/``--orion-config`` and the transaction manager's arguments),
the images' default commands, and the agent itself (the names of the files it writes). A test holds them together.

Standard library only: the key agent image imports this module and installs nothing for the Pulumi side.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Final

from lacchain import layout
from lacchain.roles import TransactionManager

TESSERA_TEMPLATE: Final = "tm/tessera.json"
"""The rendered Tessera configuration, relative to ``layout.CONFIG_DIR`` (a file of the node's plan)."""
ORION_TEMPLATE: Final = "tm/orion.conf"
"""The rendered Orion configuration, relative to ``layout.CONFIG_DIR``."""
TESSERA_TEMPLATE_FILE: Final = f"{layout.CONFIG_DIR}/{TESSERA_TEMPLATE}"
ORION_TEMPLATE_FILE: Final = f"{layout.CONFIG_DIR}/{ORION_TEMPLATE}"
TESSERA_RUNTIME_FILE: Final = f"{layout.SECRETS_DIR}/tessera-config.json"
"""What Tessera starts from: the template with ``keys`` listing every key version, written by the key agent."""
ORION_RUNTIME_FILE: Final = f"{layout.SECRETS_DIR}/orion.conf"
"""What Orion starts from: the template with ``publickeys``/``privatekeys`` listing every version."""
TESSERA_RUNTIME_NAME: Final = PurePosixPath(TESSERA_RUNTIME_FILE).name
ORION_RUNTIME_NAME: Final = PurePosixPath(ORION_RUNTIME_FILE).name

KEYAGENT_SETTINGS: Final = "keyagent.env"
"""The key agent's settings (OrionKeyVault ``agent_env``: ``LACCHAIN_KEYAGENT_*=value`` lines), relative to
``layout.CONFIG_DIR``: a key of a pod's config ConfigMap, a boot file on a VM. References only, never a key."""
KEYAGENT_SETTINGS_FILE: Final = f"{layout.CONFIG_DIR}/{KEYAGENT_SETTINGS}"

KUBERNETES_SECRET_MOUNT: Final = "/var/run/lacchain/tm-keys-secret"
"""Where a Kubernetes node's key agent finds its TM key Secret mounted (``optional: true``: absent on first boot,
when the agent creates it through the API). Only nodes whose keys are kept in Kubernetes Secrets mount it."""


def transaction_manager_args(tm: TransactionManager) -> list[str]:
    """The transaction manager container's arguments: its runtime configuration (images' entrypoints are kept)."""
    if tm is TransactionManager.TESSERA:
        return ["-configfile", TESSERA_RUNTIME_FILE]
    if tm is TransactionManager.ORION:
        return [ORION_RUNTIME_FILE]
    raise ValueError("a node without a transaction manager runs none")


def keyagent_args(tm: TransactionManager) -> list[str]:
    """The key agent's arguments on every platform: its settings file, and the rendered template from which it
    writes the runtime configuration the transaction manager starts from."""
    if tm is TransactionManager.TESSERA:
        template = ["--tessera-config", TESSERA_TEMPLATE_FILE]
    elif tm is TransactionManager.ORION:
        template = ["--orion-config", ORION_TEMPLATE_FILE]
    else:
        raise ValueError("a node without a transaction manager has no key agent")
    return ["--env-file", KEYAGENT_SETTINGS_FILE, *template]
