#!/usr/bin/env bash
# Device check for the CUDA engine, meant for a machine with an NVIDIA GPU and no network: runs the CUDA tests
# and the GPU benchmark, writes logs and tables to $OUT (default bench/out). Expects node_modules (or a tarball
# of it in .devpack/nm.tgz) and a built addon in build/Release; rebuilds with the local nvcc when the prebuilt
# addon sees no GPU (e.g. a driver older than the CUDA runtime it was built with).
set -u
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
if ! command -v node >/dev/null && [ -f .devpack/node.gz ]; then  # a node binary shipped along for GPU boxes without one
  mkdir -p /tmp/devnode && gunzip -c .devpack/node.gz > /tmp/devnode/node && chmod +x /tmp/devnode/node
  export PATH=/tmp/devnode:$PATH
fi
for py in /opt/torch/.venv/bin/python /usr/bin/python3; do
  if [ -x "$py" ] && "$py" -c 'import torch, numpy; assert torch.cuda.is_available()' 2>/dev/null; then export MIMIC_PEER_PYTHON=$py; break; fi
done
echo "peer python: ${MIMIC_PEER_PYTHON:-none with CUDA torch}"
which nvcc cmake g++ node; node --version; nproc
if [ ! -d node_modules ] && [ -f .devpack/nm.tgz ]; then mkdir -p node_modules && tar xzf .devpack/nm.tgz -C node_modules; fi
info() { node -e "const i=require('./build/Release/mimic.node').buildInfo(); console.log(JSON.stringify(i)); process.exit(i.gpuAvailable?0:1)"; }
if ! info; then
  echo "prebuilt addon sees no GPU: rebuilding here"
  node node_modules/cmake-js/bin/cmake-js rebuild --log-level warn && info || echo "still no GPU"
fi
node --import tsx --test test/kde-golden.test.ts test/kde-errors.test.ts test/loss-cuda.test.ts
# optional: the kernel-only timing harness (native/tools/kde_cuda_time.cu), when built and shipped along
if [ -x .devpack/kde_cuda_time ]; then .devpack/kde_cuda_time | tee "$OUT/kde-cuda-time.txt"; fi
node --import tsx bench/run.ts gpu loss > "$OUT/gpu-bench.md"
cat "$OUT/gpu-bench.md"
