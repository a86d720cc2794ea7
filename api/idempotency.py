"""`Idempotency-Key` for every POST: the same key, caller and body answer the first response
again with no second effect; the same key with another body is a 422."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import VERIFIED, AuthError
from ilea.db import idempotency as keys

log = logging.getLogger("ilea.api")

WAIT_FOR_FIRST_S = 30.0

#: A key still "in progress" this long after its first request belongs to an API process that
#: died mid-request (SIGKILL, OOM, lost node): it would answer every retry "still in progress"
#: for ever. A retry with the same body takes it over and runs again, which is safe even when
#: the first is only slow: the Temporal update id (or new proposal's id) comes from the key
#: (``api.actions.update_id``, ``api.actions.new_proposal_id``).
ABANDONED_AFTER = timedelta(seconds=2 * WAIT_FOR_FIRST_S)


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        key = headers.get("idempotency-key")
        auth = headers.get("authorization", "")
        if not key or not auth.lower().startswith("bearer "):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        token = auth[7:].strip()
        try:
            principal = await state.verifier.verify_async(token)
        except AuthError:
            await self.app(scope, receive, send)  # the route answers 401
            return
        caller = principal.sub
        scope.setdefault("state", {})[VERIFIED] = (token, principal)  # the route need not verify again
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        method_path = f"POST {scope['path']}"
        digest = hashlib.sha256(method_path.encode() + b"\x00" + body).hexdigest()
        pool = state.pool

        inserted = await keys.claim(pool, caller, key, method_path, digest)
        if not inserted:
            inserted = await keys.take_over(pool, caller, key, method_path, digest, ABANDONED_AFTER)
            if inserted:
                log.warning("took over an abandoned Idempotency-Key of %s on %s", caller, method_path)
        if not inserted:
            await self._replay(pool, caller, key, method_path, digest, send)
            return

        replayed = False

        async def replay_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        captured: dict[str, Any] = {"body": b""}

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        finally:
            status = captured.get("status")
            if status is None or status >= 500 or status == 401:
                # Nothing durable happened that the key must pin: let a retry run it again.
                await keys.release(pool, caller, key)
            else:
                ctype = next(
                    (v.decode() for k, v in captured["headers"] if k.lower() == b"content-type"), "application/json"
                )
                await keys.store_response(pool, caller, key, status, captured["body"], ctype)

    async def _replay(self, pool: Any, caller: str, key: str, method_path: str, digest: str, send: Send) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_FOR_FIRST_S
        while True:
            row = await keys.get(pool, caller, key)
            if row is None:
                status, payload, ctype = (
                    409,
                    _problem(409, "the first request with this Idempotency-Key failed; send it again"),
                    "application/problem+json",
                )
                break
            if row["method_path"] != method_path or row["body_hash"] != digest:
                status, payload, ctype = (
                    422,
                    _problem(422, "this Idempotency-Key was used with a different request body"),
                    "application/problem+json",
                )
                break
            if row["status_code"] is not None:
                status, payload, ctype = row["status_code"], bytes(row["response"]), row["content_type"]
                break
            if loop.time() > deadline:
                status, payload, ctype = (
                    409,
                    _problem(409, "a request with this Idempotency-Key is still in progress"),
                    "application/problem+json",
                )
                break
            await asyncio.sleep(0.05)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", ctype.encode()),
                    (b"idempotent-replayed", b"true"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _problem(status: int, detail: str) -> bytes:
    titles = {409: "Conflict", 422: "Unprocessable Content"}
    return json.dumps({"type": "about:blank", "title": titles[status], "status": status, "detail": detail}).encode()
