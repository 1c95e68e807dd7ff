"""Screenshots of the app for the README, taken in a real browser on the shipped checkpoints.

    python -m scripts.screenshots            # writes docs/*.png of the shipped ladder
    python -m scripts.screenshots --own      # docs/own-*.png: your own ladder, while and after its scan

Each view is opened from a link, as a user would, and captured once its script run has finished.
"""

from __future__ import annotations

from tests.browser import EXPLORER_CHARTS, REPO, browser_page, open_page, streamlit_server
from ui.state import PANELS

DOCS = REPO / "docs"

# (file, URL path and query, charts to wait for, what to capture: a heading's text, or None for the viewport)
VIEWS = [
    ("screenshot.png", "/explorer?img=6000&block=conv1&ch=17&pruned=55", EXPLORER_CHARTS, None),
    ("ladder-row.png", "/explorer?img=6000&block=conv7&ch=5&pruned=95&panel=ladder", 5, PANELS["ladder"]),
    ("dead-filters.png", "/dead-filters?pruned=95", 2, None),
    ("disagreements.png", "/disagreements?pruned=95", 2, None),
    ("models.png", "/models?pruned=95", 2, None),
    # the renders come from the disk cache: fill it first (python -m vggexplorer render --cache --block conv3
    # --channels 5, and --block conv7 --channels 5), or these wait for the background render
    ("looks-for-conv3.png", "/explorer?img=6000&block=conv3&ch=5&pruned=95&panel=looks-for", EXPLORER_CHARTS - 1,
     PANELS["looks-for"]),
    ("looks-for-conv7.png", "/explorer?img=6000&block=conv7&ch=5&pruned=95&panel=looks-for", EXPLORER_CHARTS - 1,
     PANELS["looks-for"]),
]


# your own ladder (scripts/make_student_ladder.py), opened with VGGEXPLORER_MODELS on a fresh scan cache
OWN_LADDER = REPO / "runs" / "student-ladder"


def own_ladder() -> None:
    """docs/own-progress.png while the quick pass runs, docs/own-dead-filters.png once it has filled the page."""
    import shutil
    import subprocess
    import sys

    if not OWN_LADDER.exists():
        subprocess.run([sys.executable, str(REPO / "scripts" / "make_student_ladder.py"), str(OWN_LADDER)], check=True)
    cache = REPO / "runs" / "screenshot-cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = {"VGGEXPLORER_MODELS": str(OWN_LADDER), "VGGEXPLORER_CACHE": str(cache)}
    with streamlit_server(env=env) as (url, _), browser_page(1400, 900) as page:
        page.goto(url + "/dead-filters?pruned=90")
        page.wait_for_selector('[data-testid="stProgress"]', timeout=120_000)
        page.wait_for_function("() => /of 1,000 images/.test(document.body.innerText)", timeout=300_000, polling=200)
        page.screenshot(path=str(DOCS / "own-progress.png"))
        print("wrote docs/own-progress.png")
        page.wait_for_function("() => document.body.innerText.includes('weight-dead ·')", timeout=300_000, polling=500)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(DOCS / "own-dead-filters.png"))
        print("wrote docs/own-dead-filters.png")


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    with streamlit_server() as (url, _), browser_page(1400, 1000) as page:
        for name, path, charts, anchor in VIEWS:
            open_page(page, url + path, charts)
            if anchor is None:
                page.screenshot(path=str(DOCS / name))
            else:
                page.get_by_text(anchor, exact=True).first.evaluate("e => e.scrollIntoView({block: 'start'})")
                page.wait_for_timeout(800)
                page.screenshot(path=str(DOCS / name))
            print(f"wrote docs/{name}")


if __name__ == "__main__":
    import sys

    own_ladder() if "--own" in sys.argv else main()
