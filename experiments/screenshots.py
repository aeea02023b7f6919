"""Screenshots of every dashboard page (docs/screenshots/*.png), taken with headless chromium.

    python experiments/screenshots.py                 # demo runs (+ fixture runs for kinds they lack)
    python experiments/screenshots.py --runs runs     # an existing runs folder as it is

Without ``--runs`` it runs ``interp demo`` on a small slice into a temporary folder
and adds, for any kind the demo does not write yet, the seeded fixture run the
dashboard tests use (tests/apps/fixture_runs.py), so every page has something to
show. It starts ``streamlit run`` on a free localhost port, opens each page with
the view given in its URL, waits for it to render, and saves a PNG. The screenshots
are recorded as a ``screenshots`` run. Needs chromium + chromedriver and selenium.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def fill_runs(root: Path, max_seqs: int) -> list[str]:
    """Demo runs, plus fixture runs for the kinds the demo did not write; returns the kinds faked."""
    from interp.demo import run_demo
    from interp.runs import list_runs

    run_demo(max_seqs=max_seqs, runs_root=root)
    sys.path.insert(0, str(ROOT / "tests" / "apps"))
    import fixture_runs

    have = {r.kind for r in list_runs(root)}
    faked = [k for k in fixture_runs.BUILDERS if k not in have]
    fixture_runs.make_all(root, faked)
    return faked


def views(root: Path) -> dict[str, tuple[str, str]]:
    """Page name → (URL path and query of the view to capture, CSS selector that shows it rendered)."""
    import numpy as np

    from interp.runs import list_runs

    def ref(kind: str) -> str | None:
        runs = list_runs(root, kind=kind)
        return f"{kind}/{runs[0].name}" if runs else None

    plot = ".js-plotly-plot"
    out = {"runs": (f"?run={ref('sae')}" if ref("sae") else "", '[data-testid="stDataFrame"]'),
           "attention": ("attention?model=toy:toylm&layer=1&head=2", plot)}
    if ref("sae"):
        run = list_runs(root, kind="sae")[0]
        f = run.read_tensors("features")
        feature = int(np.argsort(-f["max_act"].numpy())[min(2, len(f["max_act"]) - 1)])
        out["features"] = (f"features?run={ref('sae')}&feature={feature}", "span.tok")
    for page, kind in (("sinks", "sinks"), ("circuits", "circuit"), ("probes", "probe"), ("graphs", "graph")):
        if ref(kind):
            out[page] = (f"{page}?run={ref(kind)}", plot)
    return out


def wait_rendered(driver, selector: str, timeout: float = 180.0) -> None:
    """Until ``selector`` is on the page, no spinner or running indicator shows, and the page stops changing."""
    from selenium.webdriver.common.by import By

    busy = '[data-testid="stStatusWidget"], [data-testid="stSpinner"]'
    deadline, last, stable = time.monotonic() + timeout, -1, 0
    time.sleep(2)
    while time.monotonic() < deadline:
        ready = driver.find_elements(By.CSS_SELECTOR, selector) and not driver.find_elements(By.CSS_SELECTOR, busy)
        n = len(driver.find_elements(By.CSS_SELECTOR, "*"))
        stable = stable + 1 if (ready and n == last) else 0
        if stable >= 3:
            time.sleep(1)
            return
        last = n
        time.sleep(0.7)
    raise TimeoutError(f"the page did not finish rendering ({selector!r} never settled)")


def main(argv: list[str] | None = None) -> int:
    from interp.dashboard_cli import chromium_driver, free_port, start_server, wait_until_up
    from interp.runs import start_run

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", help="runs folder to show as it is (default: fresh demo + fixture runs)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--max-seqs", type=int, default=32, help="demo size when --runs is not given")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=1600)
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="interp-shots-"))
    root = Path(args.runs) if args.runs else tmp / "runs"
    faked = [] if args.runs else fill_runs(root, args.max_seqs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pages = views(root)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = {"runs": str(root), "pages": pages, "fixture_kinds": faked, "width": args.width, "height": args.height}
    with start_run("screenshots", config, slug="dashboard", root=root) as run:
        server = start_server(root, port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        driver = None
        try:
            wait_until_up(url, server)
            driver = chromium_driver(tmp / "profile", args.width, args.height)
            for name, (view, selector) in pages.items():
                driver.get(f"{url}/{view}")
                wait_rendered(driver, selector)
                path = out / f"{name}.png"
                driver.save_screenshot(str(path))
                shutil.copy(path, run.path / path.name)
                run.add_artifact(name, path.name)
                print(f"  {name}: {url}/{view} -> {path}")
        finally:
            if driver is not None:
                driver.quit()
            server.terminate()
            server.wait(timeout=15)
        run.metrics["pages"] = len(pages)
    print(f"{len(pages)} screenshots in {out}" + (f" (fixture runs for {', '.join(faked)})" if faked else "")
          + f"; run: {run.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
