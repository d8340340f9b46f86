"""moto_server whose KMS ``Sign`` honours ``MessageType=DIGEST`` the way AWS documents it.

moto 5.2.5 ignores ``MessageType`` and always hashes the message with the algorithm's hash first, so a signature
requested over a 32-byte keccak digest comes back over SHA-256(digest): correct code would fail and wrong code
(hashing twice) would pass. AWS's Sign reference says that with DIGEST "KMS skips the hashing step and signs the
supplied message digest". This wrapper makes the stand-in do exactly that and changes nothing else; it is test
code that corrects the stand-in, not the project's code.

Run as ``python moto_digest_server.py -H 127.0.0.1 -p PORT`` (same arguments as ``moto_server``).
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from moto.kms import utils as kms_utils
from moto.kms.responses import KmsResponse
from moto.server import main

_DIGEST = contextvars.ContextVar("digest", default=False)
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "ECDSA_SHA_256": hashes.SHA256,
    "ECDSA_SHA_384": hashes.SHA384,
    "ECDSA_SHA_512": hashes.SHA512,
}

_original_response_sign = KmsResponse.sign
_original_key_sign = kms_utils.ECDSAPrivateKey.sign


def _response_sign(self: KmsResponse) -> str:
    token = _DIGEST.set(self._get_param("MessageType") == "DIGEST")
    try:
        return _original_response_sign(self)
    finally:
        _DIGEST.reset(token)


def _key_sign(self: Any, message: bytes, signing_algorithm: str) -> bytes:
    if not _DIGEST.get():
        return _original_key_sign(self, message, signing_algorithm)
    kms_utils.validate_signing_algorithm(signing_algorithm, self.valid_signing_algorithms)
    algorithm = _HASHES[signing_algorithm]()
    if len(message) != algorithm.digest_size:
        raise ValueError(f"a DIGEST message for {signing_algorithm} is {algorithm.digest_size} bytes")
    return bytes(self.private_key.sign(message, ec.ECDSA(Prehashed(algorithm))))


KmsResponse.sign = _response_sign  # type: ignore[method-assign]
kms_utils.ECDSAPrivateKey.sign = _key_sign  # type: ignore[method-assign]

if __name__ == "__main__":
    main(sys.argv[1:])
