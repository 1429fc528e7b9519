"""What the web tests share (tests/test_web_app.py, tests/test_web_demo.py): a real web_app.py server
process on 127.0.0.1, plain HTTP requests to it, polling for a browser's state, and a headless Chromium
(Debian's chromium and chromium-driver). The `browser` fixture itself lives in conftest.py, so that one
Chromium serves both modules."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import PY, ROOT, stop_process


@contextmanager
def web_server(cfg: Path, cwd: Path, *extra: str) -> Iterator[dict]:
    """web_app.py on a free port (it prints the URL it chose), with `extra` options; yields {"port", "base", "line"}."""
    # stderr to a file, never an unread pipe: a server that logs much would block once the pipe is full
    err = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen([PY, str(ROOT / "web_app.py"), "--config", str(cfg), "--port", "0", "--refresh", "1", *extra],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=err, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})

    def log() -> str:
        err.seek(0)
        return err.read()

    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, (line, log())
        yield {"port": int(match.group(1)), "base": f"http://127.0.0.1:{match.group(1)}", "line": line, "log": log}
    finally:
        stop_process(proc, timeout=20)
        err.close()


def get(server, path: str, headers: dict | None = None, method: str = "GET", body: str | None = None):
    """One HTTP request; returns (status, headers with lower-case names, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def wait_for(check, timeout: float = 30.0):
    """Poll `check` until it returns something truthy (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def chromium_available() -> bool:
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


@contextmanager
def chromium(*extra: str) -> Iterator:
    """A headless Chromium driven by selenium (media autoplay allowed and muted), with `extra` switches."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver_path):
        raise RuntimeError("chromium and chromedriver are not on PATH (scripts/setup.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio", *extra):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
