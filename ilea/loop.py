"""The event loop the worker processes run on."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop where it is installed (it comes with uvicorn[standard]).

    libuv writes to sockets and wakes its loop from other threads in C while holding the GIL;
    the standard loop drops and retakes the GIL around each of those syscalls. In the worker,
    where workflow activations run on a thread pool and hand their results back to the loop,
    that hand-off was about a fifth of the profile under load. The API gets the same loop from
    uvicorn.
    """
    try:
        import uvloop
    except ImportError:  # no build for this platform: the standard loop behaves the same
        asyncio.run(main)
        return
    uvloop.run(main)
