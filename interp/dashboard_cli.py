"""``interp dashboard``: start the Streamlit dashboard (apps/dashboard.py) on the runs folder.

The app lives in ``apps/`` next to the ``interp`` package (an editable install or a
checkout), not inside it, because Streamlit runs it as a script. This module finds
it, and starts ``streamlit run`` bound to localhost by default (pass ``--host
0.0.0.0`` to share it on a network you trust), with ``$INTERP_RUNS`` pointing at the
runs folder. :func:`start_server` / :func:`wait_until_up` are reused by the browser
test and ``experiments/screenshots.py``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any
from interp.argtypes import port

DEFAULT_PORT = 8501


def app_path() -> Path:
    """apps/dashboard.py of this checkout; a clear error when the install has no apps/ folder."""
    import interp

    path = Path(interp.__file__).resolve().parents[1] / "apps" / "dashboard.py"
    if not path.is_file():
        raise FileNotFoundError(
            f"The dashboard app is not at {path}: `interp dashboard` needs the project checkout "
            "(apps/ next to interp/), e.g. `pip install -e .` from a clone of the repository.")
    return path


def streamlit_command(port: int = DEFAULT_PORT, host: str = "127.0.0.1", headless: bool = False) -> list[str]:
    """The ``streamlit run`` command line for the dashboard."""
    return [sys.executable, "-m", "streamlit", "run", str(app_path()),
            "--server.address", host, "--server.port", str(port),
            "--server.headless", "true" if headless else "false",
            "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
            "--client.toolbarMode", "minimal"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(runs: str | Path | None, port: int, host: str = "127.0.0.1", headless: bool = True,
                 **popen: Any) -> subprocess.Popen:
    """Start the dashboard as a subprocess on ``runs`` (default: $INTERP_RUNS or ./runs)."""
    from interp.runs import runs_root

    env = {**os.environ, "INTERP_RUNS": str(runs_root(runs).resolve()), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(streamlit_command(port, host, headless), env=env, **popen)


def wait_until_up(url: str, proc: subprocess.Popen | None = None, timeout: float = 90.0) -> None:
    """Poll Streamlit's health endpoint until it answers; raise if the server dies or never comes up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the dashboard server exited with code {proc.returncode} before it came up.")
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"the dashboard did not answer at {url} within {timeout:.0f} s.")


def cmd_dashboard(args: argparse.Namespace) -> int:
    from interp.runs import runs_root

    app_path()  # fail early, with the explanation, if apps/ is missing
    root = runs_root(args.runs).resolve()
    shown_host = "localhost" if args.host in ("127.0.0.1", "localhost") else args.host
    print(f"interp dashboard: http://{shown_host}:{args.port}  (runs: {root}; Ctrl-C stops it)", flush=True)
    if not root.is_dir():
        print(f"note: {root} does not exist yet; `interp demo` writes a first set of runs.", flush=True)
    # Streamlit itself always runs headless (a non-headless first run stops to ask for an e-mail address);
    # the browser is opened from here once the server answers.
    proc = start_server(root, args.port, args.host, headless=True)

    def stop(signum: int, frame: Any) -> None:  # `kill` stops the server too, not just this wrapper
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        if not args.headless:
            _open_browser(proc, args.host, args.port, f"http://{shown_host}:{args.port}")
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def _open_browser(proc: subprocess.Popen, host: str, port: int, url: str) -> None:
    """Open ``url`` once the server answers, when there is a display to open it on (as Streamlit does)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    try:
        wait_until_up(f"http://{local}:{port}", proc)
    except (TimeoutError, RuntimeError) as exc:
        print(f"note: {exc}", file=sys.stderr)
        return
    import webbrowser

    webbrowser.open(url)


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dashboard", parents=parents, help="browse runs, SAE features, attention, sinks, circuits, probes (Streamlit)",
                       description="Start the Streamlit dashboard on the runs folder; open the printed URL.")
    p.add_argument("--port", type=port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 shares it on the network)")
    p.add_argument("--headless", action="store_true", help="do not open a browser window")
    p.set_defaults(func=cmd_dashboard)


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run", "--hide-scrollbars"]


def chromium_driver(user_data_dir: str | Path, width: int = 1500, height: int = 1100) -> Any:
    """A Selenium driver for Debian's headless chromium (``apt-get install chromium chromium-driver``).

    Used by the browser test and ``experiments/screenshots.py``; raises a clear error
    when chromium, chromedriver or selenium (the ``dev`` extra) is missing.
    """
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"{' and '.join(missing)} not found: install them with "
                                "`apt-get install -y chromium chromium-driver` (.ci/run does).")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise ImportError("selenium is not installed: `pip install -e '.[dev]'`.") from exc
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}"]:
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
