#include "mimic/cpu.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "mimic/status.h"

namespace mimic {

namespace {
CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
#endif
  return f;
}

std::atomic<int> g_forced{-1};

KernelPath env_default() {
  const char* e = std::getenv("MIMIC_FORCE_GENERIC");
  return (e && std::strcmp(e, "0") != 0 && *e) ? KernelPath::Generic : KernelPath::Auto;
}

// MIMIC_MAX_PATH=avx2|generic: the best path Auto may pick (unset / other values: no cap).
KernelPath env_max() {
  const char* e = std::getenv("MIMIC_MAX_PATH");
  if (e && !std::strcmp(e, "generic")) return KernelPath::Generic;
  if (e && !std::strcmp(e, "avx2")) return KernelPath::Avx2;
  return KernelPath::Avx512;
}

bool has_avx2() { return cpu_features().avx2 && cpu_features().fma; }
bool has_avx512() { return has_avx2() && cpu_features().avx512f && cpu_features().avx512vl; }
}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

bool path_supported(KernelPath p) {
  switch (p) {
    case KernelPath::Avx2: return has_avx2();
    case KernelPath::Avx512: return has_avx512();
    default: return true;
  }
}

void force_kernel_path(KernelPath p) { g_forced = static_cast<int>(p); }

KernelPath resolve_path(KernelPath requested) {
  static const KernelPath env = env_default();
  static const KernelPath cap = env_max();
  KernelPath p = requested;
  if (p == KernelPath::Auto) {
    int forced = g_forced.load();
    p = forced >= 0 ? static_cast<KernelPath>(forced) : env;
  }
  if (p == KernelPath::Auto) {
    if (cap == KernelPath::Avx512 && has_avx512()) return KernelPath::Avx512;
    if (cap != KernelPath::Generic && has_avx2()) return KernelPath::Avx2;
    return KernelPath::Generic;
  }
  if (p == KernelPath::Avx2 && !has_avx2())
    throw Error(Code::Unsupported, "the AVX2+FMA kernel path was requested but this CPU lacks AVX2 or FMA");
  if (p == KernelPath::Avx512 && !has_avx512())
    throw Error(Code::Unsupported,
                "the AVX-512 kernel path was requested but this CPU lacks AVX-512F/VL (or AVX2/FMA)");
  return p;
}

const char* path_name(KernelPath p) {
  switch (p) {
    case KernelPath::Auto: return "auto";
    case KernelPath::Generic: return "generic";
    case KernelPath::Avx2: return "avx2";
    case KernelPath::Avx512: return "avx512";
  }
  return "?";
}

}  // namespace mimic
