"""Open a report in headless Chromium (Debian's chromium + chromedriver) and read what a reader sees."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = "" if CHROMIUM and CHROMEDRIVER else "headless Chromium needs the chromium and chromium-driver packages"
WIDTH, HEIGHT = 1300, 900

_PAGE_STATE = """
const charts = Array.from(document.querySelectorAll('.js-plotly-plot'));
const summary = document.querySelector('#summary-box');
return {
  inner_width: window.innerWidth, inner_height: window.innerHeight,
  scroll_width: document.documentElement.scrollWidth,
  summary_top: summary ? summary.getBoundingClientRect().top : null,
  first_heading: (document.querySelector('h2') || {}).textContent || null,
  figures: document.querySelectorAll('figure.chart').length,
  charts: charts.map(c => (c.data || []).map(t => {
    const n = v => (v && v.length !== undefined) ? v.length : 0;
    return Math.max(n(t.x), n(t.y), n(t.z));
  })),
  tables: document.querySelectorAll('table').length,
  table_overflows: Array.from(document.querySelectorAll('table')).filter(
    t => t.closest('.table-wrap').getBoundingClientRect().right > window.innerWidth + 1).length,
};
"""


@dataclass
class PageCheck:
    """What the browser saw: console messages, network requests, layout and charts."""

    errors: list[str]
    requests: list[str]
    state: dict[str, Any]


class Browser:
    """One headless Chromium for many pages; the system chromedriver, never a download."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    f"--window-size={WIDTH},{HEIGHT}", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-default-apps", "--disable-sync"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.set_window_size(WIDTH, HEIGHT)

    def check(self, page: Path) -> PageCheck:
        driver = self.driver
        driver.get_log("browser"), driver.get_log("performance")  # drop what earlier pages left
        url = page.resolve().as_uri()
        driver.get(url)
        driver.execute_script(f"window.resizeTo({WIDTH}, {HEIGHT});")
        state = driver.execute_script(_PAGE_STATE)
        if state["inner_height"] != HEIGHT:  # headless windows include no browser chrome; be exact
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
            state = driver.execute_script(_PAGE_STATE)
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        requests = []
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                requests.append(message["params"]["request"]["url"])
        return PageCheck(errors, [r for r in requests if r != url and not r.startswith("data:")], state)

    def close(self) -> None:
        self.driver.quit()
