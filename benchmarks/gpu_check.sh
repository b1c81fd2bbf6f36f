#!/usr/bin/env bash
# One short GPU check, for a machine lent with a CUDA GPU (run from the repository root):
#   bash benchmarks/gpu_check.sh [DATA_DIR]        # default ../shared/data/gz-kaggle-5k
# 1. the CUDA tests (pytest -m cuda; skipped where there is no GPU);
# 2. a short bf16 AMP training-throughput run: the cache pipeline against the compute limit
#    on a fixed batch and against the per-sample PIL pipeline (targets: >= 0.9 and >= 2x);
# 3. prediction from JPEG files with decoding spread over the machine's cores
#    (target: >= 10,000 images/s end to end).
# Prints every figure; record them, with the machine, in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-../shared/data/gz-kaggle-5k}"
CORES="$(nproc)"
echo "== machine"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
echo "== 1. CUDA tests"
python -m pytest -q -m cuda -p no:cacheprovider tests/test_cuda.py
echo "== 2. training throughput, bf16 AMP on cuda"
python benchmarks/train_throughput.py --device cuda --precision bf16 --data "$DATA" \
    --batch-size 256 --rounds 3 --batches 20 --pil-workers "$((CORES - 1))"
echo "== 3. prediction from JPEG files, ${CORES} cores decoding"
python benchmarks/predict_throughput.py "$DATA" --device cuda --precision bf16 --threads 4 \
    --workers "$((CORES - 1))" --batch-size 1024 --chunk-size 8192
