"""The Explorer's panel "What this channel looks for" (layout only).

One row: the chosen channel's render in dense and every rung of the ladder, each with what it reaches and what the
channel's best test image reaches; beside it, the channel's top test images for dense and the chosen rung, cropped
to its receptive field at its peak. The words and numbers come from :mod:`vggexplorer.views.looks_for`.

Renders are read from the disk cache (:mod:`vggexplorer.views.render_cache`, shared by every session and process).
What is missing is rendered once per process by a background job (:mod:`ui.jobs`; a session asking for the same
channel joins it): the session draws the job's progress in a fragment that polls every second, and reruns the page
once it is done, so no session's script waits for a render.
"""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from vggexplorer.model.ladder import Ladder
from vggexplorer.views import looks_for as lf
from vggexplorer.views import render_cache
from vggexplorer.views.render import image_strip

from .. import jobs, resources

RENDER_ZOOM = 4  # 32 px renders shown at 128 px


def panel(ladder: Ladder, block: str, ch: int, pruned_percent: int) -> None:
    st.markdown(lf.heading(block, ch))
    models, errors = resources.ladder_models(ladder)
    if errors:
        st.caption("Not shown for " + ", ".join(errors) + " (" + "; ".join(errors.values()) + ")")
    if not models:
        return
    roles = [r.role for r in ladder.rungs if r.role in models]
    paths = {r: ladder.by_role(r).path for r in roles}
    s, seed = render_cache.APP_SETTINGS, render_cache.APP_SEED
    renders = render_cache.cached(paths, block, ch, s, seed)
    scan, _ = resources.ladder_scan(ladder)
    if any(r is None for r in renders.values()):
        renders = _rendered_or_progress(models, paths, block, ch, s, seed)
    crops = _crop_roles(ladder, roles, pruned_percent)
    if renders is None:  # still rendering: the crops meanwhile
        _crops(ladder, crops, block, ch)
        return
    cols = st.columns([1] * len(roles) + [2.5])
    for role, col in zip(roles, cols):
        with col:
            r = renders[role]
            if r.image is not None:
                st.image(lf.enlarge(np.asarray(r.image), RENDER_ZOOM))
            st.caption(lf.rung_caption(ladder.by_role(role).label, r, lf.best_test(scan, role, block, ch)))
    with cols[-1]:
        _crops(ladder, crops, block, ch)
    st.caption(lf.explanation(scan.meta.get("n_images") if scan is not None else None, s.steps))


def _crop_roles(ladder: Ladder, roles: list[str], pruned_percent: int) -> list[str]:
    """Dense and the chosen rung (the pair the page compares), as far as they loaded."""
    chosen = ladder.by_percent(pruned_percent).role
    return [r for r in dict.fromkeys(["dense", chosen]) if r in roles]


def _crops(ladder: Ladder, roles: list[str], block: str, ch: int) -> None:
    for role in roles:
        crops = resources.field_crops(ladder, role, block, ch)
        label = ladder.by_role(role).label
        if not crops:
            st.caption(f"{label}: no test image fires {block} channel {ch}, so there are no top images.")
            continue
        st.image(image_strip(np.stack(crops), scale=lf.strip_scale(crops[0].shape[0])),
                 caption=lf.crops_caption(label, block, len(crops)))


def _job_key(paths: dict, block: str, ch: int, s, seed: int) -> tuple:
    return ("looks-for", block, int(ch), int(seed), json.dumps(s.to_dict(), sort_keys=True),
            str(render_cache.entries_dir()), tuple(render_cache.key_for(p, block, ch, s, seed) for p in paths.values()))


def _rendered_or_progress(models: dict, paths: dict, block: str, ch: int, s, seed: int):
    """Role -> render once the job is done; None (its progress drawn) while it runs, or when it failed."""
    key = _job_key(paths, block, ch, s, seed)
    job = jobs.REGISTRY.get(key)
    if job is not None and job.error is not None:
        st.error(f"Rendering {block} channel {ch} failed: {job.error}")
        if not st.button("Try again", key=f"render_retry_{block}_{ch}"):
            return None
        job = None
    if job is None:
        pairs = {r: (models[r], paths[r]) for r in paths}
        job = jobs.REGISTRY.submit(key, s.steps, lambda progress: render_cache.fill(
            pairs, block, [ch], s, seed, on_step=lambda done, total: progress(done)))
    if job.running:
        _progress(key, f"Rendering {block} channel {ch} in {len(paths)} models ({s.steps} steps, one batched "
                       "optimisation; shared with every session, cached on disk)")
        return None
    if job.error is not None:
        st.error(f"Rendering {block} channel {ch} failed: {job.error}")
        return None
    return {r: job.result[r][int(ch)] for r in paths}


@st.fragment(run_every=1.0)
def _progress(key: tuple, text: str) -> None:
    """The job's progress, redrawn every second; the page reruns once when the job is done."""
    job = jobs.REGISTRY.get(key)
    if job is None or not job.running:
        st.rerun()
    st.progress(job.fraction, text=f"{text}: step {min(job.done, job.total)} of {job.total}")
