"""The HTTP face of the checks: ``/healthz`` (liveness) and ``/readyz`` (readiness), 200 when every check
passes and 503 otherwise, with the JSON body listing each check either way.

Checks run concurrently and each HTTP call is bounded by the configured timeout, so a probe always answers
within about one timeout even when Besu hangs; probes with a shorter timeout than ours would otherwise record
a timeout instead of the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from services.common.jsonrpc import JsonRpc
from services.healthcheck.checks import CheckResult, check_block_age, check_peers, check_rpc, check_sync, check_tm
from services.healthcheck.config import Settings


def _report(settings: Settings, checks: dict[str, CheckResult]) -> JSONResponse:
    ok = all(result.ok for result in checks.values())
    body: dict[str, Any] = {
        "status": "ok" if ok else "fail",
        "role": settings.role.value,
        "checks": {name: result.as_json() for name, result in checks.items()},
    }
    return JSONResponse(body, status_code=200 if ok else 503)


def create_app(settings: Settings) -> FastAPI:
    """The ASGI app; one ``httpx.AsyncClient`` (connection pool) lives as long as the app."""
    state: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=settings.timeout_seconds) as client:
            state["client"] = client
            yield

    app = FastAPI(title="LACChain node healthcheck", docs_url=None, redoc_url=None, lifespan=lifespan)

    def rpc() -> JsonRpc:
        return JsonRpc(settings.besu_rpc_url, state["client"])

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return _report(settings, {"rpc": await check_rpc(rpc())})

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        client = rpc()
        names = ["rpc", "peers", "sync", "blockAge"]
        jobs = [
            check_rpc(client),
            check_peers(client, settings.effective_min_peers),
            check_sync(client, settings.max_blocks_behind),
            check_block_age(client, settings.effective_max_block_age),
        ]
        if settings.tm_upcheck_url is not None:
            names.append("transactionManager")
            jobs.append(check_tm(state["client"], settings.tm_upcheck_url))
        results = await asyncio.gather(*jobs)
        return _report(settings, dict(zip(names, results, strict=True)))

    return app
