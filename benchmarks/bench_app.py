"""App timings: rerun latency on an image change, bytes per figure, start-up and browser draw time.

    python -m benchmarks.bench_app [--changes 15] [--no-browser]

1. Server side (AppTest, in process): the time of the rerun that follows changing the image, with
   both models and every figure of the page; the first rerun of an image is the uncached case.
2. Bytes per figure: the JSON Streamlit sends for each Plotly chart, for every block.
3. Real browser (Debian chromium via Playwright against `streamlit run` on loopback): from
   starting the server to the first complete page, and from clicking "Random test image" to the
   redrawn page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from benchmarks._report import machine, write_section

REPO = Path(__file__).resolve().parent.parent


def server_side(changes: int) -> tuple[list[float], dict[str, dict[str, int]]]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=300)
    at.run()
    times = []
    for i in range(changes):
        t0 = time.perf_counter()
        at.number_input(key="pick_within").set_value(10 + 37 * i).run()
        times.append(time.perf_counter() - t0)
        assert not at.exception, at.exception
    sizes: dict[str, dict[str, int]] = {}
    for block in [f"conv{i}" for i in range(8)]:
        at.sidebar.radio(key="block").set_value(block).run()
        for chart in at.get("plotly_chart"):
            spec = json.loads(chart.proto.spec)
            title = (spec["layout"].get("title") or {}).get("text") or "probabilities"
            title = title.split(" · shared")[0].split(" · per-channel")[0]
            sizes.setdefault(block, {})[title] = len(chart.proto.spec.encode())
    return times, sizes


def _page_done(page) -> float:
    """Wait until the script run has finished and every chart is drawn; return when that first held."""
    idle = """() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 5 &&
                    !document.querySelector('[data-testid="stStatusWidget"]')"""
    while True:
        page.wait_for_function(idle, timeout=120_000, polling=20)
        t = time.perf_counter()
        page.wait_for_timeout(500)  # a late rerun would show the status widget again
        if page.evaluate(idle):
            return t


def browser(changes: int, starts: int = 3) -> tuple[list[float], list[float]]:
    """Cold starts (new server, browser already open, as for a user) and redraws after an image change."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, streamlit_server

    firsts, redraws = [], []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for i in range(starts):
            page = b.new_page(viewport={"width": 1500, "height": 1000})
            t0 = time.perf_counter()
            with streamlit_server() as (url, _):
                page.goto(url + "/?img=6000&block=conv1&ch=0")
                firsts.append(_page_done(page) - t0)
                if i == starts - 1:
                    for _ in range(changes):
                        t1 = time.perf_counter()
                        page.get_by_role("button", name="Random test image").click()
                        page.wait_for_function("() => !!document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                               timeout=60_000, polling=10)
                        redraws.append(_page_done(page) - t1)
            page.close()
        b.close()
    return firsts, redraws


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=15)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    times, sizes = server_side(args.changes)
    med = statistics.median(times)
    largest = max((v, b, t) for b, figs in sizes.items() for t, v in figs.items())
    body = ["## App (`python -m benchmarks.bench_app`)", "", f"Machine: {machine()}.", "",
            f"**Rerun after changing the image** (server side, AppTest, both models, every figure of the page; "
            f"{len(times)} different images, none cached): median **{med * 1e3:.0f} ms**, "
            f"min {min(times) * 1e3:.0f} ms, max {max(times) * 1e3:.0f} ms (target: median <= 300 ms).", "",
            f"**Bytes per figure** (Plotly JSON as sent): largest **{largest[0] / 1024:.0f} KB** "
            f"({largest[2]}, block {largest[1]}; target <= 300 KB).", "",
            "| block | " + " | ".join(["dense mosaic", "pruned mosaic", "similarity strip", "channel view",
                                      "importance", "probabilities"]) + " |",
            "|---|" + "---:|" * 6]
    for b, figs in sizes.items():
        def pick(prefix):
            return next((f"{v / 1024:.0f} KB" for t, v in figs.items() if t.startswith(prefix)), "")
        body.append(f"| {b} | {pick('dense ·')} | {pick('pruned ·')} | {pick(b + ': cosine')} | {pick(b + ' channel')} | "
                    f"{pick('gradient') or pick('exact')} | {pick('probabilities')} |")
    print("\n".join(body), flush=True)
    if not args.no_browser:
        firsts, redraws = browser(max(5, args.changes // 2))
        body += ["", f"**Real browser** (Debian chromium, headless, 1500x1000, already open as a user's would be): "
                     f"from starting `streamlit run` to the first complete page (every chart drawn, script finished): "
                     f"median **{statistics.median(firsts):.1f} s** over {len(firsts)} cold starts "
                     f"({', '.join(f'{t:.1f}' for t in firsts)} s; target <= 5 s). Click on \"Random test image\" to "
                     f"the redrawn page: median **{statistics.median(redraws) * 1e3:.0f} ms** over {len(redraws)} "
                     f"clicks (min {min(redraws) * 1e3:.0f}, max {max(redraws) * 1e3:.0f})."]
        print(body[-1])
    if not args.no_write:
        write_section("app", "\n".join(body))


if __name__ == "__main__":
    main()
