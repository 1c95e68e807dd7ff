"""Explorer page: one image, every channel of a block, dense and pruned side by side.

Two nested fragments keep each interaction to the least work: a block or colour-scale change reruns
what depends on the block (the mosaics and the open panel); a click on a tile, a new channel number or
another panel reruns only the mosaics' fragment, once, and sends the mosaics unchanged, so the browser
redraws only the panel. Under the mosaics one panel is open at a time (tabs that rerun on a switch): the
closed ones are neither computed nor drawn. Everything else is drawn by the full run of the page.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from vggexplorer.probe.analysis import describe_top2, most_changed, shared_scale
from vggexplorer.stats.status import ALIVE
from vggexplorer.views.explorer_model import survival_summary
from vggexplorer.views.figures import (channel_detail, channel_strip, importance_bars, layer_mosaic, mark_channel,
                                 probability_bars)
from vggexplorer.model.vgg import CIFAR10_CLASSES
from vggexplorer.views.mosaic import SCALES, SCALES_HELP, SPLIT_MAX, block_scales
from vggexplorer.views.render import image_strip

from ..components import class_profile, frame, ladder_panels, looks_for, picker
from ..components.charts import CHART

from .. import fragments, resources, state
from ..markup import md_escape
from ..state import BLOCKS, BLOCK_CHANNELS



def render() -> None:
    f = frame.begin()
    picked = picker.pick(f.split)
    if picked is None:
        st.stop()
    an = resources.analyze(f.ms, picked.image)
    classes = list(f.models[f.slots[0]].meta.get("classes") or CIFAR10_CLASSES)
    _image_and_probabilities(picked, an, f.slots, classes, {s: f.ms.refs()[s].label for s in f.slots})
    if f.scan_note:
        st.warning(f.scan_note)
    _block_view(f, an, picked, classes)
    _downloads(f, an, picked, classes)


@fragments.fragment
def _block_view(f: frame.Frame, an, picked: picker.Picked, classes: list[str]) -> None:
    block = st.sidebar.radio("Block", BLOCKS, horizontal=True, **state.bind_field("block"))
    st.sidebar.radio("Colour scale", list(SCALES.values()), help=SCALES_HELP, **state.bind_labelled("scale", SCALES))
    status = {s: resources.statuses(f.ms)[s][block] for s in f.slots}  # computed once per model set
    kind = state.view().scale
    split_max = {s: f.scan.stat(s, block, "max") if f.scan and s in f.scan.models else None for s in f.slots}
    scales, fell_back = block_scales({s: an.maps(s, block) for s in f.slots}, kind, split_max)
    extra = {"dense-vs-pruned cosine": an.cosine[block].numpy()} if an.cosine else {}
    # built once per run of this fragment: a channel pick sends the same figures, so the browser keeps them
    labels = {s: f.ms.refs()[s].label for s in f.slots}  # "dense", "pruned 95%" or the own file's name
    mosaics = {s: layer_mosaic(an.maps(s, block), block, labels[s], scales[s], status=status[s],
                               extra={**extra, "max over the test split": split_max[s]}
                               if split_max[s] is not None else extra)
               for s in f.slots}
    state.new_mosaics()
    st.subheader(f"{block}: every channel after the ReLU · dense vs {md_escape(f.ms.pruned.label)}")
    if fell_back:
        st.info(f"**{SCALES[SPLIT_MAX]}** divides each channel by its maximum over the test split, from the dataset "
                f"scan, which does not cover {' or '.join(md_escape(labels[s]) for s in fell_back)}: drawn on the "
                "shared scale instead.")
    st.caption(("Darker green = a stronger response for that channel (1 = its strongest over the test split)."
                if any(sc.kind == SPLIT_MAX for sc in scales.values()) else "Darker green = stronger activation.")
               + " Hover a tile for its channel; click a tile to open it below.")
    _mosaics_and_panel(mosaics, f, an, picked, block, classes, status)


def _image_and_probabilities(picked: picker.Picked, an, slots: list[str], classes: list[str],
                             labels: dict[str, str]) -> None:
    left, right = st.columns([1, 3])
    with left:
        if picked.preview is not None:
            st.image(picked.preview, caption="as uploaded", width=160)
        st.image(np.kron(picked.image, np.ones((6, 6, 1), np.uint8)), caption="32x32 model input", width=160)
        st.caption(picked.caption)
    with right:
        st.markdown(" · ".join(f"**{md_escape(labels[s])}**: {describe_top2(an.probs(s), classes)}" for s in slots))
        st.plotly_chart(probability_bars({s: an.probs(s).tolist() for s in slots}, classes), key="probs", **CHART)


@fragments.fragment
def _mosaics_and_panel(mosaics: dict, f: frame.Frame, an, picked: picker.Picked, block: str, classes: list[str],
                       status: dict) -> None:
    for slot, col in zip(mosaics, st.columns(len(mosaics))):
        with col:
            st.plotly_chart(mark_channel(mosaics[slot], state.mark(slot)), **state.chart_pick(f"mosaic_{slot}", slot),
                            **CHART)
    st.number_input(f"Channel of {block}", 0, BLOCK_CHANNELS[block] - 1, step=1, **state.bind_field("ch"))
    ch = state.view().ch
    draw = {"channel": lambda: _channel_view(an, list(mosaics), block, ch, f.scan, f.split, f.ms, classes),
            "ladder": lambda: _ladder(f, an, picked.image, block, ch),
            "similarity": lambda: _similarity(an, f.slots, block),
            "classification": lambda: _importance(f, an, picked, block, classes, status),
            "looks-for": lambda: looks_for.panel(f.ladder, block, ch, state.view().pruned)}
    tabs = st.tabs(list(state.PANELS.values()), **state.bind_labelled("panel", state.PANELS))
    for panel, tab in zip(state.PANELS, tabs):
        if tab.open:  # the closed panels are neither computed nor sent
            with tab:
                draw[panel]()
    state.write_url()


def _ladder(f: frame.Frame, an, image: np.ndarray, block: str, ch: int) -> None:
    """The chosen channel across the whole ladder, then its filter's weights, dense against the chosen rung."""
    pruned_label = f.ms.pruned.label
    st.markdown(f"**{block} channel {ch} across the sparsity ladder**")
    known = {ref.role: an.maps(slot, block).numpy() for slot, ref in f.ms.refs().items()
             if slot in f.slots}  # the page's own models: not run again
    ladder_panels.channel_row(f.ladder, image, block, ch, state.view().pruned, known=known)
    if len(f.slots) == 2:
        st.markdown(f"**Its filter's weights**, dense against {pruned_label}")
        ladder_panels.filter_panel(f.ms, block, ch, pruned_label)


