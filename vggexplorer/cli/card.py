"""The model card (checkpoints/README.md), written from the checkpoints' own metadata and the scan."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..files import DATA_DIR_HINT
from ..model.checkpoint import read_checkpoint, unpack_state_dict
from ..stats.status import ALIVE, CATEGORIES, SPARSE_FILTERS, definitions_markdown
from ..model.ladder import rung_label
from ..model.vgg import sparsity_of
from .flags import flag_name, non_default_flags, show

TRAIN_CMD = (f"python -m vggexplorer train --data-dir {DATA_DIR_HINT} --run-dir runs/dense "
             "--out runs/dense/dense.pt && cp runs/dense/dense.pt checkpoints/dense.pt")
BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _pct(v: Any, digits: int = 2) -> str:
    return f"{v * 100:.{digits}f}%" if isinstance(v, (int, float)) else "n/a"


def prune_command(recipe: Mapping[str, Any], out: str, run_dir: str) -> str:
    """The exact ``prune`` command line that a checkpoint's recipe records: the source, the rung's target and
    fine-tuning epochs, then every other flag whose recorded value is not PruneConfig's default."""
    from ..training.prune import PruneConfig

    always = ("target_sparsity", "finetune_epochs")
    parts = ["python -m vggexplorer prune", f"--data-dir {DATA_DIR_HINT}",
             f"--checkpoint {recipe.get('source_checkpoint', recipe.get('dense_checkpoint'))}"]
    parts += [f"{flag_name(k)} {show(recipe.get(k))}" for k in always]
    parts += non_default_flags(PruneConfig, recipe, skip=always)
    parts += [f"--run-dir {run_dir}", f"--out {out}"]
    return " ".join(parts)


