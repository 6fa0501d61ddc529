"""A headless Chromium for tests and benchmarks: Debian's ``chromium`` driven by Selenium through Debian's
``chromium-driver`` (same version, so no driver download), with the network off.

:func:`open_browser` starts one; it is ``None``-free: when the browser or Selenium is missing it raises
:class:`BrowserMissing`, which :func:`browser_or_skip` turns into a skip — or, in CI (``CI`` set), a failure.
The network is off three ways: every host resolves to nothing (``--host-resolver-rules``), a proxy that does not
exist (``--proxy-server``), and DevTools' offline emulation. Console messages are collected from Chrome's
``browser`` log (:func:`console_errors`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


class BrowserMissing(RuntimeError):
    pass


def _first(candidates: tuple[str, ...], name: str) -> str:
    found = next((c for c in candidates if Path(c).exists()), None) or shutil.which(name)
    if not found:
        raise BrowserMissing(f"{name} not found (apt-get install chromium chromium-driver)")
    return found


@contextmanager
def open_browser(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium (a Selenium ``WebDriver``) with the network off; quit on exit."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise BrowserMissing(f"selenium is not installed ({exc}); pip install -e '.[test]'") from None
    options = webdriver.ChromeOptions()
    options.binary_location = _first(CHROMIUM_CANDIDATES, "chromium")
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=_first(DRIVER_CANDIDATES, "chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[str]:
    """The console messages at level SEVERE (errors, failed loads) since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


@contextmanager
def browser_or_skip(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """:func:`open_browser`, or a skip naming what is missing (a failure in CI: the browser tests must run)."""
    import pytest

    try:
        context = open_browser(width, height)
        driver = context.__enter__()
    except BrowserMissing as exc:
        if in_ci():
            pytest.fail(f"headless browser missing in CI: {exc}", pytrace=False)
        pytest.skip(f"headless browser missing: {exc}")
    try:
        yield driver
    finally:
        context.__exit__(None, None, None)
