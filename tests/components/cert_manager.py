"""cert-manager's ``Certificate`` (``cert-manager.io/v1``) as its CRD publishes it, for validating what we render.

``kubernetes-validate`` knows only built-in kinds, so the Certificate's fields are checked here against the CRD's
``openAPIV3Schema`` from cert-manager's repository (``deploy/crds/cert-manager.io_certificates.yaml``, commit
0509c05ab4c8b11acbe28e8c23ca000bfd33676b, controller-gen v0.19.0). Every property name of ``spec`` is listed, so a
misspelt field fails (the API server would silently prune it); the properties we set carry their full schema
(types, enums, required); the rules the CRD states only in prose (Go durations, minimum duration 1h and renewBefore
5m, ECDSA key sizes, ``renewBefore`` vs ``renewBeforePercentage``) are checked by ``semantic_problems``.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema

KEY_USAGES = [
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
]
_STRINGS = {"type": "array", "items": {"type": "string"}}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["issuerRef", "secretName"],
    "additionalProperties": False,
    "properties": {
        "additionalOutputFormats": {"type": "array"},
        "commonName": {"type": "string"},
        "dnsNames": _STRINGS,
        "duration": {"type": "string"},
        "emailAddresses": _STRINGS,
        "encodeUsagesInRequest": {"type": "boolean"},
        "ipAddresses": _STRINGS,
        "isCA": {"type": "boolean"},
        "issuerRef": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {"group": {"type": "string"}, "kind": {"type": "string"}, "name": {"type": "string"}},
        },
        "keystores": {"type": "object"},
        "literalSubject": {"type": "string"},
        "nameConstraints": {"type": "object"},
        "otherNames": {"type": "array"},
        "privateKey": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "algorithm": {"type": "string", "enum": ["RSA", "ECDSA", "Ed25519"]},
                "encoding": {"type": "string", "enum": ["PKCS1", "PKCS8"]},
                "rotationPolicy": {"type": "string", "enum": ["Never", "Always"]},
                "size": {"type": "integer"},
            },
        },
        "renewBefore": {"type": "string"},
        "renewBeforePercentage": {"type": "integer"},
        "revisionHistoryLimit": {"type": "integer"},
        "secretName": {"type": "string"},
        "secretTemplate": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"annotations": _STRING_MAP, "labels": _STRING_MAP},
        },
        "signatureAlgorithm": {
            "type": "string",
            "enum": [
                "SHA256WithRSA",
                "SHA384WithRSA",
                "SHA512WithRSA",
                "ECDSAWithSHA256",
                "ECDSAWithSHA384",
                "ECDSAWithSHA512",
                "PureEd25519",
            ],
        },
        "subject": {"type": "object"},
        "uris": _STRINGS,
        "usages": {"type": "array", "items": {"type": "string", "enum": KEY_USAGES}},
    },
}
CERTIFICATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "cert-manager.io/v1"},
        "kind": {"const": "Certificate"},
        "metadata": {
            "type": "object",
            "required": ["name", "namespace"],
            "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}},
        },
        "spec": SPEC_SCHEMA,
    },
}
_GO_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def go_duration_seconds(text: str) -> float:
    """Seconds of a Go ``time.ParseDuration`` string (the CRD's format for ``duration`` and ``renewBefore``)."""
    if not _GO_DURATION.match(text):
        raise ValueError(f"{text!r} is not a Go duration")
    return sum(float(number) * _SECONDS[unit] for number, unit in _PART.findall(text))


def semantic_problems(certificate: dict[str, Any]) -> list[str]:
    """The rules the CRD's field descriptions state in prose."""
    spec = certificate["spec"]
    problems: list[str] = []
    for name in (certificate["metadata"]["name"], spec["secretName"]):
        if not _DNS_SUBDOMAIN.match(name):
            problems.append(f"{name!r} is not a Kubernetes object name")
    try:
        duration = go_duration_seconds(spec.get("duration", "2160h"))
        renew = go_duration_seconds(spec["renewBefore"]) if "renewBefore" in spec else None
    except ValueError as exc:
        return [*problems, str(exc)]
    if duration < 3600:
        problems.append("duration below the 1h minimum")
    if renew is not None and (renew < 300 or renew >= duration):
        problems.append("renewBefore must be at least 5m and shorter than duration")
    if "renewBefore" in spec and "renewBeforePercentage" in spec:
        problems.append("renewBefore and renewBeforePercentage are mutually exclusive")
    key = spec.get("privateKey", {})
    sizes = {"RSA": {2048, 4096, 8192}, "ECDSA": {256, 384, 521}}.get(key.get("algorithm", "RSA"))
    if sizes is not None and "size" in key and key["size"] not in sizes:
        problems.append(f"key size {key['size']} is not one of {sorted(sizes)}")
    if not spec.get("dnsNames") and not spec.get("ipAddresses") and not spec.get("commonName"):
        problems.append("a certificate needs at least one name")
    return problems


def validate_certificate(certificate: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` / ``AssertionError`` if cert-manager would refuse or prune it."""
    jsonschema.validate(certificate, CERTIFICATE_SCHEMA)
    problems = semantic_problems(certificate)
    assert not problems, problems