def model_card(models: Mapping[str, Path], scan_path: Path | None = None) -> str:
    """Markdown describing dense and every rung: commands, accuracy, sparsity, size, dead filters, recipe.

    ``models``: role -> checkpoint path, dense first, then the rungs in ladder order.
    """
    roles = list(models)
    ck = {r: read_checkpoint(p) for r, p in models.items()}
    meta = {r: c["meta"] for r, c in ck.items()}
    sd = {r: unpack_state_dict(c["state_dict"], c["sparse"]) for r, c in ck.items()}
    dense = roles[0]
    layers = [k for k, v in sd[dense].items() if v.dim() > 1]

    def zeros(r: str) -> float:
        return sparsity_of(sd[r][k] for k in layers)

    def nonzero_params(r: str) -> int:  # parameters only (BatchNorm buffers are not parameters), as shipped
        return sum(int((v != 0).sum()) for k, v in sd[r].items() if not k.endswith(BN_BUFFERS))

    names = {r: Path(models[r]).name for r in roles}
    scan = None
    if scan_path is not None and scan_path.exists():
        from ..stats.scan import load_scan

        scan = load_scan(scan_path)

    def label(r: str) -> str:  # as the scan names it; without a scan, by the file's own measured zeros
        return scan.label(r) if scan is not None and r in scan.models else rung_label(round(zeros(r) * 100))
    m = {r: meta[r].get("metrics", {}) for r in roles}
    head = "| | " + " | ".join(f"`{names[r]}`" for r in roles) + " |"
    sep = "|---|" + "---:|" * len(roles)

    def row(label: str, values: list[str]) -> str:
        return f"| {label} | " + " | ".join(values) + " |"

    lines = [
        "# Model card: the shipped checkpoints",
        "",
        "Every file is a plain dict that `torch.load(path, map_location=\"cpu\", weights_only=True)` reads: the "
        "state_dict of the course-lab VGG (keys `backbone.conv0.weight` ... `classifier.bias`) in fp16, plus "
        "metadata (`meta`: normalization, class names, recipe, hardware, wall time, metrics, and for a pruned "
        "model the source rung, thresholds, per-layer sparsity and the sensitivity scan). A pruned file stores only "
        "the non-zero weights and a bit mask per layer. `vggexplorer.load_model` restores fp32 weights; every "
        "accuracy below was measured on the files as they ship, fp32 inference, single view, on the full "
        "10,000-image CIFAR-10 test split.",
        "",
        "The ladder is **nested**: each rung is pruned from the one below it and keeps all of its zeros, so a "
        "weight that is zero at one rung is zero at every higher rung, and \"the rung at which a filter died\" "
        "means one thing.",
        "",
        "This file is generated from the checkpoints: `python -m vggexplorer model-card`.",
        "",
        head, sep,
        row("test top-1", [_pct(m[r].get("test_top1")) for r in roles]),
        row("hold-out (5,000 train images) top-1", [_pct(m[r].get("val_top1")) for r in roles]),
        row("conv + linear weights exactly zero", [_pct(zeros(r)) for r in roles]),
        row("non-zero parameters (as shipped)", [f"{nonzero_params(r):,}" for r in roles]),
        row("parameters", [f"{m[r].get('params', 0):,}" for r in roles]),
        row("MACs per 32x32 image (dense count)", [f"{m[r].get('macs', 0):,}" for r in roles]),
        row("size on disk", [f"{Path(models[r]).stat().st_size / 2**20:.1f} MiB" for r in roles]),
        row("made from", ["(trained)"] + [f"`{Path(meta[r].get('recipe', {}).get('source_checkpoint') or meta[r].get('recipe', {}).get('dense_checkpoint', '?')).name}`" for r in roles[1:]]),
        row("fine-tuning", ["-"] + [f"{meta[r].get('recipe', {}).get('finetune_epochs')} epochs"
                                     + (", distilled" if meta[r].get("recipe", {}).get("distill_weight") else "")
                                     for r in roles[1:]]),
        row("wall time", [f"{meta[r].get('wall_time_s', 0) / 60:.0f} min" for r in roles]),
        row("hardware", [f"{meta[r].get('hardware', {}).get('cpu', '?')} ({meta[r].get('hardware', {}).get('cpu_count', '?')} cores)"
                         for r in roles]),
        "",
        "## Accuracy against sparsity (the lab's curve)",
        "",
        "| model | weights zero | test top-1 | change vs dense |",
        "|---|---:|---:|---:|",
    ]
    base = m[dense].get("test_top1")
    for r in roles:
        t = m[r].get("test_top1")
        delta = f"{(t - base) * 100:+.2f} pp" if isinstance(t, float) and isinstance(base, float) else "n/a"
        lines.append(f"| {label(r)} | {_pct(zeros(r))} | {_pct(t)} | {delta} |")
    lines += ["", "## How they were made", "", "```bash", TRAIN_CMD]
    for r in roles[1:]:
        lines.append(prune_command(meta[r].get("recipe", {}), f"checkpoints/{names[r]}", f"runs/{r}"))
    lines += ["python -m vggexplorer scan    # dense and every rung -> checkpoints/scan.npz",
              "python -m vggexplorer model-card"]
    lines += [f"python -m vggexplorer evaluate --checkpoint checkpoints/{names[r]} --data-dir {DATA_DIR_HINT} --json"
              for r in roles]
    lines += ["```", "", "`scripts/make_ladder.sh` runs the 75, 90 and 95% steps in order, resumably, in the background.",
              ""]
    rec = meta[dense].get("recipe", {})
    lines += [
        f"**Dense recipe**: {rec.get('epochs')} epochs, SGD (momentum {rec.get('momentum')}, Nesterov "
        f"{rec.get('nesterov')}), weight decay {rec.get('weight_decay')}, batch {rec.get('batch_size')}, triangular "
        f"lr peaking at {rec.get('lr')} at {rec.get('peak_frac', 0) * 100:.0f}% of training, label smoothing "
        f"{rec.get('label_smoothing')}, random crop (pad 4) + flip, resolution schedule "
        f"`{rec.get('resolution_schedule')}` (px:epochs), {rec.get('precision_used')} autocast, channels_last, "
        f"seed {rec.get('seed')}; {rec.get('train_images')} training images, {rec.get('holdout_images')} held out "
        "(stratified, seeded) for model selection and the pruning scans. Inputs normalized with the training "
        f"images' mean {meta[dense].get('normalization', {}).get('mean')} and std "
        f"{meta[dense].get('normalization', {}).get('std')}.",
        "",
    ]
    for r in roles[1:]:
        pr, prec = meta[r].get("pruning", {}), meta[r].get("recipe", {})
        distill = (f", plus distillation from `{Path(prec['distill_from']).name}` (soft-target weight "
                   f"{prec['distill_weight']}, temperature {prec.get('distill_temperature')})"
                   if prec.get("distill_from") and prec.get("distill_weight") else "")
        lines += [
            f"**{names[r]}** ({pr.get('method')}): sensitivity scan on {pr.get('scan', {}).get('images')} held-out "
            f"training images at sparsities {pr.get('scan', {}).get('sparsities')}; per-layer sparsities chosen to "
            f"reach {_pct(pr.get('target_sparsity'))} overall with the smallest tolerated hold-out drop "
            f"({pr.get('tolerated_val_drop', 0) * 100:.2f} points per layer), no layer above "
            f"{_pct(prec.get('max_layer_sparsity', 0.95), 0)}; hold-out top-1 right after pruning "
            f"{_pct(pr.get('val_top1_before_finetune'))}; then {prec.get('finetune_epochs')} epochs of fine-tuning "
            f"(SGD lr {prec.get('finetune_lr')}, cosine, momentum {prec.get('momentum')}, wd "
            f"{prec.get('weight_decay')}, label smoothing {prec.get('label_smoothing')}{distill}) with the masks "
            "re-applied after every step. Hold-out top-1 per epoch: "
            + ", ".join(_pct(h["val_top1"]) for h in meta[r].get("history", [])) + ".",
            "",
        ]
    lines += ["## Per-layer sparsity", "", "| layer | weights | " + " | ".join(names[r] for r in roles[1:])
              + " | threshold (" + names[roles[-1]] + ") |", "|---|---:|" + "---:|" * len(roles)]
    for k in layers:
        thr = meta[roles[-1]].get("pruning", {}).get("thresholds", {}).get(k)
        lines.append(f"| `{k}` | {sd[dense][k].numel():,} | "
                     + " | ".join(f"{sparsity_of(sd[r][k]) * 100:.1f}%" for r in roles[1:])
                     + (f" | {thr:.5f} |" if thr is not None else " | |"))
    if scan is not None:
        lines += _dead_section(scan_path, scan, roles, names)
        lines += _per_class_section(scan)
    lines += ["", "## Training history (dense)", "", "| epoch | px | train loss | hold-out top-1 | s |",
              "|---:|---:|---:|---:|---:|"]
    for h in meta[dense].get("history", []):
        lines.append(f"| {h['epoch']} | {h['resolution']} | {h['train_loss']:.3f} | {_pct(h['val_top1'])} | "
                     f"{h['epoch_s']:.0f} |")
    return "\n".join(lines) + "\n"


