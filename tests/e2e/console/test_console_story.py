"""The web console in a real browser: logging in and out, deploying a zip through the file
input, changing a function's memory, and what an invoke key is shown.

Headless Chromium (selenium) against ``faas serve`` on the process backend, with an
admin key and an invoke key for one function (``conftest``). Each story reads what a
user sees on the page, and checks what changed through the REST API.
"""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from tests.e2e.console.browsing import HELLO, deployed, field, log_in, wait
from tests.e2e.console.conftest import ADMIN, INVOKE, ITS_FUNCTION
from tests.helpers import Server, handler_zip

pytestmark = pytest.mark.process


def test_a_wrong_key_is_refused_the_right_one_logs_in_and_out(
    page: WebDriver, console_server: Server
) -> None:
    # Given a user who opens the console without a session
    page.get(console_server.url + "/ui/functions")
    wait(page, lambda p: "/ui/login" in p.current_url, "the login form")

    # When they type a key that is no key of the server
    field(page, "API key").send_keys("not-a-key-of-this-server")
    page.find_element(By.XPATH, "//button[normalize-space()='Log in']").click()

    # Then the form says so, and nothing opened
    error = wait(page, lambda p: p.find_elements(By.ID, "key-error"), "the login's error")
    assert "not a key of this server" in error[0].text  # type: ignore[index]
    assert page.get_cookie("faas_session") is None

    # When they log in with the admin key: the functions list they asked for
    field(page, "API key").send_keys(ADMIN)
    page.find_element(By.XPATH, "//button[normalize-space()='Log in']").click()
    wait(page, lambda p: p.current_url.endswith("/ui/functions"), "the functions list")
    assert page.find_element(By.TAG_NAME, "h1").text == "Functions"
    assert "(admin key)" in page.find_element(By.CLASS_NAME, "who").text

    # When they log out, the console is closed again
    page.find_element(By.XPATH, "//button[normalize-space()='Log out']").click()
    wait(page, lambda p: "/ui/login" in p.current_url, "the login form after logging out")
    page.get(console_server.url + "/ui/functions")
    wait(page, lambda p: "/ui/login" in p.current_url, "the login form, the session gone")


def test_a_zip_deployed_through_the_file_input_lands_on_its_page(
    page: WebDriver, console_server: Server, admin_api: httpx.Client, tmp_path: Path
) -> None:
    # Given a zip on the user's disk, and the admin logged in
    code = tmp_path / "hello.zip"
    code.write_bytes(handler_zip(HELLO))
    log_in(page, console_server, ADMIN)

    # When they create a function from it
    page.find_element(By.LINK_TEXT, "Create function").click()
    wait(page, lambda p: p.current_url.endswith("/ui/functions/new"), "the create form")
    field(page, "Name").send_keys("hello-console")
    field(page, "Code (a zip)").send_keys(str(code))
    page.find_element(By.XPATH, "//button[normalize-space()='Create function']").click()

    # Then they land on its page, and the function runs the zip they chose
    wait(page, lambda p: p.current_url.endswith("/ui/functions/hello-console"), "its page")
    assert page.find_element(By.TAG_NAME, "h1").text == "hello-console"
    answer = admin_api.post("/v1/functions/hello-console/invoke", json={"name": "console"})
    assert answer.status_code == 200 and answer.json() == {"hello": "console"}


def test_a_refused_name_is_shown_by_its_field(
    page: WebDriver, console_server: Server, tmp_path: Path
) -> None:
    code = tmp_path / "hello.zip"
    code.write_bytes(handler_zip(HELLO))
    log_in(page, console_server, ADMIN)
    page.get(console_server.url + "/ui/functions/new")
    field(page, "Name").send_keys("no spaces allowed")
    page.execute_script("document.getElementById('name').removeAttribute('pattern')")
    field(page, "Code (a zip)").send_keys(str(code))
    page.find_element(By.XPATH, "//button[normalize-space()='Create function']").click()
    error = wait(page, lambda p: p.find_elements(By.ID, "name-error"), "the name's error")
    assert "name must be a name of 1-64 letters" in error[0].text  # type: ignore[index]
    assert page.current_url.endswith("/ui/functions/new")


def test_the_memory_size_edited_is_saved(
    page: WebDriver, console_server: Server, admin_api: httpx.Client
) -> None:
    # Given a function of 128 MB
    deployed(admin_api, "resizer")
    log_in(page, console_server, ADMIN)

    # When the admin sets its memory to 512 MB on its Configuration tab
    page.get(console_server.url + "/ui/functions/resizer")
    page.find_element(By.LINK_TEXT, "Configuration").click()
    memory = field(page, "Memory (MB)")
    memory.clear()
    memory.send_keys("512")
    general = page.find_element(By.ID, "cfg-general")
    general.find_element(By.XPATH, ".//button[normalize-space()='Save']").click()

    # Then the section says it is saved, a reload shows it, and the function has it
    wait(page, lambda p: "Saved." in p.find_element(By.ID, "cfg-general").text, "Saved.")
    page.refresh()
    assert field(page, "Memory (MB)").get_attribute("value") == "512"
    assert admin_api.get("/v1/functions/resizer").json()["memory_mb"] == 512


