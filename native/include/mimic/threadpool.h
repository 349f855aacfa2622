// A small persistent thread pool. One parallel region runs at a time (callers from different threads queue
// on a mutex); a region started from inside a worker runs serially on that worker, so nesting is safe. A thread
// marked no-wait (a JavaScript thread: its event loop must not stall behind another call's region) never queues:
// when the pool is busy its region runs serially on it. Every caller copes with fewer threads than it asked for.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mimic {

class ThreadPool {
 public:
  // n <= 0: the machine's hardware concurrency.
  explicit ThreadPool(int n = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The size asked for (set_global_threads); the workers follow at the next region.
  int size() const { return target_.load(std::memory_order_relaxed); }
  // The most threads a region asking for `requested` gets (requested <= 0: size()); it may get fewer.
  int threads_for(int requested) const { return requested <= 0 ? size() : std::min(requested, size()); }

  // Runs fn(tid, nthreads) for tid in [0, nthreads) with nthreads = min(requested, size()) (requested <= 0
  // means size()). The caller runs tid 0 and returns when every tid has finished.
  void run(int requested, const std::function<void(int tid, int nthreads)>& fn);

  // The process-wide pool, created on first use with MIMIC_NUM_THREADS or hardware concurrency threads.
  static ThreadPool& global();
  // Resizes the process-wide pool (n <= 0: hardware concurrency): now when it is idle, else when the running
  // region has ended (never waits for it).
  static void set_global_threads(int n);
  // Marks the calling thread no-wait (see above).
  static void mark_no_wait_thread();

 private:
  void worker_loop(int tid, uint64_t seen_generation);
  void start(int n);
  void stop();
  void apply_size();  // under region_mutex_: restarts the workers when target_ changed

  std::atomic<int> target_{1};
  int size_ = 1;  // the threads started (workers + the caller); changed under region_mutex_ only
  std::vector<std::thread> workers_;
  std::mutex region_mutex_;  // serialises parallel regions
  std::mutex m_;
  std::condition_variable cv_work_, cv_done_;
  const std::function<void(int, int)>* job_ = nullptr;
  int job_threads_ = 0;
  std::atomic<uint64_t> generation_{0};  // bumped (under m_) to publish a region; spinning workers poll it
  std::atomic<int> pending_{0};          // workers still running the current region
  bool quit_ = false;
  std::atomic<bool> quit_flag_{false};   // quit_, readable without the lock while spinning
  std::exception_ptr worker_error_;  // first exception thrown by a worker in the current region
};

int hardware_threads();

// Splits [0, n) into contiguous chunks, one per thread, and calls fn(begin, end).
void parallel_for(int64_t n, int threads, const std::function<void(int64_t begin, int64_t end)>& fn);

}  // namespace mimic
