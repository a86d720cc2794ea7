"""Per-caller rate limiting: a token bucket per bearer subject (or client address)."""

from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Receive, Scope, Send


class RateLimitMiddleware:
    """Answers 429 with ``Retry-After`` when one caller exceeds ``per_minute`` requests.

    The bucket holds ``burst`` requests and refills at ``per_minute / 60`` per second.
    It is per process: with N API replicas the cluster-wide limit is N times larger,
    which is what a guard against one runaway client needs.
    """

    def __init__(self, app: ASGIApp, per_minute: int, burst: int) -> None:
        self.app = app
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.buckets: dict[str, tuple[float, float]] = {}

    def _caller(self, scope: Scope) -> str:
        for key, value in scope["headers"]:
            if key == b"authorization":
                # The token's signature part identifies the caller well enough for a bucket;
                # a forged token is refused later anyway.
                return "t:" + value.decode(errors="replace")[-43:]
        client = scope.get("client")
        return "a:" + (client[0] if client else "?")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # /ui/auth/ too: each refused sign-in writes an access-log entry, which must not be free to flood.
        if scope["type"] != "http" or self.rate <= 0 or not scope["path"].startswith(("/v1/", "/ui/auth/")):
            await self.app(scope, receive, send)
            return
        now = time.monotonic()
        caller = self._caller(scope)
        tokens, last = self.buckets.get(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            wait = max(1, int((1 - tokens) / self.rate) + 1)
            body = json.dumps(
                {
                    "type": "about:blank",
                    "title": "Too Many Requests",
                    "status": 429,
                    "detail": f"rate limit exceeded; retry in {wait}s",
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [(b"content-type", b"application/problem+json"), (b"retry-after", str(wait).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            self.buckets[caller] = (tokens, now)
            return
        self.buckets[caller] = (tokens - 1, now)
        if len(self.buckets) > 50_000:  # forget idle callers
            self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < 120}
        await self.app(scope, receive, send)
