"""AWS Secrets Manager store: one secret per node, encrypted with the member's customer-managed KMS key.

Credentials come only from boto3's default chain: on EC2 the instance profile, on EKS the IRSA web identity
token (``AWS_WEB_IDENTITY_TOKEN_FILE``/``AWS_ROLE_ARN``). There is deliberately no flag for access keys.

Create-if-absent, race-safe, whether or not Pulumi already created the (empty) secret:

- the first value is always written with the *same* ``ClientRequestToken`` (a UUID derived from the secret's
  name). Secrets Manager lets a version id be used for one value only: a second ``PutSecretValue`` with that
  token and *different* data fails with ``ResourceExistsException``, the same data succeeds idempotently. So
  when ten agents race, one value becomes the first version and the other nine learn they lost;
- if the secret itself does not exist, ``CreateSecret`` (with ``KmsKeyId``) is tried first under the same token;
  ``ResourceExistsException`` there means another agent created it, and the token rule above decides.

Rotation (``replace``) writes a new version with a random token; Secrets Manager then moves AWSCURRENT to it and
AWSPREVIOUS to the old one. It cannot compare-and-swap, so ``replace`` re-checks the current version id first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from services.keyagent.errors import AccessDenied, CorruptKeyValue, KeyAgentError, KeyMissing, StoreConflict
from services.keyagent.retry import Retryable, RetryPolicy, call_with_retry
from services.keyagent.stores import StoredValue

T = TypeVar("T")

THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServiceError",
        "InternalFailure",
        "ServiceUnavailable",
    }
)
ACCESS_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnrecognizedClientException"})
KMS_CODES = frozenset({"DecryptionFailure", "EncryptionFailure", "KMSAccessDeniedException"})
TRANSPORT_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)


def secrets_manager_client(region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A Secrets Manager client on the default credential chain. botocore's own retries are off: the agent's
    retry policy (``services.keyagent.retry``) is the single place that decides how long to keep trying."""
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=15)
    return boto3.session.Session().client(
        "secretsmanager", region_name=region, endpoint_url=endpoint_url, config=config
    )


