// sgemm(args) synchronously (benchmarks, small calls) and sgemmAsync(args) -> Promise (off the event loop).
// args: { transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads, path }; c is updated in place.
#include <memory>

#include "async_task.h"
#include "call_copies.h"
#include "convert.h"
#include "exports.h"
#include "mimic/gemm.h"

namespace mimic::bind {

namespace {
struct GemmCall {
  Trans ta = Trans::N, tb = Trans::N;
  int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldc = 0;
  float alpha = 1, beta = 0;
  const float* a = nullptr;
  const float* b = nullptr;
  float* c = nullptr;
  GemmOptions opt;
};

// Checks that a row-major (rows x cols, ld) matrix fits in `len` elements.
void check_extent(Napi::Env env, const char* name, int64_t rows, int64_t cols, int64_t ld, size_t len) {
  if (ld < std::max<int64_t>(1, cols))
    fail(env, Code::InvalidArgument,
         std::string("ld") + name + " (" + std::to_string(ld) + ") must be >= " + std::to_string(std::max<int64_t>(1, cols)));
  if (rows == 0 || cols == 0) return;
  int64_t need = (rows - 1) * ld + cols;
  if (static_cast<int64_t>(len) < need)
    fail(env, Code::ShapeMismatch,
         std::string(name) + " has " + std::to_string(len) + " elements, needs at least " + std::to_string(need));
}

GemmCall parse(Napi::Env env, Napi::Value arg, std::vector<Napi::Value>* keep) {
  Napi::Object o = as_object(env, arg, "sgemm args");
  GemmCall g;
  g.ta = get_bool(env, o, "transA", "sgemm", false) ? Trans::T : Trans::N;
  g.tb = get_bool(env, o, "transB", "sgemm", false) ? Trans::T : Trans::N;
  g.m = get_int(env, o, "m", "sgemm", 0, 0, true);
  g.n = get_int(env, o, "n", "sgemm", 0, 0, true);
  g.k = get_int(env, o, "k", "sgemm", 0, 0, true);
  g.alpha = static_cast<float>(get_number(env, o, "alpha", "sgemm", 1.0));
  g.beta = static_cast<float>(get_number(env, o, "beta", "sgemm", 0.0));
  auto A = get_typed<float>(env, o.Get("a"), "sgemm.a", napi_float32_array, "Float32Array");
  auto B = get_typed<float>(env, o.Get("b"), "sgemm.b", napi_float32_array, "Float32Array");
  auto C = get_typed<float>(env, o.Get("c"), "sgemm.c", napi_float32_array, "Float32Array");
  // Stored shapes: A is (m x k) or, transposed, (k x m); likewise B.
  const int64_t a_rows = g.ta == Trans::N ? g.m : g.k, a_cols = g.ta == Trans::N ? g.k : g.m;
  const int64_t b_rows = g.tb == Trans::N ? g.k : g.n, b_cols = g.tb == Trans::N ? g.n : g.k;
  g.lda = get_int(env, o, "lda", "sgemm", std::max<int64_t>(1, a_cols), 1);
  g.ldb = get_int(env, o, "ldb", "sgemm", std::max<int64_t>(1, b_cols), 1);
  g.ldc = get_int(env, o, "ldc", "sgemm", std::max<int64_t>(1, g.n), 1);
  check_extent(env, "a", a_rows, a_cols, g.lda, A.length);
  check_extent(env, "b", b_rows, b_cols, g.ldb, B.length);
  check_extent(env, "c", g.m, g.n, g.ldc, C.length);
  g.a = A.data;
  g.b = B.data;
  g.c = C.data;
  g.opt.threads = static_cast<int>(get_int(env, o, "threads", "sgemm", 0, 0));
  g.opt.path = parse_path(env, get_string(env, o, "path", "sgemm.path", "auto"), "sgemm.path");
  if (keep) {
    keep->push_back(o.Get("a"));
    keep->push_back(o.Get("b"));
    keep->push_back(o.Get("c"));
  }
  return g;
}

void run(const GemmCall& g) {
  sgemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, g.c, g.ldc, g.opt);
}

Napi::Value SgemmSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GemmCall g = parse(env, info[0], nullptr);
  run_checked(env, [&] { run(g); });
  return env.Undefined();
}

// a, b and c are copied (CallCopies) unless args.borrow: the product goes into c's copy, whose m x n block (rows
// ldc apart: only what sgemm writes) is written back into c on the main thread once done, unless c was detached
// meanwhile (then the call rejects).
Napi::Value SgemmAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Napi::Value> keep;
  GemmCall g = parse(env, info[0], &keep);
  Napi::Object o = info[0].As<Napi::Object>();
  if (get_bool(env, o, "borrow", "sgemm", false))
    return queue_task(env, "mimic.sgemm", keep, [g] { run(g); }, [](Napi::Env e) { return e.Undefined(); });
  auto copies = std::make_shared<CallCopies>();
  // the extents parse() checked: (rows - 1) x ld + cols elements of each
  const auto extent = [](int64_t rows, int64_t cols, int64_t ld) { return rows && cols ? static_cast<size_t>((rows - 1) * ld + cols) : 0; };
  const bool ta = g.ta == Trans::T, tb = g.tb == Trans::T;
  const size_t c_len = extent(g.m, g.n, g.ldc);
  GemmCall w = g;
  w.a = copies->hold(g.a, extent(ta ? g.k : g.m, ta ? g.m : g.k, g.lda));
  w.b = copies->hold(g.b, extent(tb ? g.n : g.k, tb ? g.k : g.n, g.ldb));
  w.c = copies->hold(g.c, c_len);  // beta may read it; the product is written into it
  auto c_ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(o.Get("c").As<Napi::Object>()));
  return queue_task(env, "mimic.sgemm", keep, [w, copies] { run(w); }, [w, copies, c_ref, c_len](Napi::Env e) {
    Napi::Value c = c_ref->Value();
    if (is_detached(c) || c.As<Napi::TypedArray>().ElementLength() < c_len)
      throw make_error(e, Code::InvalidArgument, "sgemm.c was detached (transferred) before the product was written");
    auto dst = get_typed<float>(e, c, "sgemm.c", napi_float32_array, "Float32Array");
    for (int64_t r = 0; r < w.m; ++r) std::memcpy(dst.data + r * w.ldc, w.c + r * w.ldc, static_cast<size_t>(w.n) * sizeof(float));
    return e.Undefined();
  });
}
}  // namespace

void init_gemm(Napi::Env env, Napi::Object exports) {
  exports.Set("sgemm", Napi::Function::New(env, SgemmSync, "sgemm"));
  exports.Set("sgemmAsync", Napi::Function::New(env, SgemmAsync, "sgemmAsync"));
}

}  // namespace mimic::bind
