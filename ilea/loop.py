"""The event loop the worker processes run on."""

from __future__ import annotations

import asyncio
import gc
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


#: The cyclic garbage collector's thresholds in the API process (CPython's are (700, 10, 10)).
#: See :func:`tune_gc`.
GC_THRESHOLDS = (50_000, 10, 10)


def tune_gc() -> None:
    """Collect cyclic garbage less often, and never look again at what start-up allocated.

    Call once a process has imported and built everything it serves with. ``gc.freeze()`` moves
    every object alive then (modules, classes, pydantic's schemas, the SDK) into a generation
    the collector skips; a higher first threshold lets the many short-lived containers of each
    request or workflow activation die by reference counting before a collection has to look
    at them. Reference counting frees everything else as before; cycles are still collected.
    """
    freeze_start_up()
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_start_up() -> None:
    """Never look again at what start-up allocated: ``gc.freeze()``, CPython's thresholds kept.

    Call once a process has imported and built everything it serves with. Start-up's garbage is
    collected first; every object alive then (modules, classes, pydantic's schemas, the SDK)
    moves into a generation the collector skips, so each full collection walks only what was
    allocated since. Those objects live as long as the process anyway. The worker does this
    alone (1.4-3 % of its CPU in two A/B runs, the same peak memory over 1,200 lifecycles);
    :func:`tune_gc` also raises the thresholds.
    """
    gc.collect()
    gc.freeze()
