"""One long-lived background thread per purpose, shared by every store in the process.

Starting a thread per capture or per read cost 1-3 ms on a 2-core machine (the new thread
waits for a core while torch's threads spin), a tenth of a small capture's overhead. Each
purpose ("store-writer", "store-verify") gets one thread that runs its jobs in order; at
interpreter exit it finishes what it was given. A forked child starts its own.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

_EXECUTORS: dict[str, ThreadPoolExecutor] = {}


def executor(purpose: str) -> ThreadPoolExecutor:
    """The process's one thread for ``purpose``, started on first use."""
    if purpose not in _EXECUTORS:
        _EXECUTORS[purpose] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"interp-{purpose}")
    return _EXECUTORS[purpose]


def _forget() -> None:  # a forked child has none of the parent's threads
    _EXECUTORS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget)
