#!/usr/bin/env bash
# Build the sparsity ladder above checkpoints/pruned.pt (55%): 75, 90 and 95% zeros, each rung pruned
# from the one below with nested masks, fine-tuned with distillation from the dense model.
# Resumable: run it again after an interruption (each step passes --resume). Logs: runs/p*/prune.log.
#   nohup bash scripts/make_ladder.sh ../shared/data/cifar10 > runs/ladder.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/cifar10}
PY=${PYTHON:-.venv/bin/python}
SCAN=0.3,0.5,0.6,0.7,0.8,0.85,0.9,0.93,0.95,0.97,0.98,0.99
mkdir -p runs/cache
prev=checkpoints/pruned.pt
for spec in 75:3 90:3 95:6; do
  rung=${spec%%:*}; epochs=${spec##*:}
  out=checkpoints/pruned-$rung.pt
  mkdir -p runs/p$rung && ln -sfn ../cache runs/p$rung/cache  # one decoded copy of the training split
  if [ -f "$out" ] && [ -f "runs/p$rung/done" ]; then prev=$out; continue; fi
  $PY -m vggexplorer prune --data-dir "$DATA" --checkpoint "$prev" --target-sparsity 0.$rung \
    --scan-sparsities $SCAN --scan-images 2000 --max-layer-sparsity 0.99 \
    --finetune-epochs "$epochs" --finetune-lr 0.01 \
    --distill-from checkpoints/dense.pt --distill-weight 0.5 --distill-temperature 4 \
    --run-dir runs/p$rung --out "$out" --resume
  touch runs/p$rung/done
  prev=$out
done
echo "ladder: done"