def _channel_view(an, slots: list[str], block: str, ch: int, scan, split, ms, classes: list[str]) -> None:
    maps = [an.maps(s, block)[ch] for s in slots]
    if len(slots) == 2:
        st.plotly_chart(channel_detail(maps[0], maps[1], block, ch, shared_scale(*maps)), key="detail", **CHART)
    class_profile.channel_panel(scan, {s: ms.refs()[s].label for s in slots}, block, ch, classes)
    if scan is None:
        return
    for slot, col in zip(slots, st.columns(len(slots))):
        if slot not in scan.models:
            continue
        with col:
            fire = float(scan.stat(slot, block, "fire_fraction")[ch])
            st.markdown(f"**{slot}** · mean {scan.stat(slot, block, 'mean')[ch]:.3f} · max "
                        f"{scan.stat(slot, block, 'max')[ch]:.3f} · fires on {fire * 100:.1f}% of test images")
            top = [int(i) for i in scan.stat(slot, block, "topk_index")[ch] if i >= 0]
            if split is None:
                continue
            if fire > 0 and top:
                st.image(image_strip(split.images[top]),
                         caption=f"top {len(top)} test images for {slot} {block}:{ch} (by mean activation)")
            else:
                st.caption("never fires on the test split: no top images")
    if block in scan.pair:
        st.caption(f"dense-vs-pruned similarity of this channel over the test split: "
                   f"{float(scan.pair[block]['correlation'][ch]):.3f} (correlation, across the 10,000 images, of "
                   "its mean activation in the two models)")


def _similarity(an, slots: list[str], block: str) -> None:
    if not an.cosine:
        st.info("Similarity compares two models: load both a dense and a pruned model.")
        return
    st.markdown("**Dense vs pruned on this image**: per-channel similarity and the channels that changed most")
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(channel_strip(an.cosine[block].numpy(), block,
                                      f"{block}: cosine(dense, pruned) per channel, this image"), key="simstrip", **CHART)
    with right:  # a markdown table: st.dataframe would import pandas and pyarrow on the first page
        rows = most_changed(an.maps(slots[0], block), an.maps(slots[1], block), k=8)
        st.markdown("| channel | relative difference | cosine |\n|---:|---:|---:|\n"
                    + "\n".join(f"| {c} | {d:.3f} | {cos:.3f} |" for c, d, cos in rows))


def _importance(f: frame.Frame, an, picked: picker.Picked, block: str, classes: list[str], status: dict) -> None:
    top_cls = int(an.probs(f.slots[-1]).argmax())
    a, b = st.columns([2, 1])
    with a:
        cls_name = st.selectbox("Class", classes, index=top_cls, key=f"imp_cls_{picked.key}",
                                help="Default: the pruned model's top class for this image.")
    with b:
        method = "ablation" if st.toggle("Ablation (slower: zero each channel)", key="ablate") else "auto"
    cls = classes.index(cls_name)
    scores, measure = resources.importance(f.ms, picked.image, block, cls, method)
    st.plotly_chart(importance_bars(scores, status, block, measure), key="importance", **CHART)
    sparsity = resources.filter_sparsity(f.ms)
    lines = []
    for s in f.slots:
        sv = survival_summary(scores[s], status[s], sparsity[s][block])
        if not sv["channels"]:
            lines.append(f"**{s}**: none of the {sv['of']} channels contributes to *{cls_name}* on this image.")
            continue
        others = ", ".join(f"{n} {k}" for k, n in sv["statuses"].items() if k != ALIVE)
        lines.append(f"**{s}**: {sv['contributing']} of {sv['of']} channels contribute to *{cls_name}*; of the top "
                     f"{len(sv['channels'])}, {sv['survived']} have surviving filters" + (f" ({others})" if others else "")
                     + f"; their filters are {sv['mean_filter_sparsity'] * 100:.0f}% zero on average.")
    st.markdown("  \n".join(lines))


def _downloads(f: frame.Frame, an, picked: picker.Picked, classes: list[str]) -> None:
    st.subheader("Downloads")
    title = (f"{picked.caption.replace('**', '')} · "
             + " · ".join(f"{s}: {describe_top2(an.probs(s), classes)}" for s in f.slots))
    d1, d2 = st.columns(2)
    with d1:
        st.download_button("Activation grid of this image (PNG, all blocks, both models)",
                           data=lambda: resources.activation_png(f.ms, picked.image, title),
                           file_name=f"activations-{picked.key}.png", mime="image/png", width="stretch")
    with d2:
        st.download_button("Channel table (CSV)", data=lambda: resources.channels_df(f.ms).to_csv(index=False),
                           file_name="channels.csv", mime="text/csv", width="stretch")
