// Run-time CPU feature dispatch. Kernels with an AVX2+FMA version pick it when the CPU has both, unless the
// generic path is forced (for tests, or MIMIC_FORCE_GENERIC=1 in the environment).
#pragma once

namespace mimic {

enum class KernelPath { Auto, Generic, Avx2 };

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
};

const CpuFeatures& cpu_features();
// The path kernels should take for a request: Auto resolves to Avx2 when available and not forced off.
KernelPath resolve_path(KernelPath requested);
const char* path_name(KernelPath p);
// Process-wide override (Auto clears it).
void force_kernel_path(KernelPath p);

}  // namespace mimic
