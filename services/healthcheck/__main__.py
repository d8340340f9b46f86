"""``python -m services.healthcheck``: validate the environment, then serve until stopped.

A configuration error exits with status 2 and one line per problem on stderr, before anything listens, so a
container with a bad environment fails at start (visible in ``kubectl describe``) instead of probing wrongly.
"""

from __future__ import annotations

import os
import sys

import uvicorn

from lacchain.errors import InvalidInput
from services.healthcheck.app import create_app
from services.healthcheck.config import load_settings


def main() -> int:
    try:
        settings = load_settings(os.environ)
    except InvalidInput as exc:
        print(exc, file=sys.stderr)
        return 2
    uvicorn.run(
        create_app(settings),
        host=settings.listen_host,
        port=settings.listen_port,
        log_level="info",
        # Probes hit the endpoints every few seconds; logging each one would drown the useful lines.
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
