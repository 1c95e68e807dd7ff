"""Models page: size, cost, accuracy, per-layer sparsity, weight histograms, the pruning scan."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import common
from vggexplorer.explore import model_summary
from vggexplorer.figures import sensitivity_curves, sparsity_bars, weight_histogram
from vggexplorer.model import prunable_parameters
from vggexplorer.prune import layer_sparsity


@st.cache_data(show_spinner=False)
def _summaries(mk: str) -> pd.DataFrame:
    paths = common.get_models().paths
    rows = {r: model_summary(m, paths.get(r) if f"{r}=shipped" in mk else None)
            for r, m in common.session_models(mk).items()}
    return pd.DataFrame(rows)


def render() -> None:
    if not common.show_load_problems():
        st.stop()
    mk = common.models_key()
    models = common.session_models(mk)
    st.title("Models")
    summ = _summaries(mk)
    cols = st.columns(len(summ.columns))
    for r, col in zip(summ.columns, cols):
        s = summ[r]
        with col:
            st.markdown(f"### {r}")
            st.metric("test top-1 (10,000 images, from the checkpoint)",
                      f"{s.test_top1 * 100:.2f}%" if s.test_top1 is not None else "n/a")
            st.metric("parameters", f"{s.params:,}")
            st.metric("non-zero parameters", f"{s.nonzero_params:,}", f"{-s.weight_sparsity * 100:.1f}% weights zero"
                      if s.weight_sparsity > 0.001 else None, delta_color="off")
            st.metric("MACs per 32x32 image", f"{s.macs / 1e6:.1f} M")
            if s.size_on_disk_bytes:
                st.metric("size on disk", f"{s.size_on_disk_bytes / 2**20:.1f} MiB")
    layers = list(prunable_parameters(next(iter(models.values()))))
    short = [n.replace("backbone.", "").replace(".weight", "") for n in layers]
    st.subheader("Per-layer sparsity")
    sp = {r: [layer_sparsity(m)[n] for n in layers] for r, m in models.items()}
    st.plotly_chart(sparsity_bars(short, sp), key="sparsity", config={"displayModeBar": False})

    if {"dense", "pruned"} <= set(models):
        st.subheader("Weight magnitudes, dense vs pruned")
        layer = st.selectbox("Layer", short, index=short.index("conv5") if "conv5" in short else 0, key="hist_layer")
        name = layers[short.index(layer)]
        pruning = models["pruned"].meta.get("pruning", {})
        thr = pruning.get("thresholds", {}).get(name)
        dw = dict(models["dense"].named_parameters())[name].detach().numpy()
        pw = dict(models["pruned"].named_parameters())[name].detach().numpy()
        st.plotly_chart(weight_histogram(dw, pw, layer, thr), key="hist", config={"displayModeBar": False})
        scan = pruning.get("scan")
        if scan and scan.get("curves"):
            st.subheader("Sensitivity scan")
            st.caption(f"Each layer pruned alone, accuracy on {scan.get('images', '?')} held-out training images "
                       "(never the test split); the chosen per-layer sparsities reach the target overall.")
            st.plotly_chart(sensitivity_curves(scan["sparsities"], scan["curves"], scan["base_val_top1"],
                                               pruning.get("chosen_sparsity_per_layer")),
                            key="scan", config={"displayModeBar": False})
    with st.expander("Checkpoint metadata"):
        for r, m in models.items():
            st.markdown(f"**{r}**")
            st.json({k: v for k, v in m.meta.items() if k not in ("history",)}, expanded=False)
