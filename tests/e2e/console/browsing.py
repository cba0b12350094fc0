"""What a console story does in the browser, as its user does: wait for what the page shows,
find a field by its label and a button by its text, log in; and deploy a function through
the REST API, as another client would behind the page's back."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from tests.e2e.console.conftest import ADMIN, WAIT_S
from tests.helpers import Server, handler_zip, upload

HELLO = "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"


def wait(page: WebDriver, until: Callable[[WebDriver], object], what: str) -> object:
    """``until``'s first true answer; an element htmx swapped meanwhile is looked up again."""
    waiting = WebDriverWait(page, WAIT_S, ignored_exceptions=(StaleElementReferenceException,))
    return waiting.until(until, message=f"waited {WAIT_S} s for {what}")


def field(scope: WebDriver | WebElement, label: str) -> WebElement:
    """The form field a visible label names, within ``scope`` (as a user finds it)."""
    found = scope.find_element(By.XPATH, f".//label[normalize-space()={label!r}]")
    return scope.find_element(By.ID, found.get_attribute("for") or "")


def button(scope: WebDriver | WebElement, text: str) -> WebElement:
    return scope.find_element(By.XPATH, f".//button[normalize-space()={text!r}]")


def log_in(page: WebDriver, server: Server, key: str = ADMIN) -> None:
    page.get(server.url + "/ui/login")
    field(page, "API key").send_keys(key)
    button(page, "Log in").click()
    wait(page, lambda p: "/ui/login" not in p.current_url, "the console after logging in")


def deployed(api: httpx.Client, name: str, source: str = HELLO) -> None:
    """Function ``name`` of ``source`` (a handler), created unless it exists."""
    response = upload(api, name, handler_zip(source))
    assert response.status_code in (201, 409), response.text
