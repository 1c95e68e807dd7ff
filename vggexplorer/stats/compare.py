"""Dense against every rung over the whole test split, from a scan: disagreements, per-class cost,
per-block CKA and the graded dead counts (what ``python -m vggexplorer compare`` prints).

* **Disagreements**: test images whose top-1 class differs between dense and the rung; *fixed*
  when dense is wrong and the rung right, *broke* when dense is right and the rung wrong. Ranked
  by the symmetric KL divergence between the two models' softmaxes (largest first).
* **Per class**: paired accuracies, their difference (rung minus dense) with a 95% matched-pairs
  Wald interval, and McNemar's exact p-value on that class's paired predictions. Each rung tests ten
  classes, so the p-values are Holm-Bonferroni adjusted over the ten (:data:`PER_CLASS_TEST`); only the
  classes whose adjusted p is <= ``ALPHA`` are called significant.
* **CKA**: linear CKA per block between dense and the rung, and between each rung and the one
  below (see :mod:`vggexplorer.stats` for the estimator).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .status import definitions_json, graded_dead, status_totals, totals_line
from ..model.vgg import CIFAR10_CLASSES
from .measures import holm_adjusted, mcnemar_exact, paired_diff_interval, symmetric_kl

ALPHA = 0.05  # family-wise, per rung


def per_class_test(n_classes: int = len(CIFAR10_CLASSES)) -> str:
    """What the per-class stars mean, as every page, the model card and ``compare`` state it."""
    return f"McNemar, Holm-corrected over {n_classes} classes, adjusted p ≤ {ALPHA:g}"


# ``compare --json`` names the method and keeps both p-values
PER_CLASS_TEST = {"test": "McNemar's exact two-sided test on the class's paired predictions",
                  "correction": "holm", "family": "the classes of one rung", "alpha": ALPHA,
                  "p_value": "raw", "p_adjusted": "Holm-Bonferroni adjusted over the family",
                  "significant": "p_adjusted <= alpha"}


def disagreements(dense_probs: np.ndarray, pruned_probs: np.ndarray, labels: np.ndarray,
                  classes: Sequence[str] = CIFAR10_CLASSES, indices: np.ndarray | None = None) -> dict[str, Any]:
    """Counts and the ranked list of images where the two top-1 predictions differ.

    Probabilities ``[N, K]``, row i for the test image ``indices[i]`` (default ``i``; sorted), which the list's
    ``index`` gives; the list is sorted by symmetric KL (ties by image index).
    """
    dp, pp = dense_probs.argmax(1), pruned_probs.argmax(1)
    differ = np.flatnonzero(dp != pp)
    skl = symmetric_kl(dense_probs[differ], pruned_probs[differ])
    order = np.lexsort((differ, -skl))  # primary: -skl, secondary: index
    rows = []
    for j in order:
        i = int(differ[j])
        d, p, t = int(dp[i]), int(pp[i]), int(labels[i])
        image = i if indices is None else int(indices[i])
        kind = "fixed" if p == t else "broke" if d == t else "both wrong"
        rows.append({
            "index": image, "truth": classes[t], "dense_pred": classes[d], "pruned_pred": classes[p], "kind": kind,
            "dense_probs": {classes[d]: round(float(dense_probs[i, d]), 4), classes[p]: round(float(dense_probs[i, p]), 4)},
            "pruned_probs": {classes[d]: round(float(pruned_probs[i, d]), 4), classes[p]: round(float(pruned_probs[i, p]), 4)},
            "sym_kl": round(float(skl[j]), 4),
        })
    dense_ok, pruned_ok = dp == labels, pp == labels
    return {
        "disagreements": int(len(differ)),
        "pruned_fixed": int(np.sum(~dense_ok & pruned_ok)),
        "pruned_broke": int(np.sum(dense_ok & ~pruned_ok)),
        "disagreement_list": rows,
    }


def per_class(dense_pred: np.ndarray, pruned_pred: np.ndarray, labels: np.ndarray,
              classes: Sequence[str] = CIFAR10_CLASSES) -> list[dict[str, Any]]:
    """One row per class: paired top-1s, their difference with a 95% interval, McNemar's exact p (raw and Holm
    adjusted over the classes) and whether the adjusted p is at most ``ALPHA``."""
    rows = []
    for ci, name in enumerate(classes):
        m = labels == ci
        d_ok, p_ok = dense_pred[m] == ci, pruned_pred[m] == ci
        b, c, n = int(np.sum(d_ok & ~p_ok)), int(np.sum(~d_ok & p_ok)), int(m.sum())
        diff, lo, hi = paired_diff_interval(b, c, n)
        p = mcnemar_exact(b, c)
        rows.append({"class": name, "n": n, "dense_top1": float(d_ok.mean()) if n else 0.0,
                     "pruned_top1": float(p_ok.mean()) if n else 0.0, "diff": diff, "ci_low": lo, "ci_high": hi,
                     "dense_right_pruned_wrong": b, "dense_wrong_pruned_right": c, "p_value": p})
    for row, adj in zip(rows, holm_adjusted([r["p_value"] for r in rows])):
        row["p_adjusted"] = float(adj)
        row["significant"] = bool(adj <= ALPHA)
    return rows


def compare_scan(scan) -> dict[str, Any]:
    """Everything ``compare --json`` reports, from a :class:`~vggexplorer.stats.scan.ScanResult` of dense and its
    rungs (each pair's ``percent`` is :meth:`~vggexplorer.stats.scan.ScanResult.percent`, the disagreements'
    ``index`` a dataset index)."""
    roles = scan.roles
    ref = roles[0]
    labels = scan.labels
    dense_probs = scan.predictions[ref]["probs"]
    dense_pred = scan.predictions[ref]["pred"]
    zf = scan.meta.get("zero_fraction", {})
    ckpts = scan.meta.get("checkpoints", {})
    out_pairs = []
    for i, role in enumerate(roles[1:], start=1):
        probs, pred = scan.predictions[role]["probs"], scan.predictions[role]["pred"]
        rows = per_class(dense_pred, pred, labels)
        prev = roles[i - 1]
        pair = {
            "role": role,
            "percent": scan.percent(role),
            "checkpoint": ckpts.get(role),
            "zero_fraction": zf.get(role),
            "top1": float(np.mean(pred == labels)),
            "dense_top1": float(np.mean(dense_pred == labels)),
            **disagreements(dense_probs, probs, labels, indices=scan.indices),
            "per_class": rows,
            "significant_classes": [r["class"] for r in rows if r["significant"]],
            "cka": scan.cka(ref, role),
            "cka_previous": {"against": prev, **scan.cka(prev, role)},
            "dead": graded_dead(scan, role, ref),
            "totals": status_totals(scan, role, ref),  # each channel once, by its status: the Dead filters line
            "totals_line": totals_line(status_totals(scan, role, ref)),
        }
        out_pairs.append(pair)
    return {
        "reference": {"role": ref, "checkpoint": ckpts.get(ref), "zero_fraction": zf.get(ref),
                      "top1": float(np.mean(dense_pred == labels)), "dead": graded_dead(scan, ref, ref)},
        "n_images": int(len(labels)),
        "ranking": "symmetric KL divergence between the two softmaxes, largest first",
        "per_class_interval": "95% matched-pairs Wald interval of (rung - dense) top-1",
        "per_class_test": {**PER_CLASS_TEST, "summary": per_class_test()},
        "cka_estimator": scan.meta.get("cka_estimator"),
        "dead_definitions": definitions_json(),
        "pairs": out_pairs,
    }



def format_table(report: dict[str, Any]) -> str:
    """The readable form of :func:`compare_scan` (``compare`` without ``--json``)."""
    import pandas as pd

    ref = report["reference"]
    lines = [f"dense: top-1 {ref['top1'] * 100:.2f}% on {report['n_images']} test images", ""]
    summary = pd.DataFrame([{
        "rung": p["role"], "zeros": f"{p['zero_fraction'] * 100:.2f}%" if p["zero_fraction"] is not None else "?",
        "top-1": f"{p['top1'] * 100:.2f}%", "disagree": p["disagreements"], "fixed": p["pruned_fixed"],
        "broke": p["pruned_broke"], "significant (Holm)": ", ".join(p["significant_classes"]) or "-",
    } for p in report["pairs"]])
    lines += [summary.to_string(index=False), ""]
    cka = pd.DataFrame({p["role"]: p["cka"] for p in report["pairs"]}).T
    lines += ["linear CKA with dense, per block:", cka.round(3).to_string(), ""]
    for p in report["pairs"]:
        pc = pd.DataFrame(p["per_class"])
        pc = pd.DataFrame({
            "class": pc["class"], "dense": (pc["dense_top1"] * 100).round(1), p["role"]: (pc["pruned_top1"] * 100).round(1),
            "diff (pp)": (pc["diff"] * 100).round(2),
            "95% CI": [f"[{lo * 100:+.2f}, {hi * 100:+.2f}]" for lo, hi in zip(pc["ci_low"], pc["ci_high"])],
            "McNemar p": pc["p_value"].map(lambda v: f"{v:.3g}"), "Holm p": pc["p_adjusted"].map(lambda v: f"{v:.3g}"),
            "": ["*" if s else "" for s in pc["significant"]],
        })
        lines += [f"per class, dense vs {p['role']} (* {per_class_test()}):", pc.to_string(index=False), ""]
        dd = pd.DataFrame(p["dead"]).T.drop(columns=["channels"])
        lines += [f"{p['role']}, each channel once by its status: {p['totals_line']}",
                  f"graded dead channels, {p['role']} (overlapping):", dd.to_string(), ""]
        top = p["disagreement_list"][:5]
        if top:
            lines.append(f"most different images ({p['role']}): " + "; ".join(
                f"#{r['index']} {r['dense_pred']}->{r['pruned_pred']} (truth {r['truth']})" for r in top))
            lines.append("")
    return "\n".join(lines)

