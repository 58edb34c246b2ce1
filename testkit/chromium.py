"""The browser the end-to-end tests and tools/screenshots.py drive: Debian's Chromium."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("KEYTURN_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
