"""The KMS signer against moto's KMS (real ECC_SECG_P256K1 keys) and an anvil chain that checks the result.

``kms_endpoint`` is moto with AWS's documented ``MessageType=DIGEST`` behaviour (see ``moto_digest_server``);
``test_plain_moto_still_rehashes_digests`` notices when plain moto catches up, so the wrapper can go.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from coincurve import PublicKey
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_hash.auto import keccak
from web3 import Web3

from lacchain.keys import address_of_node_id
from services.kms_signer import KmsSigner, KmsSignerError
from services.kms_signer.ecdsa import HALF_ORDER

pytestmark = pytest.mark.slow


@pytest.fixture()
def kms(aws_env: str, kms_endpoint: str) -> Any:
    return boto3.client("kms", endpoint_url=kms_endpoint, region_name="us-east-1")


@pytest.fixture()
def signing_key(kms: Any) -> Iterator[str]:
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_SECG_P256K1")["KeyMetadata"]["KeyId"]
    yield key_id
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)


def test_signatures_recover_to_the_address_of_the_kms_public_key(kms: Any, signing_key: str) -> None:
    signer = KmsSigner(kms, signing_key)
    for n in range(8):  # KMS returns high s about half the time; every one must come out canonical
        digest = keccak(f"message {n}".encode())
        v, r, s = signer.sign_digest(digest)
        assert s <= HALF_ORDER
        recovered = PublicKey.from_signature_and_message(
            r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v]), digest, hasher=None
        )
        assert address_of_node_id(recovered.format(compressed=False)[1:].hex()) == signer.address


def test_transactions_signed_with_kms_are_mined_by_anvil(kms: Any, signing_key: str, anvil_url: str) -> None:
    w3 = Web3(Web3.HTTPProvider(anvil_url))
    signer = KmsSigner(kms, signing_key)
    funder = w3.eth.accounts[0]
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": funder, "to": signer.address, "value": Web3.to_wei(1, "ether")})
    )
    recipient = Account.create().address
    chain_id = w3.eth.chain_id
    assert chain_id == 648539

    typed = {
        "type": 2,
        "to": recipient,
        "value": 1000,
        "nonce": w3.eth.get_transaction_count(signer.address),
        "gas": 21000,
        "maxFeePerGas": w3.eth.gas_price * 2,
        "maxPriorityFeePerGas": 1,
        "chainId": chain_id,
    }
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signer.sign_transaction(typed)))
    assert receipt["status"] == 1 and receipt["from"] == signer.address

    legacy = {
        "to": recipient,
        "value": 234,
        "nonce": w3.eth.get_transaction_count(signer.address),
        "gas": 21000,
        "gasPrice": w3.eth.gas_price * 2,
        "chainId": chain_id,
    }
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signer.sign_transaction(legacy)))
    assert receipt["status"] == 1 and receipt["from"] == signer.address
    assert w3.eth.get_balance(recipient) == 1234


def test_refuses_a_transaction_from_another_account(kms: Any, signing_key: str) -> None:
    signer = KmsSigner(kms, signing_key)
    tx = {
        "from": Account.create().address,
        "to": signer.address,
        "value": 1,
        "nonce": 0,
        "gas": 21000,
        "gasPrice": 1,
        "chainId": 1,
    }
    with pytest.raises(KmsSignerError, match="'from'"):
        signer.sign_transaction(tx)


def test_refuses_a_key_that_is_not_secp256k1(kms: Any) -> None:
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    with pytest.raises(KmsSignerError, match="ECC_SECG_P256K1"):
        KmsSigner(kms, key_id)


def test_access_denied_names_the_missing_permission() -> None:
    kms = boto3.client("kms", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(kms) as stub:
        stub.add_client_error("get_public_key", "AccessDeniedException", "not authorized", 400)
        with pytest.raises(KmsSignerError, match="kms:GetPublicKey on alias/writer"):
            KmsSigner(kms, "alias/writer")


def test_plain_moto_still_rehashes_digests(aws_env: str) -> None:
    """If this fails, moto honours DIGEST itself: drop ``moto_digest_server`` and use ``moto_endpoint``."""
    plain = boto3.client("kms", endpoint_url=aws_env, region_name="us-east-1")
    key_id = plain.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_SECG_P256K1")["KeyMetadata"]["KeyId"]
    digest = keccak(b"canary")
    der = plain.sign(KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    public = serialization.load_der_public_key(plain.get_public_key(KeyId=key_id)["PublicKey"])
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(der["Signature"], digest, ec.ECDSA(hashes.SHA256()))  # i.e. it signed SHA-256(digest)
