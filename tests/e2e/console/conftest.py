"""The console's stories: one ``faas serve`` (process backend, with keys) and one headless
Chromium for the whole module, driven by selenium.

Chromium is Debian's (``/usr/bin/chromium``, its ``/usr/bin/chromedriver``): CI installs
both (``.ci/run``), so a missing one fails the story rather than skipping it. Selenium
Manager is never asked (it would download): the paths are given.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from selenium.webdriver.remote.webdriver import WebDriver

from tests.conftest import _end_process_sandboxes, make_data_dir
from tests.helpers import Server, free_port

CHROMIUM = os.environ.get("FAAS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FAAS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
ADMIN = "console-admin-key-0123456789"
INVOKE = "console-invoke-key-0123456789"
# The invoke key may invoke this function only.
ITS_FUNCTION = "greeter"
WAIT_S = 15


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium at 1280x800, shared by every console story of the session."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            pytest.fail(f"{path} is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--window-size=1280,800", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--disable-dev-shm-usage")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def console_server(
    redis_url: str, node_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``faas serve`` with an admin key and an invoke key for one function."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    data_dir = make_data_dir()
    env = {
        "FAAS_REDIS_URL": redis_url,
        "FAAS_DATA_DIR": str(data_dir),
        "FAAS_PORT": str(free_port()),
        "FAAS_NODE_ID": node_id,
        "FAAS_BACKEND": "process",
        "FAAS_ADMIN_KEY": ADMIN,
        "FAAS_INVOKE_KEYS": f"{INVOKE}:{ITS_FUNCTION}",
    }
    server = Server(env, tmp_path_factory.mktemp("console") / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        left = _end_process_sandboxes(data_dir / "sockets")
        shutil.rmtree(data_dir, ignore_errors=True)
        assert not left, f"process sandboxes left behind: {left}"


@pytest.fixture(scope="module")
def admin_api(console_server: Server) -> Iterator[httpx.Client]:
    """The REST API with the admin key: how a story sets up and checks what the browser did."""
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=console_server.url, timeout=60, headers=headers) as client:
        yield client


@pytest.fixture
def page(browser: WebDriver, console_server: Server) -> WebDriver:
    """The browser, logged out, at the server (each story starts without a session)."""
    browser.get(console_server.url + "/ui/login")
    browser.delete_all_cookies()
    return browser
