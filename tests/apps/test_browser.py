"""A real browser on a real server: `streamlit run` + headless Debian chromium on the Features and Graphs pages.

Needs chromium and chromedriver (`apt-get install -y chromium chromium-driver`; .ci/run
installs them). Without them this test fails with that instruction: it never skips.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlparse

import fixture_runs
from fixture_runs import SAE_TOKEN, WORDS
from interp.dashboard_cli import chromium_driver, free_port, start_server, wait_until_up
from interp.runs import runs_root


@contextlib.contextmanager
def browser(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    """``(driver, url)``: `streamlit run` on the test's runs folder and headless chromium, both stopped after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "server.log", "w")
    server = start_server(runs_root(), port, stdout=log, stderr=subprocess.STDOUT)
    driver = None
    try:
        wait_until_up(url, server)
        driver = chromium_driver(tmp_path / "chromium-profile")
        yield driver, url
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_features_page_in_chromium(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    run = fixture_runs.sae_run(runs_root())
    newer = fixture_runs.sae_run(runs_root(), seed=1)  # the page's default; the links must pick `run`
    assert newer.name != run.name
    feature = 6
    word = WORDS[SAE_TOKEN[feature]].strip()
    with browser(tmp_path) as (driver, url):
        driver.get(f"{url}/features?run=sae/{run.name}&feature={feature}")
        wait = WebDriverWait(driver, 90)
        # Streamlit renders st.html in the page itself; the top contexts are spans with the token text
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "span.tok")))
        wait.until(lambda d: any(t.text.strip() == word for t in d.find_elements(By.CSS_SELECTOR, "span.tok")))
        visible = [t for t in driver.find_elements(By.CSS_SELECTOR, "span.tok")
                   if t.text.strip() == word and t.is_displayed()]
        assert len(visible) >= 5, "the feature's top contexts should show its centre token in every row"
        hover = visible[0].get_attribute("title")
        assert hover.startswith(repr(WORDS[SAE_TOKEN[feature]])) and float(hover.rsplit(": ", 1)[1]) > 0
        assert f"Feature {feature}" in driver.find_element(By.TAG_NAME, "body").text
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot"))
        shot = tmp_path / "features.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000

        # One click from the Runs page (the run's details, linked by URL) to the page that shows it.
        driver.get(f"{url}/?run=sae/{run.name}")
        link = wait.until(EC.element_to_be_clickable((By.PARTIAL_LINK_TEXT, "Open on the Features page")))
        link.click()

        def on_features(d) -> bool:
            u = urlparse(d.current_url)
            return u.path.endswith("/features") and parse_qs(u.query).get("run") == [f"sae/{run.name}"]

        wait.until(on_features)
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "span.tok")))
        # once the page has run it writes its state back to the URL: still this run (not the newer
        # default), plus the feature it shows
        wait.until(lambda d: "feature" in parse_qs(urlparse(d.current_url).query))
        assert on_features(driver), driver.current_url


def test_graphs_page_in_chromium(tmp_path):
    """The Graphs page draws its plotly graph in a real browser, with no error, and a click on a feature opens it."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from interp.graphs.run import read_graph

    run = fixture_runs.graph_run(runs_root())
    graph, extra = read_graph(run)
    kept = [int(i) for i in extra["node_keep"][: graph.n_feat].nonzero().flatten()]
    with browser(tmp_path) as (driver, url):
        driver.get(f"{url}/graphs?run=graph/{run.name}")
        wait = WebDriverWait(driver, 90)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer .trace"))
        wait.until(lambda d: "Incoming edges" in d.find_element(By.TAG_NAME, "body").text)
        body = driver.find_element(By.TAG_NAME, "body").text
        assert f"Prompt: {fixture_runs.GRAPH_PROMPT}" in body
        # the figure's own data, as plotly.js holds it: every kept feature is a point of the "features" trace
        names = driver.execute_script(
            "return document.querySelector('.js-plotly-plot').data.map(t => t.name);")
        assert "features" in names and "positive edge" in names and "logits" in names
        f = names.index("features")
        points = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer .trace")[f] \
            .find_elements(By.CSS_SELECTOR, ".point")
        assert len(points) == len(kept)
        assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContainer"], '
                                                         '[data-testid="stException"]'), "the page shows an error"
        shot = tmp_path / "graphs.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000

        # a click on a feature point selects it: the URL's node and the panel's title follow
        before = parse_qs(urlparse(driver.current_url).query).get("node")
        target = next(i for i, n in enumerate(kept) if [str(n)] != before)
        ActionChains(driver).move_to_element(points[target]).click().perform()
        wait.until(lambda d: parse_qs(urlparse(d.current_url).query).get("node") == [str(kept[target])])
        wait.until(lambda d: graph.label(kept[target]) in d.find_element(By.TAG_NAME, "body").text)
