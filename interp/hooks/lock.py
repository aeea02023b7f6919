"""The one-writer-at-a-time lock of an activation store's folder (``.writer.lock``).

Two captures into one folder at once would interleave their shards and manifests; the
second is refused with the holder's pid and host instead. A lock left by a process that is
gone (killed, crashed, another boot) is taken over, so a resume never needs a manual step.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from interp.hooks.shards import StoreError
from interp.io import process_gone, this_process

LOCK = ".writer.lock"  # {"pid", "host", "pid_started"} of the process writing the store


def take_lock(path: Path) -> Path:
    """Create ``path/LOCK`` naming this process; StoreError if a live process holds it (a dead one's is taken over).

    Two captures into one folder at once would interleave their shards and manifests; the
    second is refused with the holder's pid and host instead.
    """
    f = path / LOCK
    for _ in range(3):
        try:
            fd = os.open(f, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(f.read_text() or "{}")
                age = time.time() - f.stat().st_mtime
            except FileNotFoundError:  # released meanwhile: try again
                continue
            except (OSError, ValueError):
                holder, age = {}, 0.0
            if not isinstance(holder, dict):
                holder = {}
            if holder.get("pid") is None and age < 10:  # just created by another process, not yet filled in
                raise StoreError(f"{path} is being written by another process (lock {f}); wait for it to finish.")
            if holder.get("pid") is not None and not process_gone(holder.get("pid"), holder.get("host"),
                                                                   holder.get("pid_started")):
                raise StoreError(
                    f"{path} is being written by pid {holder['pid']} on {holder.get('host')}: two captures into one "
                    f"folder would corrupt it. Wait for that one to finish (or stop it); if it is gone, delete {f}."
                )
            f.unlink(missing_ok=True)  # its writer is gone: take the lock over
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(this_process(), fh)
        return f
    raise StoreError(f"Could not take the lock {f}: other processes keep taking it. Run one capture per folder.")
