#!/usr/bin/env bash
# GPU readiness check (issue 14, point 5), one short script for a machine with a CUDA GPU:
#   1. the engine's lesion-GAN step against a bare PyTorch loop, fp32 and AMP (float16): ms per step,
#      the AMP speed-up and peak GPU memory (benchmarks/bench_engine.py);
#   2. one progressive-GAN step (critic with gradient penalty + generator) per resolution level in 3D,
#      fp32 vs bf16 autocast, and bf16 with gradient checkpointing: peak GPU memory and seconds per
#      step (benchmarks/bench_pggan_memory.py).
# Run from anywhere:  bash benchmarks/gpu_check.sh        (a few minutes; PYTHON=... to pick the interpreter)
# Settings: STEPS, ROUNDS (engine timing), PGGAN_RESOLUTION (default 128), PGGAN_STEPS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python}

"$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'gpu_check.sh: no CUDA device visible')"
"$PY" -c "import torch; p = torch.cuda.get_device_properties(0); \
print(f'GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB; torch {torch.__version__}, CUDA {torch.version.cuda}')"

echo
echo "== 1. engine vs bare loop: fp32 and AMP (float16) step time and peak GPU memory =="
"$PY" benchmarks/bench_engine.py --device cuda --amp --steps "${STEPS:-20}" --rounds "${ROUNDS:-3}"

RES=${PGGAN_RESOLUTION:-128}
PSTEPS=${PGGAN_STEPS:-3}
for mode in "none" "bf16" "bf16 --checkpointing"; do
    echo
    echo "== 2. progressive GAN 3D up to ${RES}^3, amp ${mode}: peak GPU memory and seconds per step, per level =="
    # shellcheck disable=SC2086  # $mode holds the --amp value and optionally --checkpointing
    "$PY" benchmarks/bench_pggan_memory.py --dims 3 --resolution "$RES" --batch-sizes 32,32,16,8,4,2 \
        --steps "$PSTEPS" --amp $mode
done
