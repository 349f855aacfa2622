// Run-time CPU feature dispatch. Kernels with an AVX2+FMA version pick it when the CPU has both; the GEMM also
// has an AVX-512 (F + VL) version. The generic path can be forced (for tests, or MIMIC_FORCE_GENERIC=1 in the
// environment), and MIMIC_MAX_PATH=avx2|generic caps what Auto resolves to (benchmarks of the AVX2 path on an
// AVX-512 machine).
#pragma once

namespace mimic {

// Avx512 implies Avx2: code that has no AVX-512 kernel treats it as Avx2 (anything but Generic may use AVX2+FMA).
enum class KernelPath { Auto, Generic, Avx2, Avx512 };

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512vl = false;
};

const CpuFeatures& cpu_features();
// Whether the CPU can run a path (Auto and Generic: always).
bool path_supported(KernelPath p);
// The path kernels should take for a request: Auto resolves to Avx512 when available, else Avx2, else Generic
// (capped by MIMIC_MAX_PATH, and Generic under MIMIC_FORCE_GENERIC or force_kernel_path). Requesting a path the
// CPU lacks throws Error(Code::Unsupported).
KernelPath resolve_path(KernelPath requested);
const char* path_name(KernelPath p);
// Process-wide override (Auto clears it).
void force_kernel_path(KernelPath p);

}  // namespace mimic
