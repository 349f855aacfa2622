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
#endif
  return f;
}

std::atomic<int> g_forced{-1};

KernelPath env_default() {
  const char* e = std::getenv("MIMIC_FORCE_GENERIC");
  return (e && std::strcmp(e, "0") != 0 && *e) ? KernelPath::Generic : KernelPath::Auto;
}
}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

void force_kernel_path(KernelPath p) { g_forced = static_cast<int>(p); }

KernelPath resolve_path(KernelPath requested) {
  static const KernelPath env = env_default();
  KernelPath p = requested;
  if (p == KernelPath::Auto) {
    int forced = g_forced.load();
    p = forced >= 0 ? static_cast<KernelPath>(forced) : env;
  }
  const bool has = cpu_features().avx2 && cpu_features().fma;
  if (p == KernelPath::Auto) return has ? KernelPath::Avx2 : KernelPath::Generic;
  if (p == KernelPath::Avx2 && !has)
    throw Error(Code::Unsupported, "the AVX2+FMA kernel path was requested but this CPU lacks AVX2 or FMA");
  return p;
}

const char* path_name(KernelPath p) {
  switch (p) {
    case KernelPath::Auto: return "auto";
    case KernelPath::Generic: return "generic";
    case KernelPath::Avx2: return "avx2";
  }
  return "?";
}

}  // namespace mimic
