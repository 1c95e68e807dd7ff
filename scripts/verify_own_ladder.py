"""Issue 18's acceptance check, run once: a ladder saved as a student would save it, opened from its folder; its scan,
the Dead filters and Disagreements pages and ``compare --json`` against an independent computation over the full
test split.

    python -m scripts.verify_own_ladder        # about 15-20 minutes on 2 CPU cores (three models, 10,000 images, x3)

It builds, in runs/verify-ladder/: ``dense.pth`` (the shipped dense weights as an ``nn.DataParallel`` state_dict),
``l1-70.pth`` (``torch.nn.utils.prune.global_unstructured``, L1, 70% of every conv and the classifier weight, no
fine-tuning, saved without ``prune.remove``: ``weight_orig`` / ``weight_mask``), ``l1-90.pth`` (the same at 90%,
folded with ``prune.remove`` and saved as ``{"model_state_dict": ..., "epoch": 0}``) and the dense model's
``normalization.json``. Then, with ``VGGEXPLORER_CACHE=runs/verify-ladder/cache``:

1. the app's scan: ``scan_store.scan_ladder`` of the folder's rungs (:func:`open_folder`), the full pass;
2. the pages: AppTest of Dead filters (its totals line) and Disagreements (its four metrics) on each rung, with
   ``VGGEXPLORER_MODELS`` on the folder;
3. the CLI: ``scan --checkpoint ... --out runs/verify-ladder/cli-scan.npz``, then ``compare --scan ... --json``;
4. an independent computation: plain torch (the files read and folded here, the inputs normalised with the json's
   mean and std, forward hooks on each block's ReLU, the status rules written out here), every test image.

It prints and writes runs/verify-ladder/report.md (a table per rung: each figure from the page, from compare --json
and from the independent computation, and whether they match: exactly for counts, top-1 to 1e-9, the page's
rounded figures to its rounding) and exits 1 when anything does not match.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from tests.independent import ORDER, plain_model, prunable, run_model, totals, zero_percent

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "runs" / "verify-ladder"
CACHE = OUT / "cache"
CLI_SCAN = OUT / "cli-scan.npz"
TOP1_TOL = 1e-9
DENSE_FILE, PRUNE_FILE, PLAIN_FILE = "dense.pth", "l1-70.pth", "l1-90.pth"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---- the student's ladder ---------------------------------------------------------------------------------------

def build_ladder(folder: Path) -> None:
    from vggexplorer import load_model
    from vggexplorer.model.ladder import DENSE

    folder.mkdir(parents=True, exist_ok=True)
    dense = load_model(DENSE.path)
    torch.save(nn.DataParallel(dense).state_dict(), folder / DENSE_FILE)
    rung = load_model(DENSE.path)
    prune.global_unstructured(prunable(rung), pruning_method=prune.L1Unstructured, amount=0.7)
    torch.save(rung.state_dict(), folder / PRUNE_FILE)  # weight_orig / weight_mask kept
    rung = load_model(DENSE.path)
    prune.global_unstructured(prunable(rung), pruning_method=prune.L1Unstructured, amount=0.9)
    for m, name in prunable(rung):
        prune.remove(m, name)
    torch.save({"model_state_dict": rung.state_dict(), "epoch": 0}, folder / PLAIN_FILE)
    (folder / "normalization.json").write_text(json.dumps(dense.meta["normalization"]) + "\n")


# ---- the independent computation ----------------------------------------------------------------------------------

def independent(folder: Path, split) -> dict[str, dict]:
    """File name -> its figures over every test image (the dense file's only top-1)."""
    norm = json.loads((folder / "normalization.json").read_text())
    labels = np.asarray(split.labels)
    runs = {}
    for name in (DENSE_FILE, PRUNE_FILE, PLAIN_FILE):
        log(f"independent: {name} over {len(labels):,} images")
        model = plain_model(folder / name)
        stats, top, soft = run_model(model, split.images, norm)
        runs[name] = {"stats": stats, "pred": top, "soft_ties": int(np.sum(top != soft)),
                      "percent": zero_percent(model)}
    d = runs[DENSE_FILE]
    out = {DENSE_FILE: {"top1": float(np.mean(d["pred"] == labels)), "percent": d["percent"],
                        "soft_ties": d["soft_ties"]}}
    for name in (PRUNE_FILE, PLAIN_FILE):
        r = runs[name]
        status, overlapping = totals(r["stats"], d["stats"])
        dense_ok, rung_ok = d["pred"] == labels, r["pred"] == labels
        out[name] = {"status": status, "overlapping": overlapping, "percent": r["percent"],
                     "top1": float(np.mean(rung_ok)), "dense_top1": float(np.mean(dense_ok)),
                     "differ": int(np.sum(d["pred"] != r["pred"])), "fixed": int(np.sum(~dense_ok & rung_ok)),
                     "broken": int(np.sum(dense_ok & ~rung_ok)), "soft_ties": r["soft_ties"],
                     "n": int(len(labels))}
    return out


# ---- what the app, its pages and the CLI say -----------------------------------------------------------------------

def _page(name: str) -> str:
    return f"import sys\nsys.path.insert(0, {str(REPO)!r})\nfrom ui.pages import {name}\n{name}.render()"


def pages(rungs) -> dict[str, dict]:
    """File name -> the totals line of Dead filters and the metrics of Disagreements on that rung (AppTest)."""
    import re

    from streamlit.testing.v1 import AppTest

    line_re = re.compile(r"([\d,]+) weight-dead · ([\d,]+) activation-dead · ([\d,]+) dormant · ([\d,]+) weakened")
    out = {}
    for rung in rungs:
        got: dict = {"role": rung.role}
        at = AppTest.from_string(_page("dead_filters"), default_timeout=300)
        at.query_params["pruned"] = str(rung.percent)
        at.run()
        problems = [e.value for e in at.exception] + [e.value for e in at.error]
        text = " ".join(m.value for m in [*at.markdown, *at.caption, *at.info, *at.warning])
        m = next((line_re.search(md.value) for md in at.markdown if line_re.search(md.value)), None)
        got["status"] = dict(zip(ORDER, (int(g.replace(",", "")) for g in m.groups()))) if m else None
        got["dead_filters_title"] = at.title[0].value if at.title else None
        got["dead_filters_problems"] = problems
        got["shipped_notice"] = "only for the shipped" in text
        got["dead_filters_covers_full"] = "the full test split (10,000 images)" in text
        at = AppTest.from_string(_page("disagreements"), default_timeout=300)
        at.query_params["pruned"] = str(rung.percent)
        at.run()
        got["disagreements_problems"] = [e.value for e in at.exception] + [e.value for e in at.error]
        metrics = {mt.label: (mt.value, mt.delta) for mt in at.metric}
        got["metrics"] = metrics
        if metrics:
            got["top1"], got["top1_delta"] = metrics["top-1"]
            got["differ"] = int(metrics["images that differ"][0].replace(",", ""))
            got["of"] = metrics["images that differ"][1]
            got["fixed"] = int(metrics["fixed by pruning"][0].replace(",", ""))
            got["broken"] = int(metrics["broken by pruning"][0].replace(",", ""))
        out[rung.filename] = got
        log(f"pages on {rung.label}: {got.get('status')} {metrics}")
    return out


def cli(folder: Path) -> dict:
    """compare --json of the CLI's own scan of the three files, dense first."""
    args = []
    for name in (DENSE_FILE, PRUNE_FILE, PLAIN_FILE):
        args += ["--checkpoint", str(folder / name)]
    cmd = [sys.executable, "-m", "vggexplorer", "scan", *args, "--out", str(CLI_SCAN)]
    log("CLI: " + " ".join(cmd[1:]))
    subprocess.run(cmd, cwd=REPO, check=True)
    cmd = [sys.executable, "-m", "vggexplorer", "compare", "--scan", str(CLI_SCAN), "--json"]
    log("CLI: " + " ".join(cmd[1:]))
    done = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


# ---- the report ------------------------------------------------------------------------------------------------------

def _row(name: str, page, js, mine, same: bool | None) -> tuple[str, str, str, str, str]:
    show = lambda v: "—" if v is None else (f"{v:.12f}" if isinstance(v, float) else str(v))  # noqa: E731
    return name, show(page), show(js), show(mine), "—" if same is None else ("yes" if same else "**NO**")


def rung_rows(page: dict, pair: dict, mine: dict) -> list[tuple]:
    rows = []
    js_any = {c: sum(b[c] for b in pair["dead"].values()) for c in ORDER}
    for c in ORDER:
        p = (page.get("status") or {}).get(c)
        j = (pair.get("totals") or {}).get(c)  # compare --json's totals: each channel once, the page's line
        rows.append(_row(f"{c} (status: each channel once)", p, j, mine["status"][c],
                         p == mine["status"][c] and (j is None or j == mine["status"][c])))
    for c in ORDER:
        rows.append(_row(f"{c} (any: overlapping, compare's \"dead\")", None, js_any[c], mine["overlapping"][c],
                         js_any[c] == mine["overlapping"][c]))
    rows.append(_row("percent (rung name)", page.get("role"), pair["percent"], mine["percent"],
                     pair["percent"] == mine["percent"] and page.get("role") == f"p{mine['percent']}"))
    want_page = f"{mine['top1'] * 100:.2f}%"
    rows.append(_row("top-1 rung", page.get("top1"), pair["top1"], mine["top1"],
                     page.get("top1") == want_page and abs(pair["top1"] - mine["top1"]) <= TOP1_TOL))
    want_delta = f"{(mine['top1'] - mine['dense_top1']) * 100:+.2f} pp vs dense"
    rows.append(_row("top-1 dense (page: the delta)", page.get("top1_delta"), pair["dense_top1"], mine["dense_top1"],
                     page.get("top1_delta") == want_delta and abs(pair["dense_top1"] - mine["dense_top1"]) <= TOP1_TOL))
    for key, js_key, label in (("differ", "disagreements", "images that differ"), ("fixed", "pruned_fixed", "fixed by "
                               "pruning"), ("broken", "pruned_broke", "broken by pruning")):
        rows.append(_row(label, page.get(key), pair[js_key], mine[key],
                         page.get(key) == mine[key] == pair[js_key]))
    return rows


def report(rungs, page: dict, js: dict, mine: dict, timings: dict) -> tuple[str, bool]:
    by_file = {Path(p["checkpoint"]).name: p for p in js["pairs"]}
    ok = True
    lines = ["# Issue 18 acceptance: a student's ladder, the app against an independent computation", "",
             f"Folder runs/verify-ladder/: {DENSE_FILE} (nn.DataParallel state_dict of the shipped dense), {PRUNE_FILE} "
             "(torch.nn.utils.prune global L1 70%, weight_orig/weight_mask), "
             f"{PLAIN_FILE} (global L1 90%, prune.remove, {{\"model_state_dict\", \"epoch\"}}), normalization.json. "
             f"Every figure over the full test split ({mine[PRUNE_FILE]['n']:,} images). Page: AppTest of Dead filters "
             "and Disagreements on the app's own scan (scan_store.scan_ladder, full pass); compare --json: the CLI's "
             "scan of the same files; independent: plain torch here. Counts must match exactly, top-1 to "
             f"{TOP1_TOL:g} (the page shows top-1 rounded to 0.01 pp: compared at that rounding).", "",
             f"Dense: top-1 compare --json {js['reference']['top1']:.12f}, independent {mine[DENSE_FILE]['top1']:.12f}; "
             f"n_images compare --json {js['n_images']:,}.", ""]
    ok &= abs(js["reference"]["top1"] - mine[DENSE_FILE]["top1"]) <= TOP1_TOL and js["n_images"] == mine[PRUNE_FILE]["n"]
    for rung in rungs[1:]:
        p, pair, m = page[rung.filename], by_file[rung.filename], mine[rung.filename]
        rows = rung_rows(p, pair, m)
        lines += [f"## {rung.label} ({rung.filename}, role {rung.role})", "",
                  "| figure | app page | compare --json | independent | match |", "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        extra = {"page problems": p["dead_filters_problems"] + p["disagreements_problems"],
                 "'only for the shipped' notice": p["shipped_notice"],
                 "Dead filters says it covers the full split": p["dead_filters_covers_full"],
                 "Disagreements 'of'": p.get("of"),
                 "images where logits' and softmax's argmax differ (independent)": m["soft_ties"]}
        lines += ["", *(f"- {k}: {v}" for k, v in extra.items()), ""]
        ok &= all(r[-1] != "**NO**" for r in rows) and not extra["page problems"] and not p["shipped_notice"] \
            and p["dead_filters_covers_full"]
    lines += ["## Timings", "", *(f"- {k}: {v:.0f} s" for k, v in timings.items()), "",
              f"**Result: {'everything matches' if ok else 'MISMATCH (see the rows marked NO)'}.**", ""]
    return "\n".join(lines), ok


def main() -> int:
    os.environ["VGGEXPLORER_CACHE"] = str(CACHE)
    os.environ["VGGEXPLORER_MODELS"] = str(OUT)
    os.environ.pop("VGGEXPLORER_SCAN", None)
    sys.path.insert(0, str(REPO))
    from vggexplorer.data.cifar10 import load_bundled_test
    from vggexplorer.model.folder_ladder import open_folder
    from vggexplorer.stats import scan_store

    timings = {}
    t = time.perf_counter()
    build_ladder(OUT)
    ladder = open_folder(OUT)
    log(f"ladder: {[(r.role, r.filename, r.percent) for r in ladder.rungs]}; notes {ladder.notes}; "
        f"nesting {ladder.nesting}")
    split = load_bundled_test()
    checkpoints = {r.role: r.path for r in ladder.rungs}
    log("the app's scan (full pass)")
    t = time.perf_counter()
    path = scan_store.scan_ladder(checkpoints, split, "full",
                                  on_batch=lambda d, n: d % 2500 == 0 and log(f"app scan {d:,}/{n:,}"))
    timings["app scan, full pass (scan_store.scan_ladder)"] = time.perf_counter() - t
    log(f"app scan: {path}")
    t = time.perf_counter()
    page = pages(ladder.rungs[1:])
    timings["pages (AppTest, both pages on both rungs)"] = time.perf_counter() - t
    t = time.perf_counter()
    js = cli(OUT)
    timings["CLI scan + compare --json"] = time.perf_counter() - t
    t = time.perf_counter()
    mine = independent(OUT, split)
    timings["independent computation"] = time.perf_counter() - t
    text, ok = report(ladder.rungs, page, js, mine, timings)
    (OUT / "report.md").write_text(text)
    print(text, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
