"""lacchain: the pure domain library of lacchain-cloud.

Keys and enodes, genesis, Besu and transaction-manager configuration, permissioning encodings, ENR trees and the
member stack schema. No Pulumi and no cloud SDK is imported here, so the Pulumi components, the services that run
on nodes and in clouds, and the BaaS controller all share one tested implementation.
"""
