"""Models page: size, cost, accuracy, per-layer sparsity, weight histograms, the pruning scan."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from vggexplorer.views.explorer_model import model_summary
from vggexplorer.views.weight_figures import sensitivity_curves, sparsity_bars, weight_histogram
from vggexplorer.model.vgg import layer_sparsity, prunable_parameters, short_name

from vggexplorer.views import ladder_model as lv

from ..components import frame, ladder_panels
from ..components.charts import CHART

from .. import resources
from ..markup import md_escape
from ..modelset import ModelSet

if TYPE_CHECKING:
    import pandas as pd


@st.cache_data(show_spinner=False)
def _summaries(ms: ModelSet) -> "pd.DataFrame":
    import pandas as pd  # here, not at the top: ui/nav.py imports every page, and a first page needs no pandas

    models, _ = resources.models(ms)
    return pd.DataFrame({slot: model_summary(m, ms.refs()[slot].path) for slot, m in models.items()})


def render() -> None:
    f = frame.begin(with_scan=False)
    models = f.models
    st.title(f"Models · dense vs {md_escape(f.ms.pruned.label)}")
    scan, err = resources.ladder_scan(f.ladder)
    report = scan.meta.get("compare") if scan is not None else None
    _ladder(f, scan, report, err)
    st.subheader("The two models shown" if len(models) == 2 else "The model shown")
    summ = _summaries(f.ms)
    top1 = _scan_top1(report, {slot: ref.role for slot, ref in f.ms.refs().items()})
    for slot, col in zip(summ.columns, st.columns(len(summ.columns))):
        s = summ[slot]
        with col:
            st.markdown(f"### {slot}")
            st.caption(f.ms.refs()[slot].label)
            if slot in top1:
                st.metric(f"test top-1 ({report['n_images']:,} images, from the scan)", f"{top1[slot] * 100:.2f}%")
            else:
                st.metric("test top-1 (10,000 images, from the checkpoint)",
                          f"{s.test_top1 * 100:.2f}%" if s.test_top1 is not None else "n/a")
            st.metric("parameters", f"{s.params:,}")
            st.metric("non-zero parameters", f"{s.nonzero_params:,}", f"{-s.weight_sparsity * 100:.1f}% weights zero"
                      if s.weight_sparsity > 0.001 else None, delta_color="off")
            st.metric("MACs per 32x32 image", f"{s.macs / 1e6:.1f} M")
            if s.size_on_disk_bytes:
                st.metric("size on disk", f"{s.size_on_disk_bytes / 2**20:.1f} MiB")
    layers = list(prunable_parameters(next(iter(models.values()))))
    short = [short_name(n) for n in layers]
    st.subheader("Per-layer sparsity")
    sp = {slot: [layer_sparsity(m)[n] for n in layers] for slot, m in models.items()}
    st.plotly_chart(sparsity_bars(short, sp), key="sparsity", **CHART)

    if {"dense", "pruned"} <= set(models):
        st.subheader("Weight magnitudes, dense vs pruned")
        layer = st.selectbox("Layer", short, index=short.index("conv5") if "conv5" in short else 0, key="hist_layer")
        name = layers[short.index(layer)]
        pruning = models["pruned"].meta.get("pruning", {})
        thr = pruning.get("thresholds", {}).get(name)
        dw = dict(models["dense"].named_parameters())[name].detach().numpy()
        pw = dict(models["pruned"].named_parameters())[name].detach().numpy()
        st.plotly_chart(weight_histogram(dw, pw, layer, thr), key="hist", **CHART)
        scan = pruning.get("scan")
        if scan and scan.get("curves"):
            st.subheader("Sensitivity scan")
            st.caption(f"Each layer pruned alone, accuracy on {scan.get('images', '?')} held-out training images "
                       "(never the test split); the chosen per-layer sparsities reach the target overall.")
            st.plotly_chart(sensitivity_curves(scan["sparsities"], scan["curves"], scan["base_val_top1"]),
                            key="scan", **CHART)
    with st.expander("Checkpoint metadata"):
        for slot, m in models.items():
            st.markdown(f"**{slot}**")
            st.json({k: v for k, v in m.meta.items() if k not in ("history",)}, expanded=False)


def _scan_top1(report, roles: dict[str, str]) -> dict[str, float]:
    """Slot -> top-1 from the scan's predictions, for the slots the scan's comparison holds."""
    if not report:
        return {}
    out = {}
    for slot, role in roles.items():
        if role == report["reference"].get("role", "dense"):
            out[slot] = report["reference"]["top1"]
        else:
            try:
                out[slot] = lv.pair_for(report, role)["top1"]
            except KeyError:
                pass
    return out


def _ladder(f, scan, report, err) -> None:
    """Accuracy against sparsity across the ladder, size and non-zero parameters, per-layer sparsity per rung."""
    st.subheader("The sparsity ladder")
    if not report:
        (st.info if f.status is not None else st.warning)(
            err or "The dataset scan has no comparison: rebuild it with `python -m vggexplorer scan`.")
        return
    frame.coverage(scan)
    summ = resources.ladder_summary(f.ladder, resources.ladder_stamps(f.ladder))
    st.caption(f"Test top-1 over {report['n_images']:,} test images (fp32, single view, from the scan's predictions) "
               "against the fraction of conv + linear weights that are exactly zero: the course lab's curve.")
    ladder_panels.models_panel(f.ladder, report, summ["sizes"], summ["layer_sparsity"], summ["nonzero"])
