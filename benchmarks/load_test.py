"""Load test: concurrent real browser sessions against one `streamlit run` server on loopback.

    python -m benchmarks.load_test [--sessions 8] [--reruns 6] [--soak 200]

Phase 1: ``--sessions`` headless Chromium pages (one browser context each, so each is its own
Streamlit session) open the Explorer at the same time, each on its own test image and block, then
each clicks "Random test image" ``--reruns`` times. After every rerun the page's figures are read
back from the browser (Plotly's own data on the chart elements) and compared with a serial,
single-threaded computation of the same image in this process: the probability bars must be
equal and the mosaics' heatmap levels identical. Rerun latency is click -> finished page.

Phase 2 (soak): one session steps through ``--soak`` different images with the "+" button;
the server's resident memory is sampled every 20 reruns. The script exits 1 on any mismatch,
or if the soak's second half averages more than ``MAX_GROWTH_MB`` above its first.

Bounded in count and time, loopback only. Results go to benchmarks/README.md.
"""

from __future__ import annotations

import asyncio
import sys
import time

import numpy as np

from benchmarks._report import arguments, machine, write_section
from tests.browser import CHROMIUM, CHROMIUM_ARGS, EXPLORER_CHARTS, rss_mb, streamlit_server

MAX_GROWTH_MB = 100  # second-half mean over first-half mean, across the soak

READ_FIGS = """() => {
  const toList = v => ArrayBuffer.isView(v) ? Array.from(v) : Array.isArray(v) ? v.map(toList) : v;
  return [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
    title: (gd.layout && gd.layout.title && gd.layout.title.text) || '',
    data: (gd.data || []).map(t => ({type: t.type, name: t.name, y: t.type === 'bar' ? toList(t.y) : null,
                                     z: t.type === 'heatmap' && t.name ? toList(t.z) : null}))}));
}"""
IDLE = f"""() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {EXPLORER_CHARTS} &&
                !document.querySelector('[data-testid="stStatusWidget"]')"""


class Serial:
    """The reference: the same computation, one image at a time, in this process."""

    def __init__(self) -> None:
        from vggexplorer import load_bundled_test, load_model
        from vggexplorer.model.ladder import DEFAULT_RUNG, DENSE

        self.models = {"dense": load_model(DENSE.path), "pruned": load_model(DEFAULT_RUNG.path)}
        self.split = load_bundled_test()

    def expected(self, idx: int, block: str) -> dict:
        from vggexplorer.views.explorer_model import analyze_image
        from vggexplorer.views.figures import layer_mosaic
        from vggexplorer.views.mosaic import robust

        an = analyze_image(self.models, self.split.images[idx])
        scale = robust(*(an.maps(r, block) for r in self.models))  # the app's default scale
        out = {"probs": {r: an.probs(r).tolist() for r in self.models}}
        for r in self.models:
            fig = layer_mosaic(an.maps(r, block), block, r, scale)  # the levels (z) do not depend on the hover
            out[r] = np.asarray(fig.data[0].z)
        return out


def decode(v) -> np.ndarray:
    """A Plotly array as the browser holds it: a list, or ``{"dtype", "bdata", "shape"}`` (base64)."""
    import base64

    if isinstance(v, dict) and "bdata" in v:
        arr = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return arr.reshape([int(x) for x in str(v["shape"]).split(",")]) if "shape" in v else arr
    return np.asarray(v)


def check(figs: list[dict], exp: dict) -> list[str]:
    """Differences between what the browser shows and the serial computation."""
    import re

    problems = []
    for f in figs:
        f["title"] = re.sub(r"</?b>", "", f["title"])
    bars = [f for f in figs if f["data"] and f["data"][0]["type"] == "bar" and f["data"][0]["name"] == "dense"]
    if not bars:
        return ["no probability chart"]
    for trace in bars[0]["data"]:
        if decode(trace["y"]).tolist() != exp["probs"][trace["name"]]:
            problems.append(f"{trace['name']} probabilities differ")
    for role in ("dense", "pruned"):
        # "dense · conv0 …" or "pruned 55% · conv0 …": the title names the rung
        mos = [f for f in figs if f["title"].split(" · ")[0].split(" ")[0] == role and " · conv" in f["title"]]
        if not mos:
            problems.append(f"no {role} mosaic")
            continue
        if not np.array_equal(decode(mos[0]["data"][0]["z"]), exp[role]):
            problems.append(f"{role} mosaic differs")
    return problems


CAPTION = """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                  .map(e => e.innerText).join(' ')"""


async def caption(page) -> str:
    return await page.evaluate(CAPTION)


async def rerun_done(page, before: str) -> None:
    """Wait until the page shows another image and the script run has finished (no race on the status widget)."""
    await page.wait_for_function(f"() => ({CAPTION})() !== {before!r}", timeout=180_000, polling=20)
    await page.wait_for_function(IDLE, timeout=180_000, polling=20)


