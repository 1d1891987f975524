"""System packages some tests need: locally a missing one skips the test, naming what to install; in CI it fails."""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess

import pytest

#: In CI the tests that need system packages must run too: a missing package fails them.
SYSTEM_PACKAGES_REQUIRED = bool(os.environ.get("CI") or os.environ.get("RECTIFY_REQUIRE_SYSTEM_PACKAGES"))
CHROMIUM = "/usr/bin/chromium"


def _has_cjk_font() -> bool:
    if shutil.which("fc-list") is None:
        return False
    listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False)
    return bool(listed.stdout.strip())


#: Debian packages some tests need, each with how to tell it is there.
SYSTEM_PACKAGES = {
    "fonts-noto-cjk": _has_cjk_font,
    "libharfbuzz-subset0": lambda: ctypes.util.find_library("harfbuzz-subset") is not None,
    "poppler-utils": lambda: shutil.which("pdftotext") is not None,
    "chromium": lambda: os.access(CHROMIUM, os.X_OK),
}


def require_system_packages(*packages: str) -> None:
    """Skips the test (fails it in CI) unless these Debian packages are installed, naming what to install."""
    missing = [package for package in packages if not SYSTEM_PACKAGES[package]()]
    if missing:
        problem = f"needs the system packages {', '.join(missing)} (apt-get install {' '.join(missing)})"
        if SYSTEM_PACKAGES_REQUIRED:
            pytest.fail(problem + "; CI installs them")
        pytest.skip(problem)
