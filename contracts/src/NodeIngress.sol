// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {IAdmin, INodePermissioningV2} from "./NodePermissioning.sol";

/// @title Node permissioning ingress (placed at 0x0000000000000000000000000000000000009999 on LACChain).
/// @notice Besu calls `connectionAllowed` here (`--permissions-nodes-contract-address`,
/// `--permissions-nodes-contract-version=2`); the ingress forwards the call to the rules contract registered
/// under "rules". The address of the ingress never changes, so rules and admin contracts can be replaced by
/// re-registering them. Registry layout and names follow the upstream Ingress/NodeIngress contracts
/// (github.com/ConsenSys/permissioning-smart-contracts, contracts/Ingress.sol and contracts/NodeIngress.sol);
/// see NodePermissioning.sol for the exact interface Besu uses.
/// @dev Unlike upstream, an ingress without an admin contract authorizes nobody (upstream authorizes everybody
/// until an admin contract is registered), and the admin contract cannot be unregistered. No immutables: the
/// genesis builder writes the storage from the compiler's storage layout.
contract NodeIngress is INodePermissioningV2 {
    bytes32 public constant RULES_CONTRACT = "rules"; // 0x72756c6573...
    bytes32 public constant ADMIN_CONTRACT = "administration"; // 0x61646d696e697374726174696f6e...
    /// Version in the upstream encoding: semver 2.0.0 as 002000000.
    uint256 private constant VERSION = 2000000;

    mapping(bytes32 => address) private registry;
    bytes32[] private contractKeys;

    event RegistryUpdated(address contractAddress, bytes32 contractName);
    /// Emitted when the node allowlist may have changed; `addsRestrictions` is true when a connection that was
    /// allowed may now be refused (upstream NodeIngress event).
    event NodePermissionsUpdated(bool addsRestrictions);

    modifier onlyAuthorized() {
        require(isAuthorized(msg.sender), "NodeIngress: sender is not an admin");
        _;
    }

    constructor(address adminContract) {
        _register(ADMIN_CONTRACT, adminContract);
    }

    function getContractVersion() external pure returns (uint256) {
        return VERSION;
    }

    function getContractAddress(bytes32 name) public view returns (address) {
        require(name != bytes32(0), "NodeIngress: contract name must not be empty");
        return registry[name];
    }

    function getAllContractKeys() external view returns (bytes32[] memory) {
        return contractKeys;
    }

    function isAuthorized(address account) public view returns (bool) {
        address admin = registry[ADMIN_CONTRACT];
        return admin != address(0) && IAdmin(admin).isAuthorized(account);
    }

    /// @notice Registers or replaces a contract; registering "rules" switches the node allowlist at once.
    function setContractAddress(bytes32 name, address addr) external onlyAuthorized returns (bool) {
        _register(name, addr);
        if (name == RULES_CONTRACT) {
            emit NodePermissionsUpdated(true);
        }
        return true;
    }

    function removeContract(bytes32 name) external onlyAuthorized returns (bool) {
        require(name != ADMIN_CONTRACT, "NodeIngress: the admin contract cannot be removed, only replaced");
        require(registry[name] != address(0), "NodeIngress: contract is not registered");
        delete registry[name];
        uint256 last = contractKeys.length - 1;
        for (uint256 i = 0; i <= last; i++) {
            if (contractKeys[i] == name) {
                contractKeys[i] = contractKeys[last];
                contractKeys.pop();
                break;
            }
        }
        emit RegistryUpdated(address(0), name);
        if (name == RULES_CONTRACT) {
            emit NodePermissionsUpdated(true);
        }
        return true;
    }

    /// @notice Called by the registered rules contract after every change of the allowlist.
    function emitRulesChangeEvent(bool addsRestrictions) external {
        require(msg.sender == registry[RULES_CONTRACT], "NodeIngress: only the rules contract can emit rules changes");
        emit NodePermissionsUpdated(addsRestrictions);
    }

    /// @notice Besu's node permissioning interface v2; false while no rules contract is registered.
    function connectionAllowed(string calldata enodeId, string calldata enodeHost, uint16 enodePort)
        external
        view
        returns (bool)
    {
        address rules = registry[RULES_CONTRACT];
        if (rules == address(0)) {
            return false;
        }
        return INodePermissioningV2(rules).connectionAllowed(enodeId, enodeHost, enodePort);
    }

    function _register(bytes32 name, address addr) private {
        require(name != bytes32(0), "NodeIngress: contract name must not be empty");
        require(addr.code.length != 0, "NodeIngress: contract address has no code");
        if (registry[name] == address(0)) {
            contractKeys.push(name);
        }
        registry[name] = addr;
        emit RegistryUpdated(addr, name);
    }
}
