#!/usr/bin/env bash
# Builds the engine's standalone checks with AddressSanitizer + UBSan and runs them (x86-64 with AVX-512 for the
# avx512 paths; they are skipped at run time elsewhere). Usage: bash native/tools/sanitize.sh [quick]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${TMPDIR:-/tmp}/mimic-sanitize
mkdir -p "$out"
FL="-O1 -g -std=c++17 -fsanitize=address,undefined -fno-omit-frame-pointer -Inative/include -Inative/cpu"
AVX2="-mavx2 -mfma"
AVX512="-mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma -Wno-maybe-uninitialized"
for f in native/cpu/*_avx2.cc; do g++ $FL $AVX2 -c "$f" -o "$out/$(basename "$f" .cc).o"; done
for f in native/cpu/*_avx512.cc; do g++ $FL $AVX512 -c "$f" -o "$out/$(basename "$f" .cc).o"; done
CORE="native/cpu/threadpool.cc native/cpu/cpu.cc native/cpu/gemm.cc native/cpu/gemm_generic.cc"
KDE="native/cpu/kde_mi.cc native/cpu/kde_finalize.cc native/cpu/kde_scale.cc native/cpu/kde_centre.cc native/cpu/kde_tile_generic.cc native/cpu/build_info.cc native/ref/kde_ref.cc"
g++ $FL native/tools/kde_check.cc $CORE $KDE "$out"/*.o -lpthread -o "$out/kde_check"
"$out/kde_check"
if [ "${1:-}" != quick ]; then  # the full GEMM sweep takes a few minutes under ASan
  g++ $FL native/tools/gemm_check.cc $CORE native/ref/gemm_ref.cc "$out"/gemm_avx2.o "$out"/gemm_avx512.o -lpthread -o "$out/gemm_check"
  "$out/gemm_check" test
fi
