"""Operator commands that put the DDNS function's key material in its secret store without passing through Pulumi.

The ``DdnsZone`` component creates the secrets' containers (and their IAM); their values are either handed to it as
Pulumi secrets, or written here, directly from the operator's machine to the store, so the CA private key and the
tree key never appear in a Pulumi program, its state or its logs::

    python -m services.ddns_function.bootstrap --store aws --secret lacchain/<network>/tm-ca new-ca
    python -m services.ddns_function.bootstrap --store aws --secret lacchain/<network>/enrtree-key \\
        tree-link --domain nodes.<zone> [--create]

``new-ca`` makes the network's transaction-manager CA (``lacchain.ddns.certificate.new_ca``) only if the secret has
no value yet (atomic ``create_if_absent``), and prints its certificate's SHA-256 fingerprint; ``tree-link`` prints
the ``enrtree://<key>@<domain>`` link of the tree key (``--create``: generate it first if absent), which goes into
every member stack's ``network.discoveryDnsUrl``. Nothing secret is ever printed.

Stores: ``aws`` (Secrets Manager; the usual ``AWS_*`` environment, ``AWS_ENDPOINT_URL`` for a stand-in), ``gcp``
(Secret Manager, ``--gcp-project``; Application Default Credentials or the metadata server) or ``file``
(``--dir``, the on-prem function's ``DDNS_SECRETS_DIR``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes

from lacchain.ddns.certificate import KeyAndCertificate, new_ca
from lacchain.enr import tree_link
from lacchain.keys import NodeKey
from services.ddns_function.secrets import AwsSecretsManager, FileSecretStore, GcpSecretManager, SecretStore


def open_store(kind: str, directory: str | None, gcp_project: str | None) -> SecretStore:
    if kind == "aws":
        import boto3

        return AwsSecretsManager(boto3.client("secretsmanager", endpoint_url=os.environ.get("AWS_ENDPOINT_URL")))
    if kind == "gcp":
        if not gcp_project:
            raise SystemExit("--gcp-project is required with --store gcp")
        from services.ddns_function.gcp_auth import default_session

        return GcpSecretManager(default_session(), gcp_project)
    if not directory:
        raise SystemExit("--dir is required with --store file")
    return FileSecretStore(directory)


def fingerprint(ca: KeyAndCertificate) -> str:
    return ca.certificate().fingerprint(hashes.SHA256()).hex(":")


def main(argv: Sequence[str] | None = None, store: SecretStore | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.ddns_function.bootstrap", description=__doc__)
    parser.add_argument("--store", choices=("aws", "gcp", "file"), required=True)
    parser.add_argument("--secret", required=True, help="the secret's name, e.g. lacchain/<network>/tm-ca")
    parser.add_argument("--dir", help="file store: the directory (DDNS_SECRETS_DIR)")
    parser.add_argument("--gcp-project", help="gcp store: the project of the secrets")
    commands = parser.add_subparsers(dest="command", required=True)
    ca = commands.add_parser("new-ca", help="create the network's TM CA unless the secret already holds one")
    ca.add_argument("--common-name", default="LACChain transaction manager CA")
    link = commands.add_parser("tree-link", help="print the enrtree:// link of the tree key")
    link.add_argument("--domain", required=True, help="the tree's domain, e.g. nodes.<zone>")
    link.add_argument("--create", action="store_true", help="generate the tree key if the secret has no value")
    args = parser.parse_args(argv)
    secrets = store if store is not None else open_store(args.store, args.dir, args.gcp_project)

    if args.command == "new-ca":
        candidate = new_ca(args.common_name)
        stored = secrets.create_if_absent(args.secret, candidate.to_json())
        kept = KeyAndCertificate.from_json(stored, f"secret {args.secret}")
        state = "created" if kept.certificate_pem == candidate.certificate_pem else "already present, kept"
        print(f"CA in {args.secret}: {state}; certificate SHA-256 {fingerprint(kept)}")
        return 0
    value = secrets.get(args.secret)
    if value is None and args.create:
        value = secrets.create_if_absent(args.secret, NodeKey.generate().hex)
    if value is None:
        print(f"{args.secret} has no value; pass --create to generate the tree key", file=sys.stderr)
        return 1
    print(tree_link(NodeKey.from_hex(value).compressed_public_key, args.domain.rstrip(".").lower()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
