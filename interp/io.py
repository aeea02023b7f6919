"""Small file helpers every format shares: atomic writes and JSON reads with errors that name the file.

Stores, runs and checkpoints all promise that a reader never sees half a file and
that a broken file is reported by name with what to do about it; these two
functions are where that promise is kept.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any, Callable


def write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """``write(tmp)`` to a temporary sibling, then rename it over ``path`` (atomic on POSIX)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.chmod(tmp, 0o666 & ~_UMASK)  # some writers (safetensors) create owner-only files
    os.replace(tmp, path)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def write_json_atomic(path: Path, obj: Any, indent: int = 1, default: Callable[[Any], Any] | None = None) -> None:
    write_atomic(path, lambda p: p.write_text(json.dumps(obj, indent=indent, default=default) + "\n"))


def read_json(path: Path, error: type[Exception], missing: str, corrupt: str) -> Any:
    """Parse ``path``; raise ``error`` naming the file, with the ``missing``/``corrupt`` advice."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path} does not exist: {missing}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path} is not valid JSON ({exc}); {corrupt}") from exc
    except RecursionError:
        raise error(f"{path} is nested too deeply to be a file interp wrote; {corrupt}") from None
    except OSError as exc:
        raise error(f"Cannot read {path}: {exc}") from exc


def this_process() -> dict[str, Any]:
    """``{"pid", "host", "pid_started"}`` of this process: enough to tell later whether it still runs."""
    import psutil

    me = psutil.Process()
    return {"pid": me.pid, "host": socket.gethostname(), "pid_started": round(me.create_time(), 3)}


def process_gone(pid: int | None, host: str | None, started: float | None) -> bool:
    """True when the process recorded by :func:`this_process` ran on this host and no longer runs.

    A process on another host is never guessed dead; a reused pid (another start time) is.
    """
    if pid is None or host != socket.gethostname():
        return False
    import psutil

    try:
        now = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True
    except psutil.Error:
        return False
    return started is not None and abs(now - started) > 1.0


def check_config_keys(cls: type, obj: dict[str, Any]) -> None:
    """ValueError naming the keys of ``obj`` the dataclass ``cls`` has no field for, and the ones it has.

    Configs read back from run folders and checkpoints (``from_json``) refuse keys they do not know
    rather than drop them: a typo or a newer writer's option should be seen, not silently lost.
    """
    import dataclasses

    known = {f.name for f in dataclasses.fields(cls)}
    if unknown := set(obj) - known:
        raise ValueError(f"Unknown {cls.__name__} keys {sorted(unknown)}; known keys are {sorted(known)}.")
