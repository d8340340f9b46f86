// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Interfaces shared by the node permissioning contracts.
/// @dev Besu's onchain node permissioning interface v2 (`--permissions-nodes-contract-version=2`) is one view call
/// made with eth_call semantics against the contract at `--permissions-nodes-contract-address`:
///
///     connectionAllowed(string enodeId, string enodeHost, uint16 enodePort) returns (bool)
///
/// Sources:
/// - hyperledger/besu, ethereum/permissioning/src/main/java/org/hyperledger/besu/ethereum/permissioning/
///   NodeSmartContractV2PermissioningController.java: builds `connectionAllowed` with the argument types
///   ["string", "string", "uint16"] from (node id as unprefixed lower-case hex, `enodeUrl.toURI().getHost()`,
///   listening port or 0) and accepts only an ABI-encoded `bool` as the answer (anything else, or a revert,
///   is an error). Besu calls it once for the source and once for the destination enode of every connection;
///   when the IP form is refused it retries with the host name found by a reverse lookup of the IP.
/// - ConsenSys/permissioning-smart-contracts v2.x, contracts/NodeIngress.sol: the ingress exposes
///   `connectionAllowed(string calldata enodeId, string calldata enodeHost, uint16 enodePort) external view
///   returns (bool)` and forwards it to the contract registered under the name "rules"; it emits
///   `NodePermissionsUpdated(bool addsRestrictions)` when the rules change.
/// Note: Java's URI.getHost() returns an IPv6 literal with its brackets ("[2001:db8::1]"), so rules contracts
/// must accept both the bracketed and the bare IPv6 form.
interface INodePermissioningV2 {
    function connectionAllowed(string calldata enodeId, string calldata enodeHost, uint16 enodePort)
        external
        view
        returns (bool);
}

/// The admin list as the ingress and the rules contract see it.
interface IAdmin {
    function isAuthorized(address account) external view returns (bool);
}

/// What the rules contract needs from the ingress.
interface INodeIngress {
    function isAuthorized(address account) external view returns (bool);
    function getContractAddress(bytes32 name) external view returns (address);
    function emitRulesChangeEvent(bool addsRestrictions) external;
}
