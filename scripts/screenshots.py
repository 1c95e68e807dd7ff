"""Screenshots of the app for the README, taken in a real browser on the shipped checkpoints.

    python -m scripts.screenshots            # writes docs/*.png

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
    main()
