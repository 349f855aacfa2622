// Private copies of the arrays that queued work reads. A typed array passed to an async call may be transferred
// (postMessage) or otherwise detached before the work runs or while it runs; its memory can then be freed under the
// worker thread. Work that must survive that reads copies made here, on the calling thread (callers that own their
// arrays for the whole call opt out: `borrow`). The copies live as long as the task holds its CallCopies.
#pragma once

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <new>

namespace mimic::bind {

// Buffers of finished calls' copies, kept mapped for the next call: a copy into fresh memory runs at page-fault
// speed (~2 GB/s here) against ~17 GB/s into memory already mapped, which made the default copy 5-20% of an
// estimateMI call. At most MIMIC_COPY_CACHE_MB (default 1024) MiB are kept; 0 keeps none. A buffer unused for a
// minute is freed at the next call; release() frees them now (a service going idle after a large call).
class CopyPool {
 public:
  struct Block {
    unsigned char* data = nullptr;
    size_t capacity = 0;
  };

  static CopyPool& instance() {
    static CopyPool pool;
    return pool;
  }

  // The smallest kept block of [bytes, 2 x bytes], else a new one (64-byte aligned, like the callers' arrays).
  Block take(size_t bytes) {
    bytes = (bytes + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;
    {
      std::lock_guard<std::mutex> lock(mu_);
      drop_idle_locked(std::chrono::minutes(1));
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first <= 2 * bytes) {
        Block b{it->second.data, it->first};
        kept_ -= it->first;
        free_.erase(it);
        return b;
      }
    }
    auto* p = static_cast<unsigned char*>(std::aligned_alloc(64, bytes));
    if (!p) throw std::bad_alloc();
    return {p, bytes};
  }

  // Frees every kept buffer (those of calls still running come back later); returns the bytes freed.
  size_t release() {
    std::lock_guard<std::mutex> lock(mu_);
    return drop_idle_locked(Clock::duration::zero());
  }

  size_t kept_bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return kept_;
  }

  void give(Block b) {
    if (!b.data) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (kept_ + b.capacity <= limit_) {
        free_.emplace(b.capacity, Kept{b.data, Clock::now()});
        kept_ += b.capacity;
        return;
      }
    }
    std::free(b.data);
  }

 private:
  CopyPool() {
    const char* env = std::getenv("MIMIC_COPY_CACHE_MB");
    const long mb = env ? std::strtol(env, nullptr, 10) : 1024;
    limit_ = mb > 0 ? static_cast<size_t>(mb) << 20 : 0;
  }
  using Clock = std::chrono::steady_clock;
  struct Kept {
    unsigned char* data;
    Clock::time_point since;
  };

  // Frees the kept buffers unused for longer than `idle`; returns the bytes freed.
  size_t drop_idle_locked(Clock::duration idle) {
    size_t freed = 0;
    const auto now = Clock::now();
    for (auto it = free_.begin(); it != free_.end();) {
      if (now - it->second.since >= idle) {
        std::free(it->second.data);
        freed += it->first;
        it = free_.erase(it);
      } else {
        ++it;
      }
    }
    kept_ -= freed;
    return freed;
  }

  std::mutex mu_;
  std::multimap<size_t, Kept> free_;
  size_t kept_ = 0, limit_ = 0;
};

class CallCopies {
 public:
  CallCopies() = default;
  CallCopies(const CallCopies&) = delete;
  CallCopies& operator=(const CallCopies&) = delete;
  ~CallCopies() {
    for (const auto& b : blocks_) CopyPool::instance().give(b);
  }

  // One thread, on the calling thread: the engine's pool may be busy with another call's region, which the main
  // thread must not wait for.
  template <class T>
  T* hold(const T* src, size_t n) {
    T* copy = alloc<T>(n);
    if (n) std::memcpy(copy, src, n * sizeof(T));
    return copy;
  }

  // Room for n values (uninitialised), owned like the copies: for gathers, and for outputs written on the worker and
  // copied into the caller's array on the main thread.
  template <class T>
  T* alloc(size_t n) {
    return reinterpret_cast<T*>(blocks_.emplace_back(CopyPool::instance().take(n * sizeof(T))).data);
  }

 private:
  std::deque<CopyPool::Block> blocks_;
};

}  // namespace mimic::bind
