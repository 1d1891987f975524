"""The browser of the end-to-end tests: a headless Chromium for each module, whose tests open their pages in
contexts of their own (`browser.new_page()`). One for each module, not one for the run: Playwright's synchronous
API keeps an event loop running in the test process's thread while it is open, and the tiers after this one run
asyncio.run() there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from system_packages import CHROMIUM, require_system_packages

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_system_packages("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()