async def session(browser, url: str, idx: int, block: str, reruns: int, serial: Serial, lat: list, errors: list):
    ctx = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await ctx.new_page()
    try:
        await page.goto(f"{url}/?img={idx}&block={block}&ch=0")
        await page.wait_for_function(IDLE, timeout=180_000, polling=100)
        for i in range(reruns + 1):
            if i:
                before = await caption(page)
                t0 = time.perf_counter()
                await page.get_by_role("button", name="Random test image").click()
                await rerun_done(page, before)
                lat.append(time.perf_counter() - t0)
            await page.wait_for_timeout(300)
            await page.wait_for_function(IDLE, timeout=180_000, polling=50)
            cap = await caption(page)
            shown = int(cap.split("test image ")[1].split(" ")[0])
            figs = await page.evaluate(READ_FIGS)
            bad = check(figs, serial.expected(shown, block))
            if bad:
                errors.append((idx, i, shown, bad))
    finally:
        await ctx.close()


async def soak(browser, url: str, n: int, pid: int) -> list[tuple[int, float]]:
    ctx = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await ctx.new_page()
    samples = []
    await page.goto(f"{url}/?img=3000&block=conv2&ch=0")
    await page.wait_for_function(IDLE, timeout=180_000, polling=100)
    for i in range(1, n + 1):
        before = await caption(page)
        await page.locator('[data-testid="stNumberInputStepUp"]').first.click()
        await rerun_done(page, before)
        if i % 20 == 0:
            samples.append((i, rss_mb(pid)[0]))
            print(f"soak rerun {i}: server RSS {samples[-1][1]:.0f} MB", flush=True)
    await ctx.close()
    return samples


async def main_async(args) -> None:
    from playwright.async_api import async_playwright

    serial = Serial()
    blocks = [f"conv{i}" for i in range(8)]
    with streamlit_server() as (url, proc):
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            lat: list[float] = []
            errors: list = []
            t0 = time.perf_counter()
            await asyncio.gather(*[session(browser, url, 500 + 1111 * i % 10000, blocks[i % 8], args.reruns, serial,
                                           lat, errors) for i in range(args.sessions)])
            phase1 = time.perf_counter() - t0
            peak1 = rss_mb(proc.pid)[1]
            samples = await soak(browser, url, args.soak, proc.pid) if args.soak else []
            await browser.close()
        _, peak = rss_mb(proc.pid)
    q = np.quantile(lat, [0.5, 0.95]) if lat else [float("nan")] * 2
    # RSS wobbles by tens of MB between samples (allocator, GC): compare the halves' means, and fit a slope
    mb = np.array([m for _, m in samples], dtype=np.float64)
    half = len(mb) // 2
    growth = float(mb[half:].mean() - mb[:half].mean()) if len(mb) >= 4 else float("nan")
    slope = float(np.polyfit([i for i, _ in samples], mb, 1)[0] * 100) if len(mb) >= 4 else float("nan")
    grows = growth > MAX_GROWTH_MB
    body = ["## Load test (`python -m benchmarks.load_test`)", "", f"Machine: {machine()}." + (
                f" {args.note}" if args.note else ""), "",
            f"{args.sessions} concurrent Chromium sessions against one `streamlit run` server, each on its own "
            f"image and block, {args.reruns} reruns each (\"Random test image\"), {len(lat)} reruns in "
            f"{phase1:.0f} s. Every page's probability bars and mosaic levels were read back from the browser and "
            f"compared with a serial computation: **{'all identical' if not errors else f'{len(errors)} mismatches'}**.",
            "",
            "| rerun latency p50 | p95 | server peak RSS (phase 1) | server peak RSS (all) |",
            "|---:|---:|---:|---:|",
            f"| {q[0] * 1e3:.0f} ms | {q[1] * 1e3:.0f} ms | {peak1:.0f} MB | {peak:.0f} MB |", ""]
    if samples:
        body += [f"Soak: one session, {args.soak} reruns on different images; server RSS every 20 reruns (MB): "
                 + ", ".join(f"{m:.0f}" for _, m in samples)
                 + f". Second half against the first (mean of the samples): {growth:+.0f} MB; fitted slope "
                 f"{slope:+.1f} MB per 100 reruns: **{'grows' if grows else 'no growth'}** (limit "
                 f"{MAX_GROWTH_MB} MB; per-image caches are bounded: 32 images)."]
    print("\n".join(body))
    if errors:
        print("MISMATCHES:", errors[:10])
    if not args.no_write:
        write_section("load", "\n".join(body))
    if errors or grows:
        sys.exit(1)


def main() -> None:
    # --note: a sentence on the conditions of the run, e.g. other load on the machine
    asyncio.run(main_async(arguments(__doc__, {"sessions": 8, "reruns": 6, "soak": 200}, "no-write", note="")))


if __name__ == "__main__":
    main()
