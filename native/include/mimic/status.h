// Status and error type of the native engine. Codes are stable: the bindings map each one to the JS
// error `code` string returned by code_name().
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

namespace mimic {

enum class Code : int {
  Ok = 0,
  InvalidArgument,  // a value outside its allowed range (negative size, bad option)
  ShapeMismatch,    // tensors whose shapes or lengths disagree
  NonFinite,        // NaN or Inf where the maths forbids it
  DType,            // wrong element type
  OutOfMemory,
  Unsupported,      // valid request this build cannot serve (e.g. CUDA without a GPU)
  Cuda,             // a CUDA runtime call failed
  Internal,
  Aborted,          // stopped on request (a cancel flag)
};

inline const char* code_name(Code c) {
  switch (c) {
    case Code::Ok: return "OK";
    case Code::InvalidArgument: return "E_INVALID_ARGUMENT";
    case Code::ShapeMismatch: return "E_SHAPE_MISMATCH";
    case Code::NonFinite: return "E_NON_FINITE";
    case Code::DType: return "E_DTYPE";
    case Code::OutOfMemory: return "E_OUT_OF_MEMORY";
    case Code::Unsupported: return "E_UNSUPPORTED";
    case Code::Cuda: return "E_CUDA";
    case Code::Internal: return "E_INTERNAL";
    case Code::Aborted: return "E_ABORTED";
  }
  return "E_INTERNAL";
}

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }
  bool is_ok() const { return code_ == Code::Ok; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::Ok;
  std::string message_;
};

// Thrown inside the engine where unwinding is simpler than threading a Status through; every public
// entry point catches it (and std::bad_alloc) and returns the Status.
class Error : public std::runtime_error {
 public:
  Error(Code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Code code() const { return code_; }
  Status status() const { return {code_, what()}; }

 private:
  Code code_;
};

#define MIMIC_REQUIRE(cond, code, msg)                   \
  do {                                                   \
    if (!(cond)) throw ::mimic::Error((code), (msg));    \
  } while (0)

// Runs fn() and converts any engine exception into a Status.
template <class Fn>
Status guarded(Fn&& fn) {
  try {
    fn();
    return Status::ok();
  } catch (const Error& e) {
    return e.status();
  } catch (const std::bad_alloc&) {
    return {Code::OutOfMemory, "out of memory"};
  } catch (const std::exception& e) {
    return {Code::Internal, e.what()};
  }
}

}  // namespace mimic
