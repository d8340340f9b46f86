"""Local stand-ins for the clouds and chains this project talks to, started by test fixtures.

Each stand-in is a real server on 127.0.0.1 at a free port, started as a child process and stopped when the
fixture ends. Production code reaches it only through configuration (an endpoint URL), exactly as it would reach
the cloud.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "node_modules" / ".bin"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    ready: Callable[[], bool],
    what: str,
    timeout: float = 30.0,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``ready`` until it is true; fail with ``what`` (and the process's log) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            output = log.read_text(errors="replace") if log is not None and log.exists() else ""
            raise RuntimeError(f"{what} exited with {process.returncode} before it was ready:\n{output[-3000:]}")
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout} s")


@contextlib.contextmanager
def child(
    command: list[str],
    what: str,
    ready: Callable[[], bool],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> Iterator[subprocess.Popen]:
    """Run ``command`` until the block ends; wait for ``ready`` first.

    Output goes to a temporary log file, never to a pipe: nobody reads a pipe while tests run, and a chatty
    server blocks once the pipe buffer is full.
    """
    log_dir = tempfile.TemporaryDirectory(prefix="standin-")
    log = Path(log_dir.name) / "output.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    try:
        wait_until(ready, what, timeout, process, log)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_dir.cleanup()


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1) as response:
        return bool(response.status < 500)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server (AWS APIs: KMS, Secrets Manager, Route 53, DynamoDB, S3, IAM, ...); yields its endpoint."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    moto = Path(sys.executable).with_name("moto_server")
    with child([str(moto), "-H", "127.0.0.1", "-p", str(port)], "moto_server", lambda: _http_ok(f"{url}/moto-api/")):
        yield url


def _rpc_ok(url: str) -> bool:
    request = urllib.request.Request(
        url,
        data=b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=1) as response:
        return b"result" in response.read()


@contextlib.contextmanager
def anvil(chain_id: int = 648539) -> Iterator[str]:
    """An anvil EVM chain (npm @foundry-rs/anvil); yields its JSON-RPC URL. Its ten dev accounts are funded."""
    binary = NODE_BIN / "anvil"
    if not binary.exists():
        found = shutil.which("anvil")
        if found is None:
            raise RuntimeError("anvil not installed: run `npm ci` (package.json pins @foundry-rs/anvil)")
        binary = Path(found)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(binary),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--silent",
        "--code-size-limit",
        "100000",
    ]
    with child(command, "anvil", lambda: _rpc_ok(url)):
        yield url
