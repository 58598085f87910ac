// This header defines sluice::graceful_shutdown, which turns Ctrl-C (SIGINT) and SIGTERM into a
// graceful stop of the pipelines and maps it watches: a drain at the first signal, a cancel at
// the second.
//
// Example:
//   sluice::graceful_shutdown shutdown;
//   auto rows = etl(path);
//   shutdown.watch(rows);
//   std::size_t n = 0;
//   for (auto& row : rows) load(row), ++n;
//   if (rows.drained()) std::cout << "drained after " << n << " rows\n";
//   auto sizes = sluice::pmap(measure, files, {.drain = shutdown.drain_token()});
//
// While an instance lives:
//   1st SIGINT or SIGTERM  every watched stream drains (stream::drain()), drain_token() is
//                          stopped;
//   2nd                    every watched stream is cancelled (stream::cancel(): a reader blocked
//                          in next() returns std::nullopt at once), cancel_token() is stopped,
//                          and the dispositions the two signals had before the instance are put
//                          back;
//   3rd and later          get those dispositions: for most programs the default action, which
//                          ends the process (a third Ctrl-C is the way out of a run that does
//                          not stop).
// The destructor puts the previous dispositions back if the second signal has not.
//
// How: the signal handler only writes the signal's number to a pipe (async-signal-safe); a thread
// of the instance reads it and does the rest, so drains and cancels run on that thread, never in
// a signal handler.
// One instance at a time: signal dispositions belong to the process; a second instance while one
//   lives throws std::logic_error.
// Fork: the pipe is close-on-exec, and a child forked without exec that receives one of the
//   signals while it still has the handler (before it resets its signals) puts back the previous
//   disposition and raises the signal again, as if the instance were not there. sluice's worker
//   processes reset every signal to its default when they start and ignore SIGINT (Ctrl-C reaches
//   the whole process group; it is the parent's to stop them), so during a drain they finish the
//   elements they were sent.
// Thread safety: watch() from the thread that owns the stream; the other members from any thread.
// Exceptions: the constructor throws std::logic_error (another instance lives) or
//   std::system_error (a pipe, a handler or the thread could not be made); the rest throw nothing
//   but std::bad_alloc from watch().
// Lifetime: a watched stream may be destroyed before or after the instance: the link is dropped
//   with the stream's run, and outlives the instance harmlessly (no signal can reach it then).
#pragma once

#include <atomic>
#include <stop_token>
#include <thread>

#include <sluice/stream.hpp>

namespace sluice {

class graceful_shutdown {
 public:
  graceful_shutdown();
  graceful_shutdown(const graceful_shutdown&) = delete;
  graceful_shutdown& operator=(const graceful_shutdown&) = delete;
  ~graceful_shutdown();

  // From now on `s` drains at the first signal and is cancelled at the second; watched after a
  // signal already came, it drains (or is cancelled) at once. The watch ends with `s`'s run (it
  // follows `s` when `s` is moved).
  template <class T>
  void watch(stream<T>& s) {
    s.link_drain(drain_.get_token());
    s.link_stop(cancel_.get_token());
  }

  // Stopped at the first signal: pass it as pmap_options::drain / opmap_options::drain, or poll
  // it in a loop of your own.
  std::stop_token drain_token() const noexcept { return drain_.get_token(); }
  // Stopped at the second signal.
  std::stop_token cancel_token() const noexcept { return cancel_.get_token(); }
  // SIGINTs and SIGTERMs this instance has handled so far.
  int signals_received() const noexcept { return received_.load(std::memory_order_acquire); }

 private:
  void listen() noexcept;  // the thread's body: reads the pipe until the destructor says stop

  std::stop_source drain_{};
  std::stop_source cancel_{};
  std::atomic<int> received_{0};
  bool restored_ = false;  // the previous dispositions are back; the thread's, then the dtor's
  std::thread thread_{};   // last: started once everything above is ready
};

}  // namespace sluice
