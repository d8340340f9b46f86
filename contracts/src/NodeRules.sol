// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {INodeIngress, INodePermissioningV2} from "./NodePermissioning.sol";

/// @title Node allowlist whose enodes carry a host name: an IP address or a DNS name.
/// @notice Besu's onchain interface v1 encodes an enode as (bytes32 enodeHigh, bytes32 enodeLow, bytes16 ip,
/// uint16 port), which cannot hold a DNS name. Here an enode is {string enodeId, string host, uint16 port} and
/// the contract answers Besu's interface v2 (`connectionAllowed(string,string,uint16) returns (bool)`, see
/// NodePermissioning.sol for the sources), called through the NodeIngress.
///
/// A node id may be listed at several addresses (for example a DNS name and the NAT egress IP its connections
/// come from); each (enodeId, host, port) is one entry. Changes are made by admins of the ingress's admin
/// contract; every change emits an event here and, when this contract is the one the ingress uses,
/// `NodePermissionsUpdated` on the ingress.
///
/// Normal form, applied on every write and every query: node id = 128 lower-case hex digits (no 0x); host =
/// lower-case, without the brackets of an IPv6 literal ("[2001:db8::1]" and "2001:DB8::1" are the same host).
/// @dev No immutables: the genesis builder writes the storage from the compiler's storage layout.
contract NodeRules is INodePermissioningV2 {
    struct Enode {
        string enodeId;
        string host;
        uint16 port;
    }

    bytes32 private constant RULES_CONTRACT = "rules";
    /// Version in the upstream encoding: semver 2.0.0 as 002000000.
    uint256 private constant VERSION = 2000000;
    uint256 private constant NODE_ID_LENGTH = 128;
    uint256 private constant MAX_HOST_LENGTH = 253;
    /// Character sets as bitmaps: bit c is set when the byte c is allowed.
    uint256 private constant DIGITS = ((1 << 10) - 1) << 0x30; // 0-9
    uint256 private constant HEX_DIGITS = DIGITS | (((1 << 6) - 1) << 0x61); // 0-9 a-f
    uint256 private constant HOST_CHARACTERS =
        DIGITS | (((1 << 26) - 1) << 0x61) | (1 << 0x2e) | (1 << 0x2d) | (1 << 0x3a); // 0-9 a-z . - :

    /// The NodeIngress whose admin contract decides who may change this list.
    INodeIngress private ingress;
    Enode[] private enodes;
    /// keccak256(abi.encode(enodeId, host, port)) of a normalized entry => its position in `enodes` plus one.
    mapping(bytes32 => uint256) private indexOf;

    event EnodeAdded(bytes32 indexed enodeIdHash, string enodeId, string host, uint16 port);
    event EnodeUpdated(
        bytes32 indexed enodeIdHash, string enodeId, string oldHost, uint16 oldPort, string newHost, uint16 newPort
    );
    event EnodeRemoved(bytes32 indexed enodeIdHash, string enodeId, string host, uint16 port);

    modifier onlyAdmin() {
        require(ingress.isAuthorized(msg.sender), "NodeRules: sender is not an admin");
        _;
    }

    constructor(address nodeIngress) {
        require(nodeIngress.code.length != 0, "NodeRules: ingress address has no code");
        ingress = INodeIngress(nodeIngress);
    }

    function getContractVersion() external pure returns (uint256) {
        return VERSION;
    }

    function getIngress() external view returns (address) {
        return address(ingress);
    }

    // ---- Besu interface v2 --------------------------------------------------------------------------------

    /// @notice True when (enodeId, host, port) is listed. Never reverts: malformed input is simply not listed.
    function connectionAllowed(string calldata enodeId, string calldata enodeHost, uint16 enodePort)
        external
        view
        returns (bool)
    {
        (bool idOk, string memory id) = _normalizeId(enodeId);
        (bool hostOk, string memory host) = _normalizeHost(enodeHost);
        return idOk && hostOk && enodePort != 0 && indexOf[_key(id, host, enodePort)] != 0;
    }

    // ---- Changes (admins only) ----------------------------------------------------------------------------

    function addEnode(string calldata enodeId, string calldata host, uint16 port) external onlyAdmin {
        (string memory id, string memory normalHost) = _validated(enodeId, host, port);
        bytes32 key = _key(id, normalHost, port);
        require(indexOf[key] == 0, "NodeRules: enode is already listed");
        enodes.push(Enode(id, normalHost, port));
        indexOf[key] = enodes.length;
        emit EnodeAdded(keccak256(bytes(id)), id, normalHost, port);
        _notifyIngress(false);
    }

    /// @notice Moves a listed enode to another host and/or port, keeping its node id and list position.
    function updateEnode(
        string calldata enodeId,
        string calldata oldHost,
        uint16 oldPort,
        string calldata newHost,
        uint16 newPort
    ) external onlyAdmin {
        (string memory id, string memory fromHost) = _validated(enodeId, oldHost, oldPort);
        (, string memory toHost) = _validated(enodeId, newHost, newPort);
        bytes32 oldKey = _key(id, fromHost, oldPort);
        bytes32 newKey = _key(id, toHost, newPort);
        uint256 position = indexOf[oldKey];
        require(position != 0, "NodeRules: enode is not listed");
        require(indexOf[newKey] == 0, "NodeRules: new address is already listed");
        Enode storage entry = enodes[position - 1];
        entry.host = toHost;
        entry.port = newPort;
        delete indexOf[oldKey];
        indexOf[newKey] = position;
        emit EnodeUpdated(keccak256(bytes(id)), id, fromHost, oldPort, toHost, newPort);
        _notifyIngress(true);
    }

    function removeEnode(string calldata enodeId, string calldata host, uint16 port) external onlyAdmin {
        (string memory id, string memory normalHost) = _validated(enodeId, host, port);
        bytes32 key = _key(id, normalHost, port);
        uint256 position = indexOf[key];
        require(position != 0, "NodeRules: enode is not listed");
        uint256 lastPosition = enodes.length;
        if (position != lastPosition) {
            Enode storage last = enodes[lastPosition - 1];
            indexOf[_key(last.enodeId, last.host, last.port)] = position;
            enodes[position - 1] = last;
        }
        enodes.pop();
        delete indexOf[key];
        emit EnodeRemoved(keccak256(bytes(id)), id, normalHost, port);
        _notifyIngress(true);
    }

    // ---- Enumeration --------------------------------------------------------------------------------------

    function getSize() external view returns (uint256) {
        return enodes.length;
    }

    function getByIndex(uint256 index) external view returns (string memory enodeId, string memory host, uint16 port) {
        require(index < enodes.length, "NodeRules: index out of range");
        Enode storage entry = enodes[index];
        return (entry.enodeId, entry.host, entry.port);
    }

    /// @notice Up to `count` entries starting at `start` (fewer at the end of the list).
    function getEnodes(uint256 start, uint256 count) external view returns (Enode[] memory page) {
        uint256 size = enodes.length;
        uint256 end = start >= size ? start : (size - start < count ? size : start + count);
        page = new Enode[](end - start);
        for (uint256 i = start; i < end; i++) {
            page[i - start] = enodes[i];
        }
    }

    // ---- Internals ----------------------------------------------------------------------------------------

    function _key(string memory id, string memory host, uint16 port) private pure returns (bytes32) {
        return keccak256(abi.encode(id, host, port));
    }

    function _validated(string calldata enodeId, string calldata host, uint16 port)
        private
        pure
        returns (string memory id, string memory normalHost)
    {
        bool ok;
        (ok, id) = _normalizeId(enodeId);
        require(ok, "NodeRules: enodeId must be 128 hex digits (the public key without 0x04)");
        require(bytes(host).length != 0, "NodeRules: host must not be empty");
        (ok, normalHost) = _normalizeHost(host);
        require(ok, "NodeRules: host must be an IP address or DNS name of at most 253 characters [a-z0-9.:-]");
        require(port != 0, "NodeRules: port must not be 0");
    }

    /// 128 hex digits, returned in lower case.
    function _normalizeId(string calldata enodeId) private pure returns (bool ok, string memory id) {
        if (bytes(enodeId).length != NODE_ID_LENGTH) {
            return (false, "");
        }
        return _lowerCaseOf(bytes(enodeId), HEX_DIGITS);
    }

    /// Lower case, without the brackets of an IPv6 literal; 1-253 characters of [a-z0-9.:-].
    function _normalizeHost(string calldata host) private pure returns (bool ok, string memory normalHost) {
        bytes calldata raw = bytes(host);
        if (raw.length >= 2 && raw[0] == "[" && raw[raw.length - 1] == "]") {
            raw = raw[1:raw.length - 1];
        }
        if (raw.length == 0 || raw.length > MAX_HOST_LENGTH) {
            return (false, "");
        }
        return _lowerCaseOf(raw, HOST_CHARACTERS);
    }

    /// `text` in lower case (ASCII), if every character of it is in the set `allowed` afterwards.
    function _lowerCaseOf(bytes calldata text, uint256 allowed) private pure returns (bool ok, string memory lower) {
        bytes memory out = text;
        unchecked {
            for (uint256 i = 0; i < out.length; ++i) {
                uint256 c = uint8(out[i]);
                if (c >= 0x41 && c <= 0x5a) {
                    c += 0x20;
                    out[i] = bytes1(uint8(c));
                }
                if ((allowed >> c) & 1 == 0) {
                    return (false, "");
                }
            }
        }
        return (true, string(out));
    }

    function _notifyIngress(bool addsRestrictions) private {
        // A rules contract that is not (yet) the registered one can be filled, e.g. by a migration, before the
        // ingress is switched to it; only the live one reports changes.
        if (ingress.getContractAddress(RULES_CONTRACT) == address(this)) {
            ingress.emitRulesChangeEvent(addsRestrictions);
        }
    }
}
