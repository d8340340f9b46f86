// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Minimal stand-in for the upstream interface-v1 NodeRules, used only to test the migration to v2.
/// @notice ABI-compatible with the enode functions of NodeRules v1.x in github.com/ConsenSys/permissioning-
/// smart-contracts (contracts/NodeRules.sol, pragma 0.5.9): an enode is (bytes32 enodeHigh, bytes32 enodeLow,
/// bytes16 ip, uint16 port), IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d) as Besu sends them, and the
/// list is read with getSize() / getByIndex(uint). The upstream admin and ingress wiring is replaced by a single
/// owner: this contract is never deployed to a network.
contract NodeRulesV1 {
    struct enode {
        bytes32 enodeHigh;
        bytes32 enodeLow;
        bytes16 ip;
        uint16 port;
    }

    address private owner;
    enode[] private allowlist;
    mapping(uint256 => uint256) private indexOf; // 1-based, 0 = not listed

    event NodeAdded(bool nodeAdded, bytes32 enodeHigh, bytes32 enodeLow, bytes16 enodeIp, uint16 enodePort);
    event NodeRemoved(bool nodeRemoved, bytes32 enodeHigh, bytes32 enodeLow, bytes16 enodeIp, uint16 enodePort);

    modifier onlyAdmin() {
        require(msg.sender == owner, "Sender not authorized");
        _;
    }

    constructor() {
        owner = msg.sender;
    }

    function getContractVersion() external pure returns (uint256) {
        return 1000000;
    }

    function connectionAllowed(
        bytes32 sourceEnodeHigh,
        bytes32 sourceEnodeLow,
        bytes16 sourceEnodeIp,
        uint16 sourceEnodePort,
        bytes32 destinationEnodeHigh,
        bytes32 destinationEnodeLow,
        bytes16 destinationEnodeIp,
        uint16 destinationEnodePort
    ) external view returns (bytes32) {
        bool allowed = enodePermitted(sourceEnodeHigh, sourceEnodeLow, sourceEnodeIp, sourceEnodePort)
            && enodePermitted(destinationEnodeHigh, destinationEnodeLow, destinationEnodeIp, destinationEnodePort);
        // Interface v1 answers: all ones for true, 0x7f followed by ones for false.
        return allowed ? bytes32(type(uint256).max) : bytes32(type(uint256).max >> 1);
    }

    function enodePermitted(bytes32 enodeHigh, bytes32 enodeLow, bytes16 ip, uint16 port) public view returns (bool) {
        return indexOf[_key(enodeHigh, enodeLow, ip, port)] != 0;
    }

    function addEnode(bytes32 enodeHigh, bytes32 enodeLow, bytes16 ip, uint16 port) external onlyAdmin returns (bool) {
        uint256 key = _key(enodeHigh, enodeLow, ip, port);
        bool added = indexOf[key] == 0;
        if (added) {
            allowlist.push(enode(enodeHigh, enodeLow, ip, port));
            indexOf[key] = allowlist.length;
        }
        emit NodeAdded(added, enodeHigh, enodeLow, ip, port);
        return added;
    }

    function removeEnode(bytes32 enodeHigh, bytes32 enodeLow, bytes16 ip, uint16 port)
        external
        onlyAdmin
        returns (bool)
    {
        uint256 key = _key(enodeHigh, enodeLow, ip, port);
        uint256 index = indexOf[key];
        bool removed = index != 0;
        if (removed) {
            enode memory last = allowlist[allowlist.length - 1];
            allowlist[index - 1] = last;
            indexOf[_key(last.enodeHigh, last.enodeLow, last.ip, last.port)] = index;
            allowlist.pop();
            delete indexOf[key];
        }
        emit NodeRemoved(removed, enodeHigh, enodeLow, ip, port);
        return removed;
    }

    function getSize() external view returns (uint256) {
        return allowlist.length;
    }

    function getByIndex(uint256 index)
        external
        view
        returns (bytes32 enodeHigh, bytes32 enodeLow, bytes16 ip, uint16 port)
    {
        if (index < allowlist.length) {
            enode storage item = allowlist[index];
            return (item.enodeHigh, item.enodeLow, item.ip, item.port);
        }
    }

    function _key(bytes32 enodeHigh, bytes32 enodeLow, bytes16 ip, uint16 port) private pure returns (uint256) {
        return uint256(keccak256(abi.encodePacked(enodeHigh, enodeLow, ip, port)));
    }
}
