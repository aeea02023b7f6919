"""The run registry: every analysis leaves a folder that the dashboard and notebooks can find.

A run is ``<root>/<kind>/<timestamp>-<slug>/run.json`` plus its artifacts::

    {"kind": "capture", "config": {...}, "model": "toy:toylm", "created": "2026-11-22T08:01:02.345Z",
     "interp": "0.1.0", "git_sha": "abc123..." | null, "status": "running" | "complete" | "failed",
     "error": null, "metrics": {...}, "artifacts": {"store": "activations"}}

``artifacts`` maps a name to a path relative to the run folder; readers only follow
paths that stay inside it, except the names listed in ``external`` (a store or SAE
folder the writer deliberately left elsewhere), and only when they ask for those
(:meth:`Run.artifact`'s ``external_ok``). ``run.json`` is
always written to a temporary name and renamed, so a reader never sees half a file.
The root is ``./runs`` unless ``INTERP_RUNS`` or an explicit ``root`` says otherwise.

Every analysis writes its run the same way, in a ``write_<kind>_run(result, *,
spec, config, root=None, slug=None) -> Run`` function (docs/architecture.md)::

    with start_run("circuit", config, model=spec, slug=slug, root=root) as run:
        run.write_json("graph", graph)              # graph.json, atomic, listed in artifacts
        run.write_tensors("features", tensors)      # features.safetensors
        run.metrics["edges_kept"] = n
    # run.json now says "complete" (or "failed" with the error, if the block raised)

Readers use ``run.read_json(name)`` / ``run.read_tensors(name)``.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from interp.io import process_gone, read_json, this_process, write_atomic, write_json_atomic

RUN_FILE = "run.json"


class RunError(ValueError):
    """A run folder is missing, unreadable or not a run."""


def runs_root(root: str | Path | None = None) -> Path:
    """The runs folder: ``root``, else ``$INTERP_RUNS``, else ``./runs``."""
    return Path(root or os.environ.get("INTERP_RUNS") or "runs").expanduser()


@dataclass
class Run:
    path: Path
    kind: str
    config: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    created: str = ""
    interp: str = ""
    git_sha: str | None = None
    status: str = "running"
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    pid: int | None = None  # the process that writes the run, on ``host``: a "running" run whose
    host: str | None = None  # process is gone reads back as "interrupted" (see load_run)
    pid_started: float | None = None  # that process's start time (a reused pid is another process)
    external: list[str] = field(default_factory=list)  # artifacts the writer placed outside the run folder

    @property
    def name(self) -> str:
        return self.path.name

    def artifact(self, name: str, *, external_ok: bool = False) -> Path:
        """Resolved path of artifact ``name``, confined to the run folder.

        A run.json is data anyone can edit (or download), so ``"../../etc/passwd"`` must not
        make a reader open that file. A path that leaves the run folder is returned only when
        the caller follows external artifacts (``external_ok``: a capture's ``--out`` store,
        an evaluated SAE's folder) and the writer listed ``name`` in ``external``; otherwise
        RunError, naming the run, the artifact and the path.
        """
        if name not in self.artifacts:
            raise RunError(f"Run {self.path} has no artifact {name!r}; it has {sorted(self.artifacts) or 'none'}.")
        try:
            path = (self.path / self.artifacts[name]).resolve()
        except (OSError, ValueError, RuntimeError) as exc:  # a NUL byte, a symlink loop
            raise RunError(f"Run {self.path}: artifact {name!r} has an unusable path "
                           f"{self.artifacts[name]!r:.200} ({exc}); it is not read.") from None
        if path.is_relative_to(self.path.resolve()):
            return path
        if external_ok and name in self.external:
            return path
        how = (f" If you wrote it there yourself, add {name!r} to \"external\" in {self.path / RUN_FILE}."
               if external_ok else "")
        raise RunError(f"Run {self.path}: artifact {name!r} points outside the run folder ({path}); "
                       f"it is not read.{how}")

    def read_json(self, name: str) -> Any:
        """Parse a JSON artifact (docs/runs.md lists each kind's); errors name the file."""
        return read_json(self.artifact(name), RunError, f"run {self.path} lost its {name!r} artifact.",
                         "the artifact is corrupt; re-run the analysis.")

    def read_tensors(self, name: str) -> dict[str, Any]:
        """Load a safetensors artifact as ``{tensor name: torch.Tensor}``; errors name the file."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = self.artifact(name)
        if not path.is_file():
            raise RunError(f"{path} does not exist: run {self.path} lost its {name!r} artifact.")
        try:
            return load_file(path)
        except (SafetensorError, OSError, ValueError) as exc:
            raise RunError(f"{path} is not a readable safetensors file ({exc}); re-run the analysis.") from exc

    def write_json(self, name: str, obj: Any, file: str | None = None) -> Path:
        """Write ``obj`` as the JSON artifact ``name`` (``<name>.json`` unless ``file`` says), atomically."""
        path = self.add_artifact(name, file or f"{name}.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, obj, default=_json_default)
        return path

    def write_tensors(self, name: str, tensors: dict[str, Any], file: str | None = None,
                      metadata: dict[str, str] | None = None) -> Path:
        """Write ``{tensor name: tensor}`` as the safetensors artifact ``name`` (``<name>.safetensors``), atomically."""
        from safetensors.torch import save_file

        path = self.add_artifact(name, file or f"{name}.safetensors")
        path.parent.mkdir(parents=True, exist_ok=True)
        flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        write_atomic(path, lambda tmp: save_file(flat, str(tmp), metadata=metadata))
        return path

    def add_artifact(self, name: str, relpath: str | Path, external: bool = False) -> Path:
        """Register ``relpath`` (relative to the run folder) as artifact ``name``; returns its path.

        ``external=True`` is for a writer that deliberately leaves the artifact elsewhere (a
        store captured to ``--out``): the path is recorded absolute and resolved, and ``name``
        is listed in ``external`` so readers that ask for it (``external_ok``) may follow it.
        """
        rel = Path(relpath)
        if external:
            path = (self.path / rel).resolve()
            self.artifacts[name] = path.as_posix()
            if name not in self.external:
                self.external.append(name)
            return path
        if rel.is_absolute():
            rel = rel.relative_to(self.path)
        self.artifacts[name] = rel.as_posix()
        if name in self.external:
            self.external.remove(name)
        return self.path / rel

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path")
        return d

    def save(self) -> None:
        """Write ``run.json`` atomically (temp file + rename)."""
        write_json_atomic(self.path / RUN_FILE, self.to_json(), indent=2, default=_json_default)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.status = "complete"
        else:
            self.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            self.error = f"{type(exc).__name__}: {exc}"
        self.save()


def config_dict(config: Any) -> dict[str, Any]:
    """A run config as a plain dict: a dataclass instance's fields, a mapping's items, ``{}`` for None."""
    if config is None:
        return {}
    return asdict(config) if is_dataclass(config) and not isinstance(config, type) else dict(config)


def start_run(
    kind: str,
    config: dict[str, Any] | Any = None,
    model: str | None = None,
    slug: str | None = None,
    root: str | Path | None = None,
) -> Run:
    """Create ``<root>/<kind>/<timestamp>-<slug>/`` and write its ``run.json`` (status "running").

    ``config``: a dict or a config dataclass (stored as its fields).
    """
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", kind or ""):
        raise RunError(f"Run kind {kind!r} must be letters, digits, '-' or '_' (e.g. 'capture', 'sae').")
    now = datetime.now(timezone.utc)
    slug = _slugify(slug or model or kind)
    parent = runs_root(root) / kind
    parent.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        path = parent / (f"{stamp}-{slug}" if i == 0 else f"{stamp}-{slug}-{i}")
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
    else:
        raise RunError(f"Could not create a new run folder under {parent}.")
    from interp import __version__

    run = Run(
        path=path,
        kind=kind,
        config=config_dict(config),
        model=model,
        created=now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        interp=__version__,
        git_sha=_git_sha(),
        **this_process(),
    )
    run.save()
    return run


def load_run(path: str | Path) -> Run:
    """Read a run folder (or its ``run.json``); errors name the file and what is wrong."""
    p = Path(path)
    if p.name == RUN_FILE:
        p = p.parent
    f = p / RUN_FILE
    obj = read_json(f, RunError, f"{p} is not a run folder.", "the run is corrupt.")
    if not isinstance(obj, dict) or "kind" not in obj:
        raise RunError(f"{f} has no 'kind' field; it is not an interp run.")
    known = set(Run.__dataclass_fields__) - {"path"}
    fields = {k: v for k, v in obj.items() if k in known}
    _check_fields(f, fields)
    run = Run(path=p, **fields)
    if run.status == "running" and _process_gone(run):
        run.status = "interrupted"  # as read; run.json is left as the writer left it
        run.error = run.error or f"the process that wrote it (pid {run.pid} on {run.host}) is gone"
    return run


def _process_gone(run: Run) -> bool:
    """True when ``run`` was written on this host by a process that no longer runs (never guessed for others)."""
    return process_gone(run.pid, run.host, run.pid_started)


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,), "created": (str,), "interp": (str,), "status": (str,), "config": (dict,), "metrics": (dict,),
    "artifacts": (dict,), "model": (str, type(None)), "git_sha": (str, type(None)), "error": (str, type(None)),
    "pid": (int, type(None)), "host": (str, type(None)), "pid_started": (int, float, type(None)), "external": (list,),
}


def _check_fields(f: Path, fields: dict[str, Any]) -> None:
    """Refuse a run.json whose fields have the wrong types, naming the file and the field (readers sort and
    format these fields, so a wrong type would otherwise surface as a TypeError far from its cause)."""
    for name, value in fields.items():
        types = _FIELD_TYPES.get(name)
        if types and not isinstance(value, types):
            want = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise RunError(f"{f}: field {name!r} is {type(value).__name__}, not {want}; the run is corrupt.")
    bad = [k for k, v in fields.get("artifacts", {}).items() if not isinstance(v, str)]
    if bad:
        raise RunError(f"{f}: artifacts {bad} are not relative paths (strings); the run is corrupt.")
    odd = [v for v in fields.get("external", []) if not isinstance(v, str)]
    if odd:
        raise RunError(f"{f}: field 'external' holds {odd!r:.200}, not artifact names (strings); the run is corrupt.")


def list_runs(
    root: str | Path | None = None, kind: str | None = None, model: str | None = None
) -> list[Run]:
    """All readable runs under the root, newest first, optionally filtered.

    Unreadable run folders are skipped here; :func:`scan_runs` reports them too.
    """
    return scan_runs(root, kind, model)[0]


def scan_runs(
    root: str | Path | None = None, kind: str | None = None, model: str | None = None
) -> tuple[list[Run], list[tuple[Path, str]]]:
    """``(runs, problems)``: readable runs newest first, and ``(folder, error)`` for broken ones."""
    base = runs_root(root)
    runs: list[Run] = []
    problems: list[tuple[Path, str]] = []
    if not base.is_dir():
        return runs, problems
    for kind_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        if kind is not None and kind_dir.name != kind:
            continue
        for run_dir in sorted(p for p in kind_dir.iterdir() if p.is_dir()):
            try:
                run = load_run(run_dir)
            except RunError as exc:
                problems.append((run_dir, str(exc)))
                continue
            if model is None or run.model == model:
                runs.append(run)
    runs.sort(key=lambda r: (r.created, r.path.name), reverse=True)
    return runs, problems


def _slugify(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower()
    return s[:48] or "run"


def _git_sha() -> str | None:
    """The commit of the interp source tree, when it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
