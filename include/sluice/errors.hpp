// This header defines how sluice reports a failed item: sluice::failure, the value handed to a
// task's on_error handler, sluice::skip, a ready handler that drops failed items, and
// sluice::message, the text of a captured exception; and the
// exceptions sluice itself throws: sluice::all_failed, sluice::timeout_error,
// sluice::circuit_open, sluice::codec_error, sluice::worker_error, and for calls made in worker
// processes sluice::worker_crashed and sluice::remote_error.
#pragma once

#include <any>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

namespace sluice {

// One item that a task could not process.
//
// Example:
//   task(parse, {.on_error = [](const sluice::failure& f) { log(f.task, f.input_text); }})
// `error` is the last attempt's own exception, with its original type: error ==
// attempts.back(), also when the task's retry ran out (a task never wraps it in
// sluice::all_failed; that is only what a standalone sluice::retry throws). Without on_error,
// the same exception is the one the run rethrows to the caller.
// Lifetime: a failure owns everything it holds; handlers may copy it freely.
struct failure {
  std::string task{};          // the task's name ("task#3" unless named)
  // The 0-based position in the producer's output of the item this one came from. Items made
  // from one item share its sequence: a branch task's elements, fan_out's copies, zip's tuple.
  // A batch carries the sequence of its first item. A sluice::join task's outputs come from no
  // single item: every item downstream of a join has sequence 0. On the producer: the number of
  // items it had produced.
  std::uint64_t sequence = 0;
  std::exception_ptr error{};  // the last attempt's own exception (== attempts.back())
  std::vector<std::exception_ptr> attempts{};  // one per failed attempt, oldest first
  std::any input{};                            // a copy of the input when it is copyable
  std::string input_text{};                    // the input rendered with operator<< when it has one
};

// A ready on_error handler: the failed item is dropped and counted in task_stats::failed, and the
// run goes on.
//
// Example:
//   sluice::task(parse, {.on_error = sluice::skip})
// Thread safety: stateless; may be called from many workers at once.
struct skip_t {
  void operator()(const failure&) const noexcept {}
};
inline constexpr skip_t skip{};

// The message of a captured exception, for logs and handlers: what() of a std::exception;
// for a thrown value of another type "unknown exception of type 'int'" (its demangled type;
// "unknown exception" where the type cannot be had); for a null pointer "no exception (null
// exception_ptr)".
//
// Example:
//   task(parse, {.on_error = [](const sluice::failure& f) {
//     std::cerr << f.task << ": " << sluice::message(f.error) << '\n';
//   }})
// Thread safety: may be called from many threads at once, also on one exception_ptr.
// Exceptions: std::bad_alloc only.
std::string message(const std::exception_ptr& error);

// Every attempt failed: a standalone retry (sluice::retry, sluice::resilient) that ran out of
// attempts, or a fallback sequence (with_fallback, first_of) whose every alternative threw. A
// task's or opmap's retry option does not throw it: there the item fails with its last
// attempt's own exception (see failure).
//
// Example:
//   try { fetch(url); } catch (const sluice::all_failed& e) { for (auto& err : e.errors()) ...; }
// errors() holds each failed attempt's exception as it was thrown, oldest first; an attempt that
// was itself a fallback sequence contributes its own all_failed. what() names how many attempts
// failed and repeats the last one's what().
class all_failed : public std::runtime_error {
 public:
  // `what` says what ran out ("retry", "with_fallback", ...); `errors` must not be empty.
  all_failed(const std::string& what, std::vector<std::exception_ptr> errors);
  const std::vector<std::exception_ptr>& errors() const noexcept { return errors_; }

 private:
  std::vector<std::exception_ptr> errors_;
};

// An attempt ran past its deadline (task_options::timeout). In thread mode the call cannot be
// killed: a callable that takes a trailing std::stop_token is asked to stop at the deadline, and
// whatever the attempt returns after the deadline is discarded in favour of this error.
class timeout_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A call was refused without being made because its circuit breaker is open.
class circuit_open : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bytes given to sluice::codec<T>::decode were truncated or corrupt.
class codec_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An item failed in a pool's map, imap or amap (sluice::thread_pool): the original exception,
// the item's 0-based position in the input and the input as operator<< renders it ("" when
// its type has no operator<<). what() says all three and where.
//
// Example:
//   try { pool.map(parse, lines); }
//   catch (const sluice::worker_error& e) { log(e.index(), e.input_text()); std::rethrow_exception(e.original()); }
class worker_error : public std::runtime_error {
 public:
  // `where` names the call ("thread_pool::map").
  worker_error(const std::string& where, std::exception_ptr original, std::uint64_t index,
               std::string input_text);
  const std::exception_ptr& original() const noexcept { return original_; }
  std::uint64_t index() const noexcept { return index_; }
  const std::string& input_text() const noexcept { return input_text_; }

 private:
  std::exception_ptr original_;
  std::uint64_t index_;
  std::string input_text_;
};

// The worker process that ran an item died before it sent the item's result: killed by a signal
// (a crash such as SIGSEGV, std::abort's SIGABRT, a SIGKILL from outside), or it exited, with
// any code, 0 included. Only that item fails with it; the task's retry and on_error apply.
//
// Example:
//   catch (const sluice::worker_crashed& e) { if (e.signal() == SIGSEGV) report(e.what()); }
// what(): "sluice: task 'parse' (task#2): its worker process was killed by signal 11 (SIGSEGV,
// Segmentation fault) while it ran an item", or "...: its worker process exited with code 3
// before it finished an item".
class worker_crashed : public std::runtime_error {
 public:
  // `who` names the task or pool whose worker died ("task 'parse' (task#2)").
  static worker_crashed killed(std::string_view who, int signal);
  static worker_crashed exited(std::string_view who, int code);

  bool killed_by_signal() const noexcept { return signal_ != 0; }
  int signal() const noexcept { return signal_; }        // 0 when the worker exited
  int exit_code() const noexcept { return exit_code_; }  // -1 when a signal killed it

 private:
  worker_crashed(const std::string& what, int signal, int exit_code);
  int signal_;
  int exit_code_;
};

// An exception thrown by the callable in a worker process, carried to the caller's process: the
// exception object itself cannot cross, so its type's name and its what() do.
//
// Example:
//   catch (const sluice::remote_error& e) { if (e.type_name() == "std::out_of_range") ...; }
// what() is the original's what(); type_name() its demangled type ("std::out_of_range",
// "my::parse_error"). For a thrown value not derived from std::exception, type_name() is its
// type ("int") and what() says that it is not a std::exception.
class remote_error : public std::runtime_error {
 public:
  remote_error(std::string type_name, const std::string& what);
  const std::string& type_name() const noexcept { return type_name_; }

 private:
  std::string type_name_;
};

namespace detail {

// The exception being handled, as remote_error carries it: its demangled type and its what()
// (or, for a value not derived from std::exception, a sentence that says so). Call it inside a
// catch block; outside one it says that no exception is being handled. Never throws.
struct exception_description {
  std::string type_name;
  std::string what;
};
exception_description describe_current_exception() noexcept;

// The demangled name of a type ("std::vector<int>"), or its mangled name when that fails.
std::string demangled_name(const std::type_info& type);

}  // namespace detail

}  // namespace sluice
