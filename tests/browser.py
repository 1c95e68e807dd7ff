"""Start `streamlit run` on a loopback port and drive Debian's chromium with Playwright."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("VGGEXPLORER_CHROMIUM", "/usr/bin/chromium")
EXPLORER_CHARTS = 4  # the Explorer's charts when it opens: the probabilities, two mosaics, the channel view
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-gpu", "--no-first-run", "--disable-sync"]


def require_chromium() -> None:
    """Skip the calling test module without chromium (under VGGEXPLORER_REQUIRE_BROWSER=1, as in CI, the skip fails
    the run: tests/conftest.py)."""
    import pytest

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict | None = None, timeout: float = 120, python: str | None = None,
                     script: Path = REPO / "streamlit_app.py"):
    """Yield (base URL, process) of a fresh `streamlit run streamlit_app.py` on 127.0.0.1; stop it afterwards.

    ``python``: the interpreter that runs the server (default: this one), e.g. a venv with a CPU-only torch;
    ``script``: another Streamlit script to serve (a benchmark's floor page).
    """
    port = free_port()
    cmd = [python or sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    log = open(REPO / "runs" / f"streamlit-{port}.log", "w") if (REPO / "runs").is_dir() else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        t0 = time.time()
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() - t0 > timeout:
                raise RuntimeError(f"streamlit did not start on {url} (exit {proc.poll()})")
            time.sleep(0.25)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def browser_page(width: int = 1500, height: int = 1000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_for_app(page, min_charts: int = 1, timeout_ms: int = 120_000) -> None:
    """Wait until the script run has finished: charts drawn and no "running" status widget."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(
        """(n) => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n &&
                 !document.querySelector('[data-testid="stStatusWidget"]')""",
        arg=min_charts, timeout=timeout_ms, polling=200)
    page.wait_for_timeout(500)  # settle: late reruns show the status widget again
    page.wait_for_function("""() => !document.querySelector('[data-testid="stStatusWidget"]')""",
                           timeout=timeout_ms, polling=200)


def no_errors(page) -> None:
    """No traceback and no error alert on the page."""
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').all_inner_texts()
    errs = page.locator('[data-testid="stAlertContentError"]')
    assert errs.count() == 0, errs.all_inner_texts()


def open_page(page, url: str, min_charts: int = EXPLORER_CHARTS) -> None:
    """Load a page, wait for the finished script run, and check it shows no error."""
    page.goto(url)
    wait_for_app(page, min_charts=min_charts)
    no_errors(page)


def texts(page, testid: str) -> list[str]:
    return page.locator(f'[data-testid="{testid}"]').all_inner_texts()


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class ScriptRuns:
    """The script runs the server reports to one page: ``("full" | "fragment", when)`` for each finished run.

    Read from Streamlit's own ``script_finished`` messages on the page's websocket, whose metadata names the
    fragments a run was limited to (none for a full run of the page).
    """

    def __init__(self, page) -> None:
        """Listen on ``page``: make it before the page opens the app (its websocket)."""
        self.finished: list[tuple[str, float]] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload) -> None:
        from google.protobuf.message import DecodeError
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, str):
            return
        msg = ForwardMsg()
        try:
            msg.ParseFromString(payload)
        except DecodeError:
            return
        if msg.WhichOneof("type") == "script_finished":
            self.finished.append(("fragment" if msg.metadata.run.fragment_ids else "full", time.perf_counter()))

    def since(self, t: float) -> list[str]:
        """The kinds of the runs that finished after ``t`` (a ``time.perf_counter()`` reading)."""
        return [kind for kind, when in self.finished if when > t]

    def settled_since(self, page, t: float, timeout_s: float = 120, then_ms: int = 500) -> list[str]:
        """:meth:`since`, once a run has finished after ``t`` and ``then_ms`` more have passed (a second run
        would be counted): what was drawn can show before its run has finished."""
        end = time.perf_counter() + timeout_s
        while not self.since(t) and time.perf_counter() < end:
            page.wait_for_timeout(50)
        page.wait_for_timeout(then_ms)
        return self.since(t)


def click_tile(page, title_prefix: str, channel: int, cols: int = 16, rows: int = 8, tile: int = 32, gap: int = 0) -> None:
    """Click the centre of a channel's tile in the mosaic whose title starts with ``title_prefix``."""
    chart = page.locator(".js-plotly-plot").filter(has_text=title_prefix).first
    box = chart.locator(".nsewdrag").first.bounding_box()
    r, k = divmod(channel, cols)
    x = box["x"] + box["width"] * (k * (tile + gap) + tile / 2) / (cols * (tile + gap) - gap)
    y = box["y"] + box["height"] * (r * (tile + gap) + tile / 2) / (rows * (tile + gap) - gap)
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def open_first_table_row(page, url: str) -> None:
    """Open ``url``, select the first data row of its last table (the checkbox column at the left edge),
    and wait for the page that the selection opens."""
    open_page(page, url, 1)
    grid = page.locator('[data-testid="stDataFrame"]').last
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)
    page.wait_for_url(lambda u: "/explorer" in u, timeout=60_000)
    wait_for_app(page, min_charts=EXPLORER_CHARTS)
    no_errors(page)
