"""The browser of the end-to-end tests: one headless Chromium per test process, launched for the first module that
asks for it. Each test still opens its pages in a context of their own (`browser.new_page()`), so no cookie, storage
or cache passes from one test or module to the next; a launch costs about a second of CPU."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from system_packages import CHROMIUM, require_system_packages

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    require_system_packages("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()
