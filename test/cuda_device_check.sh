#!/bin/bash
# The GPU checks of the CUDA backend, for a machine with a CUDA device (CI has none: there these
# tests compile and skip, saying so). Runs the CUDA op and forward-pass tests, the failover test, and
# `holo bench engine --backend cuda:0` on the three 1B files, each decode figure beside the same
# run's baselines (launch overlap off, grouped launches off, graphs off). docs/benchmarks.md holds
# the figures it gave.
#
#   bash test/cuda_device_check.sh [BUILD_DIR] [MODEL_DIR]      (defaults: build, /tmp/holo-cuda-models)
#
# Writes the 1B test models with `holo-engine mkmodel` (--distinct-rows 64: seconds, not minutes)
# unless they are there. Exit status: the number of failed test binaries.
set -u
build=${1:-build}
models=${2:-/tmp/holo-cuda-models}
engine=$build/bin/holo-engine
[ -x "$engine" ] || { echo "no $engine: build first (cmake --build $build)" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "(no nvidia-smi)"
failed=0
for t in "$build/gpu/gpu_cuda_backend_test" "$build/test/test_cuda_failover"; do
  echo "=== $t"
  if ! timeout 600 "$t" --log_level=message; then failed=$((failed + 1)); fi
done
mkdir -p "$models"
for type in q4_k_m q8_0 f16; do
  f=$models/1b-$type.gguf
  [ -f "$f" ] || "$engine" mkmodel --preset 1b --type $type --distinct-rows 64 "$f" -q &
done
wait
for type in q4_k_m q8_0 f16; do
  for v in "" "HOLO_CUDA_PDL=0" "HOLO_CUDA_FUSE=0" "HOLO_CUDA_GRAPHS=0"; do
    echo "=== bench 1b-$type ${v:-(defaults)}"
    env $v "$engine" bench engine "$models/1b-$type.gguf" --backend cuda:0 --pp 512 --tg 128 --reps 3 |
      grep -E "^(holo|bandwidth|backend)"
  done
done
exit $failed
