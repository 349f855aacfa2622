#include "mimic/threadpool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MIMIC_CPU_RELAX() _mm_pause()
#else
#define MIMIC_CPU_RELAX() std::this_thread::yield()
#endif

namespace mimic {

namespace {
thread_local bool t_in_region = false;  // true on any thread while it executes a region's body
thread_local bool t_no_wait = false;    // a JavaScript thread: never queue behind another region

// Workers and the caller spin this long for the next region / the end of the current one before sleeping on a
// condition variable: training runs thousands of short regions per step, and a futex wake-up costs tens of
// microseconds (it showed as ~20% of a step in `perf`). MIMIC_SPIN_US overrides (0 disables spinning).
std::chrono::microseconds spin_budget() {
  static const std::chrono::microseconds us([] {
    const char* e = std::getenv("MIMIC_SPIN_US");
    return e ? std::max(0, std::atoi(e)) : 200;
  }());
  return us;
}

// Spins until pred() or the budget runs out; true when pred() became true.
template <class Pred>
bool spin_until(Pred pred) {
  const auto budget = spin_budget();
  if (budget.count() == 0) return pred();
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (int i = 0;; ++i) {
    if (pred()) return true;
    MIMIC_CPU_RELAX();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > deadline) return pred();
  }
}
std::mutex g_resize_mutex;  // serialises set_global_threads calls
}  // namespace

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int n) {
  target_.store(std::max(1, n <= 0 ? hardware_threads() : n));
  start(target_.load());
}

ThreadPool::~ThreadPool() { stop(); }

void ThreadPool::start(int n) {
  size_ = std::max(1, n);
  quit_ = false;
  quit_flag_ = false;
  uint64_t gen = generation_.load();  // new workers must not mistake an old region for a new one
  for (int t = 1; t < size_; ++t) workers_.emplace_back([this, t, gen] { worker_loop(t, gen); });
}

void ThreadPool::stop() {
  {
    std::lock_guard<std::mutex> lk(m_);
    quit_ = true;
    quit_flag_ = true;
  }
  cv_work_.notify_all();
  for (auto& w : workers_) w.join();
  workers_.clear();
}

void ThreadPool::worker_loop(int tid, uint64_t seen) {
  for (;;) {
    const std::function<void(int, int)>* job;
    int nthreads;
    // A new region is published by storing job_/job_threads_ and then bumping generation_ (both under m_);
    // the acquire load below makes them visible to a worker that sees the new generation while spinning.
    spin_until([&] { return generation_.load(std::memory_order_acquire) != seen || quit_flag_.load(); });
    {
      std::unique_lock<std::mutex> lk(m_);
      cv_work_.wait(lk, [&] { return quit_ || generation_.load() != seen; });
      if (quit_) return;
      seen = generation_.load();
      job = job_;
      nthreads = job_threads_;
    }
    if (tid < nthreads) {
      t_in_region = true;
      std::exception_ptr err;
      try {
        (*job)(tid, nthreads);
      } catch (...) {
        err = std::current_exception();
      }
      t_in_region = false;
      if (err) {
        std::lock_guard<std::mutex> lk(m_);
        if (!worker_error_) worker_error_ = err;
      }
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(m_);  // pairs with the caller's predicate check under m_: no lost wake-up
        cv_done_.notify_all();
      }
    }
  }
}

void ThreadPool::apply_size() {
  const int want = target_.load();
  if (want == size_) return;
  stop();
  start(want);
}

void ThreadPool::run(int requested, const std::function<void(int, int)>& fn) {
  if (threads_for(requested) <= 1 || t_in_region) {
    fn(0, 1);
    return;
  }
  std::unique_lock<std::mutex> region(region_mutex_, std::defer_lock);
  if (!t_no_wait) region.lock();
  else if (!region.try_lock()) {  // busy with another call's region: do this one alone rather than wait
    fn(0, 1);
    return;
  }
  apply_size();
  // counted now, under the region lock: the size may have changed since the caller asked
  const int nthreads = requested <= 0 ? size_ : std::min(requested, size_);
  if (nthreads <= 1) {
    region.unlock();  // a nested region of fn must be able to take it
    fn(0, 1);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(m_);
    job_ = &fn;
    job_threads_ = nthreads;
    pending_ = nthreads - 1;
    ++generation_;
  }
  cv_work_.notify_all();
  t_in_region = true;
  // An exception on tid 0 must not leave workers pointing at a dead job: wait for them first.
  std::exception_ptr err;
  try {
    fn(0, nthreads);
  } catch (...) {
    err = std::current_exception();
  }
  t_in_region = false;
  spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; });
  std::unique_lock<std::mutex> lk(m_);
  cv_done_.wait(lk, [&] { return pending_.load() == 0; });
  job_ = nullptr;
  if (!err) err = worker_error_;
  worker_error_ = nullptr;
  if (err) std::rethrow_exception(err);
}

// Created once and never destroyed (no lock after the first call; no joining of workers at process exit, where
// libuv threads may still be inside a region).
ThreadPool& ThreadPool::global() {
  static ThreadPool* pool = [] {
    int n = 0;
    if (const char* env = std::getenv("MIMIC_NUM_THREADS")) n = std::atoi(env);
    return new ThreadPool(n);
  }();
  return *pool;
}

void ThreadPool::set_global_threads(int n) {
  ThreadPool& pool = global();
  std::lock_guard<std::mutex> lk(g_resize_mutex);
  pool.target_.store(n <= 0 ? hardware_threads() : n);
  std::unique_lock<std::mutex> region(pool.region_mutex_, std::try_to_lock);
  if (region.owns_lock()) pool.apply_size();  // idle: now; else the next region does it
}

void ThreadPool::mark_no_wait_thread() { t_no_wait = true; }

void parallel_for(int64_t n, int threads, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  ThreadPool::global().run(threads, [&](int tid, int nt) {
    int64_t chunk = (n + nt - 1) / nt;
    int64_t b = tid * chunk, e = std::min<int64_t>(n, b + chunk);
    if (b < e) fn(b, e);
  });
}

}  // namespace mimic
