// Standalone timing harness for the CUDA KDE engine (not part of the addon build): splits the time of
// estimate_cuda into host centring, uploads and the kde_tiles kernel itself (CUDA events), because the bench's
// 'engine s' is the whole call and, at large D, is dominated by the host-side centring pass and pageable copies.
// Includes kde_mi.cu so that it can launch the kernel directly; links the CPU core (centre, finalize, validate).
//
// Build (from the repo root, after the addon build has produced build/libmimic_core.a):
//   nvcc -O3 -std=c++17 -arch=sm_90 --use_fast_math -Inative/include native/tools/kde_cuda_time.cu \
//        native/cuda/device.cu build/libmimic_core.a -o /tmp/kde_cuda_time -lpthread
// Run: /tmp/kde_cuda_time [N D [L [DZ [reps]]]]   (default: the bench table, L = 4, DZ = 512, 3 bandwidths,
//      every accumulator on: joint, BD, kk; no labels)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "../cuda/kde_mi.cu"

using namespace mimic::kde;
using namespace mimic::kde::detail;
using Clock = std::chrono::steady_clock;
static double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

static void run_case(long long N, long long D, int L, long long DZ, int reps) {
  const int B = 3;
  std::mt19937 rng(42);
  std::normal_distribution<float> g(0.f, 1.f);
  std::vector<std::vector<float>> data(L + 1);
  for (int l = 0; l <= L; ++l) {
    const long long d = l < L ? D : DZ;
    data[l].resize(static_cast<size_t>(N * d));
    for (auto& v : data[l]) v = 3.f + g(rng);
  }
  Request req;
  for (int l = 0; l < L; ++l) req.layers.push_back(Matrix{data[l].data(), N, D});
  req.features = Matrix{data[L].data(), N, DZ};
  req.s2_layers.assign(L, {0.5 * D / 16, 0.5 * D / 4, 0.5 * D});
  req.s2_features = {0.5 * DZ / 16, 0.5 * DZ / 4, 0.5 * DZ};
  req.quantities = (1u << I_TZ) | (1u << I_TZ_LOO) | (1u << I_TX_UP) | (1u << I_TX_LOW) | (1u << HSIC);
  req.backend = Backend::Cuda;
  const Needs need = needs_for(req);

  auto t0 = Clock::now();
  for (int l = 0; l <= L; ++l) centre(l < L ? req.layers[l] : req.features, 0);
  const double t_centre = since(t0);

  t0 = Clock::now();
  std::vector<std::unique_ptr<DeviceSet>> sets;  // centres again and uploads
  for (int l = 0; l <= L; ++l) sets.push_back(std::make_unique<DeviceSet>(l < L ? req.layers[l] : req.features));
  cudaDeviceSynchronize();
  const double t_sets = since(t0);
  std::vector<DevSet> views;
  for (int l = 0; l < L; ++l) views.push_back(sets[l]->view);
  mimic::cuda::DeviceBuffer<DevSet> d_views(L);
  d_views.upload(views.data(), L);
  std::vector<float> ct(L * B), cz(B);
  for (int l = 0; l < L; ++l)
    for (int b = 0; b < B; ++b) ct[l * B + b] = static_cast<float>(0.5 / req.s2_layers[l][b]);
  for (int b = 0; b < B; ++b) cz[b] = static_cast<float>(0.5 / req.s2_features[b]);
  mimic::cuda::DeviceBuffer<float> d_ct(L * B), d_cz(B);
  d_ct.upload(ct.data(), ct.size());
  d_cz.upload(cz.data(), cz.size());

  int sms = 0, optin = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0);
  const bool big = N > 512 && static_cast<size_t>(optin) >= Geo<128>::SMEM;  // as estimate_cuda
  const int TM = big ? 128 : 64;
  const size_t smem = big ? Geo<128>::SMEM : Geo<64>::SMEM;
  auto kernel = big ? kde_tiles<128> : kde_tiles<64>;
  MIMIC_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  int per_sm = 0;
  MIMIC_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, NT, smem));
  const long long slots = static_cast<long long>(std::max(1, per_sm)) * std::max(1, sms);
  const int nt = static_cast<int>((N + TM - 1) / TM);
  int splits = 1, per = nt;
  long long best = -1;
  for (int s = 1; s <= nt; ++s) {
    const int pr = (nt + s - 1) / s, sp = (nt + pr - 1) / pr;
    if (sp != s) continue;
    const long long cost = (static_cast<long long>(nt) * sp + slots - 1) / slots * pr;
    if (best < 0 || cost < best) best = cost, splits = sp, per = pr;
  }
  const size_t state = static_cast<size_t>(splits) * L * B * N, zstate = static_cast<size_t>(splits) * B * N;
  mimic::cuda::DeviceBuffer<double> m_t(state), s_t(state), m_j(state), s_j(state), sbd(state), zm(zstate), zs(zstate),
      kk(L * B), ll(B);
  Params p{};
  p.N = N, p.L = L, p.B = B, p.nt = nt, p.tiles_per_split = per, p.splits = splits;
  p.z = sets[L]->view;
  p.layers = d_views.get();
  p.ct = d_ct.get(), p.cz = d_cz.get();
  p.need_z = need.z, p.joint = need.joint, p.bd = need.bd, p.kk = need.kk;
  p.m_t = m_t.get(), p.s_t = s_t.get(), p.m_j = m_j.get(), p.s_j = s_j.get(), p.sum_bd = sbd.get();
  p.zm = zm.get(), p.zs = zs.get(), p.kk_sum = kk.get(), p.ll_sum = ll.get();
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<float> ms;
  for (int r = 0; r <= reps; ++r) {  // the first launch is a warm-up
    for (auto* buf : {&m_t, &s_t, &m_j, &s_j, &sbd, &zm, &zs, &kk, &ll})
      MIMIC_CUDA(cudaMemset(buf->get(), 0, buf->size() * sizeof(double)));
    cudaEventRecord(e0);
    kernel<<<dim3(nt, splits), NT, smem>>>(p);
    cudaEventRecord(e1);
    MIMIC_CUDA(cudaEventSynchronize(e1));
    MIMIC_CUDA(cudaGetLastError());
    float t = 0;
    cudaEventElapsedTime(&t, e0, e1);
    if (r) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  const double kernel_s = ms[ms.size() / 2] * 1e-3;

  std::vector<double> tot;
  for (int r = 0; r <= reps; ++r) {
    t0 = Clock::now();
    estimate_cuda(req);
    if (r) tot.push_back(since(t0));
  }
  std::sort(tot.begin(), tot.end());
  const double flops = 2.0 * N * N * (static_cast<double>(L) * D + DZ);
  std::printf("| %6lld | %6lld | TM %3d | grid %4d x %3d | %2d/SM | estimate_cuda %.4f s | host centring %.4f s | "
              "centre+upload %.4f s | kernel %.4f s = %6.0f GFLOP/s |\n",
              N, D, TM, nt, splits, per_sm, tot[tot.size() / 2], t_centre, t_sets, kernel_s, flops / kernel_s / 1e9);
}

int main(int argc, char** argv) {
  const int L = argc > 3 ? std::atoi(argv[3]) : 4;
  const long long DZ = argc > 4 ? std::atoll(argv[4]) : 512;
  const int reps = argc > 5 ? std::atoi(argv[5]) : 3;
  try {
    if (argc > 2) {
      run_case(std::atoll(argv[1]), std::atoll(argv[2]), L, DZ, reps);
    } else {
      const long long cases[][2] = {{1024, 64}, {1024, 1024}, {4096, 64}, {4096, 1024}, {4096, 16384}, {16384, 1024}};
      for (auto& c : cases) run_case(c[0], c[1], L, DZ, reps);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
