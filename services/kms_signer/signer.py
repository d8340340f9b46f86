"""Sign Ethereum transactions with a key that never leaves AWS KMS.

``KmsSigner(kms_client, key_id)`` reads the key's public key once (its Ethereum ``address``), then signs each
transaction's keccak digest with ``Sign(MessageType=DIGEST, SigningAlgorithm=ECDSA_SHA_256)``: with DIGEST, KMS
signs the 32 bytes as given, so "SHA-256" only names the curve/algorithm family and the digest stays keccak.
The RLP encoding and ``v`` rules (EIP-155 for legacy, raw parity for EIP-2718 typed transactions such as EIP-1559)
are eth-account's: the signer plugs into eth-account's transaction signing as its key object, so only the digest
signature differs from a local key. Every signed transaction is recovered once more before it is returned.

With web3.py::

    signer = KmsSigner(boto3.client("kms"), "alias/lacchain-writer")
    tx = {"to": ..., "value": ..., "nonce": w3.eth.get_transaction_count(signer.address), "gas": 21000,
          "maxFeePerGas": ..., "maxPriorityFeePerGas": ..., "chainId": w3.eth.chain_id}
    w3.eth.send_raw_transaction(signer.sign_transaction(tx))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from botocore.exceptions import ClientError
from eth_account import Account
from eth_account._utils.signing import sign_transaction_dict
from eth_keys.datatypes import Signature
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from lacchain.keys import address_of_node_id
from services.kms_signer.ecdsa import KmsSignerError, ethereum_signature, public_key_from_spki

KEY_SPEC = "ECC_SECG_P256K1"


class KmsSigner:
    """An Ethereum account whose private key is an AWS KMS ``ECC_SECG_P256K1`` key."""

    def __init__(self, kms_client: Any, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id
        response = self._call("GetPublicKey", lambda: self._kms.get_public_key(KeyId=key_id))
        spec = response.get("KeySpec") or response.get("CustomerMasterKeySpec")
        if spec != KEY_SPEC or response.get("KeyUsage") != "SIGN_VERIFY":
            raise KmsSignerError(
                f"KMS key {key_id} is {spec}/{response.get('KeyUsage')}; Ethereum signing needs KeySpec={KEY_SPEC} "
                "and KeyUsage=SIGN_VERIFY"
            )
        self.public_key = public_key_from_spki(response["PublicKey"])
        self.address: ChecksumAddress = to_checksum_address(address_of_node_id(self.public_key.hex()))

    def __repr__(self) -> str:
        return f"KmsSigner(key_id={self._key_id!r}, address={self.address})"

    def sign_digest(self, digest: bytes) -> tuple[int, int, int]:
        """(v, r, s), v in {0, 1}, low s: an Ethereum signature of a 32-byte digest."""
        response = self._call(
            "Sign",
            lambda: self._kms.sign(
                KeyId=self._key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
            ),
        )
        return ethereum_signature(digest, response["Signature"], self.public_key)

    def sign_msg_hash(self, message_hash: bytes) -> Signature:
        """eth-account's key interface (what ``eth_keys.PrivateKey`` offers), backed by KMS."""
        return Signature(vrs=self.sign_digest(message_hash))

    def sign_transaction(self, transaction: Mapping[str, Any]) -> bytes:
        """The raw signed transaction (legacy or typed) for ``eth_sendRawTransaction``."""
        fields = dict(transaction)
        sender = fields.pop("from", None)
        if sender is not None and str(sender).lower() != self.address.lower():
            raise KmsSignerError(f"transaction 'from' is {sender}, but this KMS key is {self.address}")
        _, _, _, raw = sign_transaction_dict(cast(Any, self), cast(Any, fields))
        raw_bytes = bytes(raw)
        if Account.recover_transaction(raw_bytes) != self.address:
            raise KmsSignerError("the signed transaction does not recover to the KMS key's address")
        return raw_bytes

    def _call(self, action: str, operation: Any) -> Any:
        try:
            return operation()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("AccessDeniedException", "AccessDenied"):
                raise KmsSignerError(
                    f"access denied: the caller needs kms:{action} on {self._key_id} (the signer uses kms:GetPublicKey and kms:Sign)"
                ) from None
            if code in ("DisabledException", "KMSInvalidStateException"):
                raise KmsSignerError(f"KMS key {self._key_id} is disabled or pending deletion; enable it") from None
            if code == "NotFoundException":
                raise KmsSignerError(f"KMS key {self._key_id} does not exist in this account/region") from None
            raise