def test_an_invoke_key_sees_only_its_function_and_no_change_controls(
    page: WebDriver, console_server: Server, admin_api: httpx.Client
) -> None:
    # Given two functions, and a key that may invoke one of them
    deployed(admin_api, ITS_FUNCTION)
    deployed(admin_api, "payroll")
    log_in(page, console_server, INVOKE)

    # Then the list shows its function only, and nothing to create
    names = [a.text for a in page.find_elements(By.CSS_SELECTOR, "table.functions tbody th a")]
    assert names == [ITS_FUNCTION]
    assert not page.find_elements(By.LINK_TEXT, "Create function")

    # And its function's pages offer nothing to change
    page.find_element(By.LINK_TEXT, ITS_FUNCTION).click()
    assert not page.find_elements(By.XPATH, "//*[contains(., 'Delete this function')]")
    page.find_element(By.LINK_TEXT, "Configuration").click()
    main = page.find_element(By.TAG_NAME, "main")
    assert "128 MB" in main.text
    assert not main.find_elements(By.TAG_NAME, "form")
    assert not main.find_elements(By.CSS_SELECTOR, "input[type=file]")

    # And another function is not there for it
    page.get(console_server.url + "/ui/functions/payroll")
    assert page.find_element(By.TAG_NAME, "h1").text == "Not found"


DROP_ZIP = """
const [b64, zoneSelector] = arguments;
const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
const file = new File([bytes], "dropped.zip", {type: "application/zip"});
const data = new DataTransfer();
data.items.add(file);
const zone = document.querySelector(zoneSelector);
const how = {dataTransfer: data, bubbles: true, cancelable: true};
zone.dispatchEvent(new DragEvent("dragover", how));
zone.dispatchEvent(new DragEvent("drop", how));
window.uploadProgress = [];
document.addEventListener("htmx:xhr:progress", e => window.uploadProgress.push(
    [e.detail.loaded, e.detail.total, document.querySelector("progress.upload").value]));
"""


def test_a_zip_dropped_on_the_configuration_tab_replaces_the_code_with_progress(
    page: WebDriver, console_server: Server, admin_api: httpx.Client
) -> None:
    # Given a function, and a new version of its code on the user's disk
    deployed(admin_api, "dropper")
    new_code = handler_zip("def handler(event, context):\n    return {'version': 2}\n")
    log_in(page, console_server, ADMIN)
    page.get(console_server.url + "/ui/functions/dropper/configuration")

    # When they drop the zip on the drop zone and upload it
    page.execute_script(DROP_ZIP, base64.b64encode(new_code).decode(), ".drop-zone")
    assert page.find_element(By.CSS_SELECTOR, ".drop-zone p").text == "dropped.zip"
    code = page.find_element(By.ID, "cfg-code")
    code.find_element(By.XPATH, ".//button[normalize-space()='Upload new code']").click()

    # Then the section says so, the progress bar moved to the whole upload, and the
    # function runs the new code
    wait(page, lambda p: "New code uploaded." in p.find_element(By.ID, "cfg-code").text, "done")
    progress = page.execute_script("return window.uploadProgress")
    assert progress, "no upload progress event"
    assert any(loaded == total and bar == 100 for loaded, total, bar in progress), progress
    answer = admin_api.post("/v1/functions/dropper/invoke", json={})
    assert answer.json() == {"version": 2}


def test_a_keyboard_alone_logs_in_and_opens_a_function(
    page: WebDriver, console_server: Server, admin_api: httpx.Client
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    deployed(admin_api, "keyboarded")
    page.get(console_server.url + "/ui/login")
    keys = ActionChains(page)

    def focused() -> WebElement:
        return page.switch_to.active_element

    # The key field has the focus at once; typing and Enter log in
    assert focused().get_attribute("id") == "key"
    keys.send_keys(ADMIN, Keys.ENTER).perform()
    wait(page, lambda p: p.current_url.endswith("/ui/functions"), "the functions list")

    # Tab first reaches "Skip to content", shown while it has the focus
    keys.send_keys(Keys.TAB).perform()
    assert focused().text == "Skip to content" and focused().is_displayed()

    # Tabbing on reaches the function's link; Enter opens its page
    for _ in range(30):
        keys.send_keys(Keys.TAB).perform()
        if focused().text == "keyboarded":
            break
    assert focused().text == "keyboarded", "the function's link is never focused"
    outline = page.execute_script("return getComputedStyle(arguments[0]).outlineStyle", focused())
    assert outline == "solid", "the focus is not visible"
    keys.send_keys(Keys.ENTER).perform()
    wait(page, lambda p: p.current_url.endswith("/ui/functions/keyboarded"), "its page")
