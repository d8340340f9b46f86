// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Admin list of the LACChain node permissioning contracts.
/// @notice Accounts in this list may change the contract registry of the NodeIngress and the enode list of the
/// NodeRules contract. It plays the part of the "administration" contract of the upstream design
/// (github.com/ConsenSys/permissioning-smart-contracts, contracts/Admin.sol): the ingress and the rules contract
/// ask it `isAuthorized(account)`.
/// @dev No immutables and no constructor-only state: the genesis builder (contracts/genesis_alloc.py) writes this
/// contract's storage directly from the compiler's storage layout, so every state variable lives in storage.
contract Admin {
    /// Admin accounts, in the order they were added (swap-and-pop on removal).
    address[] private admins;
    /// Position of an account in `admins` plus one; 0 means "not an admin".
    mapping(address => uint256) private indexOf;

    event AdminAdded(address indexed account, address indexed addedBy);
    event AdminRemoved(address indexed account, address indexed removedBy);

    modifier onlyAdmin() {
        require(indexOf[msg.sender] != 0, "Admin: sender is not an admin");
        _;
    }

    constructor(address initialAdmin) {
        _add(initialAdmin);
        emit AdminAdded(initialAdmin, msg.sender);
    }

    function isAuthorized(address account) external view returns (bool) {
        return indexOf[account] != 0;
    }

    function getAdmins() external view returns (address[] memory) {
        return admins;
    }

    function addAdmin(address account) external onlyAdmin {
        _add(account);
        emit AdminAdded(account, msg.sender);
    }

    /// @notice Removes an admin; the last admin cannot be removed, so the list can never lock itself out.
    function removeAdmin(address account) external onlyAdmin {
        uint256 position = indexOf[account];
        require(position != 0, "Admin: account is not an admin");
        require(admins.length > 1, "Admin: cannot remove the last admin");
        address last = admins[admins.length - 1];
        admins[position - 1] = last;
        indexOf[last] = position;
        admins.pop();
        delete indexOf[account];
        emit AdminRemoved(account, msg.sender);
    }

    function _add(address account) private {
        require(account != address(0), "Admin: account must not be the zero address");
        require(indexOf[account] == 0, "Admin: account is already an admin");
        admins.push(account);
        indexOf[account] = admins.length;
    }
}