def _per_class_section(scan) -> list[str]:
    """Per rung, the classes that pay significantly against dense: only those that survive the correction."""
    from ..stats.compare import compare_scan, per_class_test

    report = scan.meta.get("compare") or compare_scan(scan)
    lines = ["", "## Classes that pay", "",
             f"Per rung against dense, over the {report['n_images']:,} test images: the classes whose paired top-1 "
             f"differs significantly ({per_class_test()}). Uncorrected, ten tests at 0.05 would name about 0.4 "
             "classes per rung by chance alone.", "",
             "| rung | top-1 | significant classes (Holm) | raw p <= 0.05, not significant after correction |",
             "|---|---:|---|---|"]
    for p in report["pairs"]:
        sig = p["significant_classes"]
        raw = [r["class"] for r in p["per_class"] if r["p_value"] <= 0.05 and r["class"] not in sig]
        lines.append(f"| {p['role']} | {_pct(p['top1'])} | {', '.join(sig) or 'none'} | {', '.join(raw) or '-'} |")
    return lines


def _dead_section(scan_path: Path, scan, roles: list[str], names: Mapping[str, str]) -> list[str]:
    """Graded dead counts per rung and block, from the scan (read from ``scan_path``); the definitions rendered from
    :data:`vggexplorer.stats.status.DEFINITIONS`."""
    from ..stats.status import graded_dead

    lines = ["", "## Dead filters, graded", "",
             "Counted over the 10,000 test images by the scan (`checkpoints/scan.npz`, "
             f"{scan_path.stat().st_size / 2**20:.1f} MiB; the app reads it and never rescans), as "
             "`vggexplorer/stats/status.py` defines them:", "",
             definitions_markdown((*CATEGORIES, ALIVE, SPARSE_FILTERS)), "",
             "Each cell: " + " / ".join(CATEGORIES) + " / " + SPARSE_FILTERS + ".", ""]
    blocks = scan.blocks
    present = [r for r in roles if r in scan.models]
    lines += ["| block | channels | " + " | ".join(names[r] for r in present) + " |",
              "|---|---:|" + "---:|" * len(present)]
    counts = {r: graded_dead(scan, r, present[0]) for r in present}
    for b in blocks:
        cells = [" / ".join(str(counts[r][b][c]) for c in (*CATEGORIES, SPARSE_FILTERS)) for r in present]
        lines.append(f"| {b} | {counts[present[0]][b]['channels']} | " + " | ".join(cells) + " |")
    tot = {r: {c: sum(counts[r][b][c] for b in blocks) for c in (*CATEGORIES, SPARSE_FILTERS)} for r in present}
    lines.append("| all | " + str(sum(counts[present[0]][b]["channels"] for b in blocks)) + " | "
                 + " | ".join(" / ".join(str(tot[r][c]) for c in (*CATEGORIES, SPARSE_FILTERS)) for r in present) + " |")
    return lines
