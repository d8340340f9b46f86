"""``python -m services.ethstats_client``: validate the environment, then report until SIGTERM/SIGINT.

A configuration error exits with status 2 and one line per problem on stderr, before any connection is made.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import httpx

from lacchain.errors import InvalidInput
from services.common.jsonrpc import JsonRpc
from services.ethstats_client.chain import ChainReader
from services.ethstats_client.client import Reporter
from services.ethstats_client.config import Settings, load_settings


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with httpx.AsyncClient(timeout=settings.timeout_seconds) as http:
        reporter = Reporter(settings, ChainReader(JsonRpc(settings.rpc_url, http)))
        await reporter.run(stop)


def main() -> int:
    try:
        settings = load_settings(os.environ)
    except InvalidInput as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if not settings.secret_value():
        logging.getLogger("ethstats").warning("no ETHSTATS_SECRET or ETHSTATS_SECRET_FILE: logging in without one")
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
