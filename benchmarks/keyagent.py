"""Key agent and KMS signer timings against moto on this machine.

    .venv/bin/python benchmarks/keyagent.py [--runs 7] [--signatures 200]

Prints, as medians over ``--runs``:
- agent start to keys on disk, first boot (generate + create-if-absent store) and second boot (read), both
  in-process (``services.keyagent.agent.run`` including client creation) and as a cold process
  (``python -m services.keyagent``, interpreter start and imports included: what an init container costs);
- KMS signatures per second: raw ``Sign`` calls and whole ``KmsSigner.sign_transaction`` (sign + DER decode +
  recovery + eth-account encoding + verification), sequential, one client.

moto answers in-process on localhost, so these are the agent's and the signer's own costs plus moto's; a real
region adds its network round trips (a few per boot, one per signature).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from services.keyagent.agent import run  # noqa: E402
from services.keyagent.output import MOUNTINFO, filesystem_type  # noqa: E402
from services.keyagent.retry import RetryPolicy  # noqa: E402
from services.keyagent.stores.aws import SecretsManagerStore, secrets_manager_client  # noqa: E402
from services.kms_signer import KmsSigner  # noqa: E402
from tests.standins import child, free_port, moto_server  # noqa: E402

DIGEST_MOTO = ROOT / "tests" / "services" / "kms_signer" / "moto_digest_server.py"


def _median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms (min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f})"


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _output_root() -> tuple[Path, bool]:
    """A tmpfs directory if the machine has one (the agent's production check then runs as on a node)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and filesystem_type(shm.resolve(), MOUNTINFO.read_text()) == "tmpfs":
        return Path(tempfile.mkdtemp(prefix="keyagent-bench-", dir=shm)), False
    return Path(tempfile.mkdtemp(prefix="keyagent-bench-")), True


def _boot(endpoint: str, secret: str, key_arn: str, policy: RetryPolicy, directory: Path, persistent: bool) -> object:
    store = SecretsManagerStore(secrets_manager_client("us-east-1", endpoint), secret, key_arn, policy)
    return run(store, directory, allow_persistent_dir=persistent)


def bench_agent(endpoint: str, runs: int) -> None:
    root, persistent = _output_root()
    kms = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1")
    key_arn = kms.create_key(Description="bench")["KeyMetadata"]["Arn"]
    admin = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")
    policy = RetryPolicy(attempts=3)
    first: list[float] = []
    second: list[float] = []
    cold_first: list[float] = []
    cold_second: list[float] = []
    try:
        for index in range(runs):
            name = f"lacchain/bench/node-{uuid.uuid4().hex[:8]}/tm-keys"
            admin.create_secret(Name=name, KmsKeyId=key_arn)  # as OrionKeyVault leaves it: no value yet

            first.append(_timed(partial(_boot, endpoint, name, key_arn, policy, root / f"first-{index}", persistent)))
            second.append(_timed(partial(_boot, endpoint, name, key_arn, policy, root / f"second-{index}", persistent)))

            cold_name = f"lacchain/bench/cold-{uuid.uuid4().hex[:8]}/tm-keys"
            admin.create_secret(Name=cold_name, KmsKeyId=key_arn)
            env = {
                **os.environ,
                "LACCHAIN_KEYAGENT_BACKEND": "aws",
                "LACCHAIN_KEYAGENT_SECRET": cold_name,
                "LACCHAIN_KEYAGENT_REGION": "us-east-1",
                "LACCHAIN_KEYAGENT_ENDPOINT_URL": endpoint,
                "LACCHAIN_KEYAGENT_ALLOW_PERSISTENT_DIR": "true" if persistent else "",
            }
            for samples, label in ((cold_first, "first"), (cold_second, "second")):
                env["LACCHAIN_KEYAGENT_OUTPUT_DIR"] = str(root / f"cold-{label}-{index}")
                command = [sys.executable, "-m", "services.keyagent"]
                run_process = partial(subprocess.run, command, cwd=ROOT, env=dict(env), check=True, capture_output=True)
                samples.append(_timed(run_process))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    where = "a persistent directory (no tmpfs here; --allow-persistent-dir)" if persistent else "tmpfs (/dev/shm)"
    print(f"key agent against moto, {runs} runs, keys written to {where}; median:")
    print(f"  first boot  (generate, create-if-absent, write)  in-process {_median_ms(first)}")
    print(f"  second boot (read, validate, write)              in-process {_median_ms(second)}")
    print(f"  first boot  as a process (python -m services.keyagent)      {_median_ms(cold_first)}")
    print(f"  second boot as a process                                    {_median_ms(cold_second)}")


def _up(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/moto-api/", timeout=1) as response:
        return bool(response.status < 500)


def bench_signer(signatures: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with child([sys.executable, str(DIGEST_MOTO), "-H", "127.0.0.1", "-p", str(port)], "moto", lambda: _up(url)):
        kms = boto3.client("kms", endpoint_url=url, region_name="us-east-1")
        key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_SECG_P256K1")["KeyMetadata"]["KeyId"]
        signer = KmsSigner(kms, key_id)
        digest = bytes(range(32))
        raw = _timed(
            lambda: [
                kms.sign(KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
                for _ in range(signatures)
            ]
        )
        tx = {
            "type": 2,
            "to": signer.address,
            "value": 1,
            "gas": 21000,
            "maxFeePerGas": 2,
            "maxPriorityFeePerGas": 1,
            "chainId": 648539,
        }
        full = _timed(lambda: [signer.sign_transaction({**tx, "nonce": n}) for n in range(signatures)])
    print(f"KMS signer against moto, {signatures} sequential signatures, one client:")
    print(f"  raw kms:Sign (DIGEST)                 {signatures / raw:8.1f} signatures/s")
    print(f"  KmsSigner.sign_transaction (EIP-1559) {signatures / full:8.1f} transactions/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--signatures", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "benchmark")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "benchmark")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with moto_server() as endpoint:
        bench_agent(endpoint, args.runs)
    bench_signer(args.signatures)


if __name__ == "__main__":
    main()
