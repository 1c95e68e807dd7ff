"""Disagreements page: the test images where dense and the chosen rung differ, per-class cost and CKA."""

from __future__ import annotations

import streamlit as st

from vggexplorer.views import ladder_model as lv
from vggexplorer.stats.compare import per_class_test
from vggexplorer.views.comparison_figures import disagreement_caption, per_class_accuracy
from vggexplorer.views.ladder_curves import cka_by_block
from vggexplorer.model.vgg import CIFAR10_CLASSES

from ..components import frame
from ..components.charts import CHART

from .. import links, resources

KINDS = {"all": None, "fixed (dense wrong, pruned right)": "fixed", "broke (dense right, pruned wrong)": "broke",
         "both wrong": "both wrong"}
PER_PAGE = 40
COLS = 8


def render() -> None:
    f = frame.begin(with_scan=False)
    rung = f.ms.pruned.rung
    st.title(f"Disagreements · dense vs {rung.label}")
    scan, err = resources.ladder_scan(f.ladder)
    if scan is None:
        (st.info if f.status is not None else st.error)(err)
        st.stop()
    frame.coverage(scan)
    report = scan.meta.get("compare")
    if not report:
        st.error(f"The dataset scan has no comparison. Rebuild it with: `{resources.SCAN_CMD}`")
        st.stop()
    try:
        pair = lv.pair_for(report, rung.role)
    except KeyError as e:
        st.error(str(e))
        st.stop()
    _summary(pair, report)
    _grid(f, report, rung)
    st.subheader("Per-class accuracy, dense against every rung")
    st.caption("Rung minus dense, percentage points, with 95% matched-pairs intervals. Stars mark the classes "
               f"that pay significantly: {per_class_test()} (each rung tests ten classes, so about 0.4 uncorrected "
               "p <= 0.05 per rung are expected by chance alone).")
    st.plotly_chart(per_class_accuracy(lv.per_class_rows(report)), key="per_class", **CHART)
    st.subheader("Representation similarity per block (linear CKA with dense)")
    st.caption(report.get("cka_estimator") or "")
    st.plotly_chart(cka_by_block(lv.cka_by_rung(report)), key="cka", **CHART)


def _summary(pair, report) -> None:
    a, b, c, d = st.columns(4)
    a.metric("top-1", f"{pair['top1'] * 100:.2f}%", f"{(pair['top1'] - pair['dense_top1']) * 100:+.2f} pp vs dense")
    b.metric("images that differ", f"{pair['disagreements']:,}", f"of {report['n_images']:,}", delta_color="off",
             delta_arrow="off")
    c.metric("fixed by pruning", pair["pruned_fixed"], delta_color="off")
    d.metric("broken by pruning", pair["pruned_broke"], delta_color="off")
    sig = pair["significant_classes"]
    st.markdown(f"Classes that pay significantly ({per_class_test()}): "
                + (", ".join(f"**{c}**" for c in sig) if sig else "none"))


def _grid(f, report, rung) -> None:
    st.subheader("The images, most different first")
    st.caption("Sorted by the symmetric KL divergence between the two models' softmaxes. "
               "Open an image to see its channels in the Explorer.")
    a, b, c = st.columns([2, 3, 2])
    cls = a.selectbox("True class", ["all"] + list(CIFAR10_CLASSES), key="dis_class")
    kind = b.selectbox("Kind", list(KINDS), key="dis_kind")
    df = lv.disagreement_frame(report, rung.role, None if cls == "all" else cls, KINDS[kind])
    pages = max(1, -(-len(df) // PER_PAGE))
    page = c.number_input(f"Page (of {pages})", 1, pages, 1, key="dis_page") if pages > 1 else 1
    st.caption(f"{len(df)} images")
    if f.split is None:
        st.warning("The bundled test split is unavailable: thumbnails cannot be shown.")
        return
    rows = df.iloc[(page - 1) * PER_PAGE: page * PER_PAGE]
    for start in range(0, len(rows), COLS):
        for col, (_, r) in zip(st.columns(COLS), rows.iloc[start:start + COLS].iterrows()):
            with col:
                idx = int(r["index"])
                st.image(f.split.images[idx], width=64)
                st.caption(disagreement_caption(r["dense_pred"], r["pruned_pred"], r["truth"], r["kind"], rung.percent))
                if st.button(f"Open #{idx}", key=f"open_{idx}", help=f"open test image {idx} in the Explorer"):
                    links.open_image(idx)

