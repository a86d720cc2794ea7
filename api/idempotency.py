"""`Idempotency-Key` for every POST: the same key, caller and body answer the first response
again with no second effect; the same key with another body is a 422.

A body is compared by its *fingerprint*: the hash of its canonical JSON (keys sorted, no
whitespace), so re-formatted JSON is the same body. The fingerprint is also part of the
identity of the request's effect (the Temporal update id, a new proposal's id: see
:data:`EffectKey`): once a key is forgotten, reusing it with another body is a new request
with its own effect, never a replay of the old one's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import deadline
from api.auth import VERIFIED, AuthError
from ilea.db import idempotency as keys

log = logging.getLogger("ilea.api")

WAIT_FOR_FIRST_S = 30.0


def abandoned_after(request_timeout_s: float) -> timedelta:
    """A key still "in progress" this long after its first request belongs to a request that
    will never finish it: every request is answered within ``ILEA_REQUEST_TIMEOUT_SECONDS``,
    so it died mid-request (SIGKILL, OOM, lost node) or could not record its outcome (the
    database went away). A retry with the same body takes it over and runs again, which is safe
    even when the first is only slow: the Temporal update id (or new proposal's id) comes from
    the key and the body (:data:`EffectKey`, ``api.actions.update_id``,
    ``api.actions.new_proposal_id``)."""
    return timedelta(seconds=2 * request_timeout_s)


#: Request-state key of ``(key, fingerprint)`` once the middleware has taken a keyed POST.
KEYED = "ilea.idempotency"


def fingerprint(method_path: str, body: bytes) -> str:
    """SHA-256 of the method, path and canonical JSON of the body (raw bytes if not JSON)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, RecursionError):  # not JSON (the route answers 422): compare as bytes
        canonical = body
    return hashlib.sha256(method_path.encode() + b"\x00" + canonical).hexdigest()


async def effect_key(
    request: Request, idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None
) -> str | None:
    """The identity of a keyed request's effect: its ``Idempotency-Key`` and body fingerprint.

    None without a key. Actions derive the Update's id (and a submission its proposal's id)
    from it and the caller, so Temporal runs a retry once even after the key was forgotten,
    and a reused key with another body is another effect.
    """
    keyed = request.scope.get("state", {}).get(KEYED)
    if keyed is None:  # no key, or no bearer token (the route answers 401)
        return None
    key, digest = keyed
    return f"{key}\x00{digest}"


#: A route's ``Idempotency-Key`` (documented in OpenAPI), as the identity of the request's effect.
EffectKey = Annotated[str | None, Depends(effect_key)]


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
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        method_path = f"POST {scope['path']}"
        digest = fingerprint(method_path, body)
        request_state = scope.setdefault("state", {})
        request_state[VERIFIED] = (token, principal)  # the route need not verify again
        request_state[KEYED] = (key, digest)
        pool = state.pool

        inserted = await keys.claim(pool, caller, key, method_path, digest)
        if not inserted:
            inserted = await keys.take_over(
                pool, caller, key, method_path, digest, abandoned_after(state.settings.request_timeout_seconds)
            )
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
        # Wait for the first request's answer, but answer this one within its own deadline.
        left = deadline.remaining()
        wait = WAIT_FOR_FIRST_S if left is None else min(WAIT_FOR_FIRST_S, left - deadline.RESERVE_S)
        until = loop.time() + wait
        retry_after: bytes | None = None
        while True:
            row = await keys.get(pool, caller, key)
            if row is None:
                # It failed (a 5xx, e.g. an action not through in time): nothing was pinned to
                # the key, and sending the request again runs it (or returns its result).
                status, payload, ctype = (
                    503,
                    _problem(503, "the first request with this Idempotency-Key did not complete; send it again"),
                    "application/problem+json",
                )
                retry_after = b"1"
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
            if loop.time() > until:
                status, payload, ctype = (
                    503,
                    _problem(503, "a request with this Idempotency-Key is still in progress; send it again"),
                    "application/problem+json",
                )
                retry_after = b"2"
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
                    *([(b"retry-after", retry_after)] if retry_after else []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _problem(status: int, detail: str) -> bytes:
    titles = {409: "Conflict", 422: "Unprocessable Content", 503: "Service Unavailable"}
    return json.dumps({"type": "about:blank", "title": titles[status], "status": status, "detail": detail}).encode()
