#!/usr/bin/env bash
# Foundation model, base preset on one GPU: 128^3 crops, bf16 autocast, batch 4 (issue 12).
# Prints samples/s and peak GPU memory (torch.cuda.max_memory_allocated) of MONAI's
# MaskedAutoEncoderViT and of ours in MAE-only mode (same width, depth, patch, input), then ours
# on all six modalities with inpainting only and with every objective. Record the table in
# docs/benchmarks.md ("Foundation model").
#
# Usage (repository root, a Python with gliopet installed and CUDA available; PYTHON names it,
# default `python`):
#   PYTHON=.venv/bin/python bash benchmarks/foundation_gpu.sh [OUT.json]
set -euo pipefail
PYTHON=${PYTHON:-python}
"$PYTHON" - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA device"
print(torch.cuda.get_device_name(0), "torch", torch.__version__)
PY
"$PYTHON" benchmarks/foundation_throughput.py --config base --device cuda \
    --modes monai-mae,mae,static,all --steps 20 --warmup 5 --threads 8 \
    ${1:+--out "$1"}