def initial_version_token(secret_id: str) -> str:
    """The ClientRequestToken every agent uses for a secret's first value (see module docstring)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"lacchain-keyagent:initial:{secret_id}"))


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


class SecretsManagerStore:
    """The node's key document in one Secrets Manager secret (``secret_id``: name or ARN)."""

    def __init__(
        self,
        client: Any,
        secret_id: str,
        kms_key_id: str | None = None,
        retry: RetryPolicy | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self._client = client
        self._secret_id = secret_id
        self._kms_key_id = kms_key_id
        self._retry = retry or RetryPolicy()
        self._tags = tags or {}

    @property
    def reference(self) -> str:
        return self._secret_id

    @property
    def client(self) -> Any:
        return self._client

    # -- the KeyStore interface ---------------------------------------------------------------------------------

    def read(self) -> StoredValue | None:
        try:
            response = self.call("GetSecretValue", lambda: self._client.get_secret_value(SecretId=self._secret_id))
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None  # no secret, or a secret with no value yet: both mean "no key stored"
            raise self.translate(exc, "GetSecretValue") from None
        text = response.get("SecretString")
        if not isinstance(text, str):
            raise CorruptKeyValue(
                f"the secret {self._secret_id} holds binary data, not the agent's JSON key document; restore a "
                "good version of the secret"
            )
        return StoredValue(text, str(response["VersionId"]))

    def create(self, text: str) -> bool:
        token = initial_version_token(self._secret_id)
        try:
            self.call(
                "PutSecretValue",
                lambda: self._client.put_secret_value(
                    SecretId=self._secret_id, SecretString=text, ClientRequestToken=token
                ),
            )
            return True
        except ClientError as exc:
            code = _code(exc)
            if code == "ResourceExistsException":
                return False  # another agent's first value already holds the initial version id
            if code != "ResourceNotFoundException":
                raise self.translate(exc, "PutSecretValue") from None
        return self._create_secret(text, token)

    def replace(self, text: str, expected: StoredValue) -> None:
        current = self.read()
        if current is None or current.version != expected.version:
            raise StoreConflict(
                f"the secret {self._secret_id} changed while rotating (another rotation?); run the rotation again"
            )
        try:
            self.call(
                "PutSecretValue",
                lambda: self._client.put_secret_value(
                    SecretId=self._secret_id, SecretString=text, ClientRequestToken=str(uuid.uuid4())
                ),
            )
        except ClientError as exc:
            raise self.translate(exc, "PutSecretValue") from None

    # -- helpers ------------------------------------------------------------------------------------------------

    def _create_secret(self, text: str, token: str) -> bool:
        if self._secret_id.startswith("arn:"):
            raise KeyMissing(
                f"the secret {self._secret_id} does not exist; create it (the OrionKeyVault component does, "
                "with the member's KMS key), or configure the agent with a secret name so it can create it"
            )
        extra: dict[str, Any] = {"KmsKeyId": self._kms_key_id} if self._kms_key_id else {}
        if self._tags:
            extra["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(self._tags.items())]
        try:
            self.call(
                "CreateSecret",
                lambda: self._client.create_secret(
                    Name=self._secret_id,
                    SecretString=text,
                    ClientRequestToken=token,
                    Description="LACChain transaction manager keys (written by the key agent)",
                    **extra,
                ),
            )
            return True
        except ClientError as exc:
            if _code(exc) != "ResourceExistsException":
                raise self.translate(exc, "CreateSecret") from None
        # Another agent created the secret first: whoever holds the initial token wins (idempotent if it was us).
        try:
            self.call(
                "PutSecretValue",
                lambda: self._client.put_secret_value(
                    SecretId=self._secret_id, SecretString=text, ClientRequestToken=token
                ),
            )
            return True
        except ClientError as exc:
            if _code(exc) == "ResourceExistsException":
                return False
            raise self.translate(exc, "PutSecretValue") from None

    def call(self, action: str, operation: Callable[[], T]) -> T:
        """Run one API call with the agent's retry policy; transient failures become ``Retryable``."""

        def attempt() -> T:
            try:
                return operation()
            except ClientError as exc:
                if _code(exc) in THROTTLING_CODES or _status(exc) >= 500:
                    raise Retryable(f"{action}: {_code(exc) or _status(exc)}") from None
                raise
            except TRANSPORT_ERRORS as exc:
                raise Retryable(f"{action}: {type(exc).__name__}") from None
            except NoCredentialsError:
                raise AccessDenied(
                    "no AWS platform identity was found: run the agent on an instance with an instance profile, "
                    "or in a pod whose service account has an IAM role (IRSA); static keys are not accepted"
                ) from None

        return call_with_retry(attempt, self._retry, f"secretsmanager:{action} on {self._secret_id}")

    def translate(self, exc: ClientError, action: str) -> KeyAgentError:
        """A ClientError as a fix-naming agent error. Only the error *code* is quoted, never a message body."""
        code = _code(exc)
        if code in ACCESS_CODES:
            return AccessDenied(
                f"access denied ({code}): the node's role needs secretsmanager:{action} on {self._secret_id}, "
                "and kms:Decrypt/kms:GenerateDataKey on the secret's KMS key via secretsmanager; attach the "
                "policy OrionKeyVault generates for this node to the node's role"
            )
        if code in KMS_CODES:
            return AccessDenied(
                f"Secrets Manager could not use the KMS key of {self._secret_id} ({code}): the node's role needs "
                "kms:Decrypt and kms:GenerateDataKey on that key via secretsmanager, and the key must be enabled"
            )
        if code == "InvalidRequestException":
            return KeyMissing(
                f"secretsmanager:{action} on {self._secret_id} was refused (InvalidRequestException); if the "
                "secret is scheduled for deletion, restore it with `aws secretsmanager restore-secret "
                f"--secret-id {self._secret_id}`"
            )
        return KeyAgentError(f"secretsmanager:{action} on {self._secret_id} failed with {code or 'an error'}")
