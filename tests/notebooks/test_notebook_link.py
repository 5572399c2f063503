"""Notebook 01 as a person uses it: its Authorize link, clicked in a real browser (headless Chromium),
logs in, allows, and lands on the receiver the notebook runs — which completes the linking, so the next
cell carries on without the sandbox playing the user. And `make notebook`'s JupyterLab serves the folder."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM) and os.environ.get("CI") != "true",
                    reason="Debian chromium is not installed (make test installs it when run as root)")
async def test_clicking_the_authorize_link_in_notebook_01(tmp_path, monkeypatch):
    from playwright.async_api import async_playwright

    for key in [k for k in os.environ if k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("NOTEBOOK_CLICK_WAIT", "60")  # the cell waits for our click, not the sandbox
    nb = nbformat.read(NOTEBOOKS / "01_quickstart.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    link_cell = next(i for i in code if "Authorize" in nb.cells[i].source and "display(HTML" in nb.cells[i].source)
    async with client.async_setup_kernel():
        for index in [i for i in code if i <= link_cell]:
            await client.async_execute_cell(nb.cells[index], index)
        html = "".join(out.get("data", {}).get("text/html", "") for out in nb.cells[link_cell].outputs)
        href = re.search(r'href="([^"]+)"', html).group(1).replace("&amp;", "&")

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = await browser.new_page()
            await page.goto(href)
            await page.fill("input[name=email]", "alice@example.com")
            await page.fill("input[name=password]", "sandbox")
            await page.click("button[type=submit]")
            await page.wait_for_selector("#allow")
            await page.click("#allow")
            await page.wait_for_selector("h1")
            landed = await page.inner_text("body")
            await browser.close()
        assert landed.startswith("Access granted") and "Google Calendar is connected." in landed
        assert "Back to the notebook" in landed and "return to the notebook" in landed
        assert "refused" not in landed.lower()

        for index in [i for i in code if i > link_cell]:
            await client.async_execute_cell(nb.cells[index], index)
    text = "\n".join(out.get("text", "") for i in code for out in nb.cells[i].outputs)
    assert "linking: authorized" in text and "Team standup" in text


def test_make_notebook_serves_the_notebooks_folder(tmp_path):
    """What `make notebook` runs (`jupyter lab --notebook-dir=notebooks`), without a browser."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    jupyter = str(Path(sys.executable).parent / "jupyter")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path), JUPYTER_CONFIG_DIR=str(tmp_path))
    proc = subprocess.Popen([jupyter, "lab", "--no-browser", f"--port={port}", "--IdentityProvider.token=t0k",
                             f"--notebook-dir={NOTEBOOKS}", *(["--allow-root"] if os.geteuid() == 0 else [])], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                listing = httpx.get(f"http://127.0.0.1:{port}/api/contents", params={"token": "t0k"}, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("JupyterLab did not start")
        names = {item["name"] for item in listing.json()["content"]}
        assert {"01_quickstart.ipynb", "02_langgraph_server.ipynb", "03_real_tenant.ipynb"} <= names
        assert httpx.get(f"http://127.0.0.1:{port}/lab", params={"token": "t0k"}, timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(20)
