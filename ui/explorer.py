"""Explorer page: one image, every channel of a block, dense and pruned side by side."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import common
from vggexplorer.analysis import describe_top2, filter_sparsity, most_changed, shared_scale, weight_dead
from vggexplorer.explore import channel_status, survival_summary
from vggexplorer.figures import channel_detail, channel_strip, importance_bars, layer_mosaic, probability_bars
from vggexplorer.images import ImageError, read_upload, to_uint8_32
from vggexplorer.model import CIFAR10_CLASSES
from vggexplorer.render import image_strip


def _class_indices(split, cls_i: int) -> np.ndarray:
    return np.flatnonzero(split.labels == cls_i)


def _set_image(split, idx: int) -> None:
    """Callback target: make test image ``idx`` current (``img`` in session state is the one truth)."""
    st.session_state["img"] = int(idx)


def _on_class(split) -> None:
    cls_i = CIFAR10_CLASSES.index(st.session_state["pick_class"])
    _set_image(split, _class_indices(split, cls_i)[0])


def _on_within(split) -> None:
    cls_i = CIFAR10_CLASSES.index(st.session_state["pick_class"])
    idx = _class_indices(split, cls_i)
    _set_image(split, idx[min(int(st.session_state["pick_within"]), len(idx) - 1)])


def _on_random(split) -> None:
    _set_image(split, np.random.default_rng().integers(0, len(split)))


def _pick_test_image(split) -> tuple[int, np.ndarray, str]:
    """Sidebar: class + index within class, random pick, gallery strip. Returns (index, image, label)."""
    idx = int(st.session_state["img"])
    cls_i = int(split.labels[idx])
    class_idx = _class_indices(split, cls_i)
    within = int(np.searchsorted(class_idx, idx))
    # widgets follow ``img`` (set before they are drawn; their callbacks set ``img``)
    st.session_state["pick_class"] = CIFAR10_CLASSES[cls_i]
    st.session_state["pick_within"] = within
    st.sidebar.selectbox("Class", CIFAR10_CLASSES, key="pick_class", on_change=_on_class, args=(split,))
    st.sidebar.number_input(f"Image within the class (0..{len(class_idx) - 1})", 0, len(class_idx) - 1, step=1,
                            key="pick_within", on_change=_on_within, args=(split,))
    st.sidebar.button(":material/casino: Random test image", width="stretch", on_click=_on_random, args=(split,), key="random")
    with st.sidebar.expander("Gallery", expanded=True):
        start = max(0, min(within - 4, len(class_idx) - 8))
        cols = st.columns(4)
        for j, gi in enumerate(class_idx[start:start + 8]):
            with cols[j % 4]:
                st.image(split.images[gi], width=48)
                st.button(f"{start + j}", key=f"gallery_{j}", help=f"test image {gi}", on_click=_set_image,
                          args=(split, gi), type="primary" if gi == idx else "secondary")
    return idx, split.images[idx], CIFAR10_CLASSES[cls_i]


def _pick_upload() -> dict | None:
    """Sidebar uploader -> ``{"key", "name", "image" (uint8 32x32), "preview", "notes"}``, or None with a message."""
    up = st.sidebar.file_uploader("Your image (PNG, JPEG, WebP)", type=["png", "jpg", "jpeg", "webp", "gif", "bmp"])
    if up is None:
        st.session_state.pop("_upload", None)
        st.info("Upload an image in the sidebar, or switch the source back to the test split.")
        return None
    data = up.getvalue()
    key = common.upload_key(data)
    cached = st.session_state.get("_upload")
    if cached is None or cached["key"] != key:
        # decoded once per file, not on every rerun; only a thumbnail stays in the session (bounded memory)
        try:
            pil, notes = read_upload(data, up.name)
        except ImageError as e:
            st.session_state.pop("_upload", None)
            st.error(f"**Could not use this file.** {common.md_escape(str(e), limit=500)}")
            return None
        if pil.size != (32, 32):
            notes.append("shorter side resized to 32 px and centre-cropped")
        preview = pil.copy()
        preview.thumbnail((320, 320))
        cached = {"key": key, "name": up.name, "image": to_uint8_32(pil), "preview": preview, "notes": notes}
        st.session_state["_upload"] = cached
    return cached


def render() -> None:
    if not common.show_load_problems():
        st.stop()
    mk = common.models_key()
    models = common.session_models(mk)
    split, _ = common.get_test_split()
    common.init_state_from_url(len(split) if split is not None else 0)
    for note in st.session_state.pop("_url_notices", []):
        st.warning(note)

    sources = ["Test split", "Upload"] if split is not None else ["Upload"]
    source = st.sidebar.radio("Image source", sources, horizontal=True, key="source")
    up = None
    if source == "Test split":
        idx, image, label = _pick_test_image(split)
        key, url_img = f"test-{idx}", idx
        caption = f"test image {idx} · {split.filenames[idx]} · ground truth **{label}**"
    else:
        up = _pick_upload()
        if up is None:
            st.stop()
        key, image = up["key"], up["image"]
        url_img = "upload"
        caption = f"your upload **{common.md_escape(up['name'])}** ({'; '.join(up['notes'])}); ground truth unknown"

    block = st.sidebar.radio("Block", common.BLOCKS, horizontal=True, key="block")
    scale = st.sidebar.radio("Colour scale", ["shared per layer", "per-channel min-max"], key="scale",
                             help="Shared: one 0..max scale for every channel of the layer and both models, so tiles "
                                  "compare. Per-channel: each map uses the full range, to see its pattern.")
    roles = list(models)
    an = common.analyze(mk, key, image)
    c = an.maps(roles[0], block).shape[0]
    if "ch" not in st.session_state:
        raw = st.session_state.pop("_url_ch", None)
        try:
            st.session_state["ch"] = int(raw) if raw is not None and 0 <= int(raw) < c else 0
            if raw is not None and not 0 <= int(raw) < c:
                st.warning(f"{common.md_code(f'ch={raw}')} in the link is out of range for {block} (0..{c - 1}); showing 0.")
        except ValueError:
            st.warning(f"{common.md_code(f'ch={raw}')} in the link is not a channel number; showing channel 0.")
            st.session_state["ch"] = 0
    st.session_state["ch"] = min(int(st.session_state["ch"]), c - 1)

    # ---- image and class probabilities
    classes = list(roles and models[roles[0]].meta.get("classes") or CIFAR10_CLASSES)
    left, right = st.columns([1, 3])
    with left:
        if up:
            st.image(up["preview"], caption="as uploaded", width=160)
        st.image(np.kron(image, np.ones((6, 6, 1), np.uint8)), caption="32x32 model input", width=160)
        st.caption(caption)
    with right:
        calls = " · ".join(f"**{r}**: {describe_top2(an.probs(r), classes)}" for r in roles)
        st.markdown(calls)
        st.plotly_chart(probability_bars({r: an.probs(r).tolist() for r in roles}, classes), key="probs",
                        config={"displayModeBar": False})

    # ---- layer mosaics, dense and pruned side by side, one shared channel selection
    scan, scan_err = common.session_scan()
    if scan_err:
        st.warning(scan_err)
    wdead = {r: weight_dead(m) for r, m in models.items()}
    zmax = shared_scale(*(an.maps(r, block) for r in roles)) if scale.startswith("shared") else None
    st.subheader(f"{block}: every channel after the ReLU")
    st.caption("Darker green = stronger activation. Hover a tile for its channel; click a tile to open it below.")
    cols = st.columns(len(roles))
    for r, col in zip(roles, cols):
        status = {"weight-dead": wdead[r][block].numpy(), "zero on this image": an.zero_now[r][block].numpy()}
        if scan is not None and r in scan.models:
            status["never fires on the test split"] = scan.stat(r, block, "fire_fraction") <= 0
        extra = {"dense-vs-pruned cosine": an.cosine[block].numpy()} if an.cosine else None
        fig = layer_mosaic(an.maps(r, block), block, r, zmax=zmax, status=status, extra=extra,
                           selected=st.session_state["ch"])
        with col:
            event = st.plotly_chart(fig, key=f"mosaic_{r}_{block}", on_select="rerun", selection_mode="points",
                                    config={"displayModeBar": False})
            pts = (event or {}).get("selection", {}).get("points", []) if event else []
            # the invisible per-channel points are trace 1, in channel order: point index = channel
            picked = [int(p["point_index"]) for p in pts if p.get("curve_number") == 1 and "point_index" in p]
            token = (r, block, tuple(picked))
            if picked and st.session_state.get("_last_pick") != token:
                st.session_state["_last_pick"] = token
                st.session_state["ch"] = int(picked[0])
                st.rerun()

    if an.cosine:
        with st.expander("Dense vs pruned on this image: per-channel similarity and the channels that changed most",
                         expanded=True):
            sc, tc = st.columns([3, 2])
            with sc:
                st.plotly_chart(channel_strip(an.cosine[block].numpy(), block,
                                              f"{block}: cosine(dense, pruned) per channel, this image"),
                                key="simstrip", config={"displayModeBar": False})
            with tc:
                rows = most_changed(an.maps(roles[0], block), an.maps(roles[1], block), k=8)
                st.dataframe({"channel": [r_[0] for r_ in rows], "relative difference": [r_[1] for r_ in rows],
                              "cosine": [r_[2] for r_ in rows]}, hide_index=True, width="stretch")

    # ---- channel view
    ch = st.number_input(f"Channel of {block}", 0, c - 1, key="ch", step=1)
    _channel_view(an, roles, block, int(ch), scan, split)

    # ---- what carries the classification
    _importance_view(mk, models, an, key, image, block, classes, wdead, scan)

    # ---- downloads
    st.subheader("Downloads")
    d1, d2 = st.columns(2)
    title = f"{caption.replace('**', '')} · " + " · ".join(f"{r}: {describe_top2(an.probs(r), classes)}" for r in roles)
    with d1:
        st.download_button("Activation grid of this image (PNG, all blocks, both models)",
                           data=lambda: common.activation_png(mk, key, image, title), file_name=f"activations-{key}.png",
                           mime="image/png", width="stretch")
    with d2:
        st.download_button("Channel table (CSV)", data=lambda: common.channels_df(mk).to_csv(index=False),
                           file_name="channels.csv", mime="text/csv", width="stretch")
    common.write_url(url_img, block, int(ch))


def _channel_view(an, roles, block: str, ch: int, scan, split) -> None:
    maps = [an.maps(r, block)[ch] for r in roles]
    zmax = shared_scale(*maps)
    if len(roles) == 2:
        st.plotly_chart(channel_detail(maps[0], maps[1], block, ch, zmax), key="detail",
                        config={"displayModeBar": False})
    if scan is None:
        return
    cols = st.columns(len(roles))
    for r, col in zip(roles, cols):
        if r not in scan.models:
            continue
        with col:
            fire = float(scan.stat(r, block, "fire_fraction")[ch])
            st.markdown(f"**{r}** · mean {scan.stat(r, block, 'mean')[ch]:.3f} · max {scan.stat(r, block, 'max')[ch]:.3f}"
                        f" · fires on {fire * 100:.1f}% of test images")
            if split is not None:
                top = scan.stat(r, block, "topk_index")[ch]
                top = [int(i) for i in top if i >= 0]
                if fire > 0 and top:
                    st.image(image_strip(split.images[top]),
                             caption=f"top {len(top)} test images for {r} {block}:{ch} (by mean activation)")
                else:
                    st.caption("never fires on the test split: no top images")
    if block in scan.pair:
        st.caption(f"dense-vs-pruned similarity of this channel over the test split: "
                   f"{float(scan.pair[block]['correlation'][ch]):.3f} (correlation, across the 10,000 images, of "
                   "its mean activation in the two models)")


def _importance_view(mk, models, an, key, image, block, classes, wdead, scan) -> None:
    roles = list(models)
    st.subheader("What carries the classification")
    top_cls = int(an.probs(roles[-1]).argmax())
    a, b = st.columns([2, 1])
    with a:
        cls_name = st.selectbox("Class", classes, index=top_cls, key=f"imp_cls_{key}",
                                help="Default: the pruned model's top class for this image.")
    with b:
        method = "ablation" if st.toggle("Ablation (slower: zero each channel)", key="ablate") else "auto"
    cls = classes.index(cls_name)
    scores, measure = common.importance(mk, key, image, block, cls, method)
    status = {r: channel_status(r, block, wdead, scan, an.zero_now) for r in roles}
    st.plotly_chart(importance_bars(scores, status, block, measure), key="importance",
                    config={"displayModeBar": False})
    lines = []
    for r in roles:
        s = survival_summary(scores[r], status[r], filter_sparsity(models[r])[block].numpy())
        lines.append(f"**{r}**: of the top {len(s['channels'])} channels for *{cls_name}*, {s['survived']} have surviving "
                     f"filters ({s['weight_dead']} weight-dead, {s['activation_dead']} never fire); their filters are "
                     f"{s['mean_filter_sparsity'] * 100:.0f}% zero on average.")
    st.markdown("  \n".join(lines))
