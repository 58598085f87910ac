// sluice::progress_bar (sluice/progress.hpp): formatting a frame and drawing it, at most one
// thread at a time and at most one frame per 100 ms.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <iterator>
#include <string>
#include <utility>

#include <sluice/progress.hpp>

namespace sluice {
namespace {

using namespace std::chrono_literals;

constexpr clock::duration kFrameInterval = 100ms;  // at most 10 frames a second
constexpr std::uint64_t kBarWidth = 20;
constexpr std::string_view kErase = "\x1b[K";  // erase to the end of the line

// "mm:ss" under an hour, "h:mm:ss" from an hour on; `seconds` is rounded down.
void append_time(std::string& out, double seconds) {
  const auto whole = static_cast<std::uint64_t>(seconds);
  char text[32];
  if (whole < 3600) {
    std::snprintf(text, sizeof text, "%02" PRIu64 ":%02" PRIu64, whole / 60, whole % 60);
  } else {
    std::snprintf(text, sizeof text, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, whole / 3600,
                  whole / 60 % 60, whole % 60);
  }
  out += text;
}

// One decimal; k, M or G once the plain figure would print as 1000.0 or more.
void append_rate(std::string& out, double rate) {
  static constexpr const char* kSuffixes[] = {"", "k", "M", "G"};
  std::size_t unit = 0;
  while (unit + 1 < std::size(kSuffixes) && rate >= 999.95) {
    rate /= 1000;
    ++unit;
  }
  char text[48];
  std::snprintf(text, sizeof text, "%.1f%s", rate, kSuffixes[unit]);
  out += text;
}

}  // namespace

struct progress_bar::impl {
  progress_options options;
  const clock& time;
  clock::time_point start;
  // The earliest time (clock ticks since the epoch) at which advance() may draw again. Relaxed:
  // it only spares advance() the mutex between frames; the mutex orders the drawing itself.
  std::atomic<clock::duration::rep> next_frame{0};
  std::mutex mu;          // held by the thread drawing; guards `finished`
  bool finished = false;  // finish() has run
  bool lines = false;     // off a terminal: plain lines every options.log_every

  explicit impl(progress_options o)
      : options(std::move(o)), time(clock_or_system(options.clock)), start(time.now()) {}

  // A frame; or, when `line`, the plain line of a log: no "\r", no erase, always a "\n".
  std::string frame(std::uint64_t done, clock::time_point now, bool last, bool line) const {
    const double elapsed = std::chrono::duration<double>(now - start).count();
    const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;

    std::string out = line ? "" : "\r";
    if (!options.label.empty()) {
      out += options.label;
      out += ": ";
    }
    char text[96];
    if (options.total) {
      const std::uint64_t total = *options.total;
      const std::uint64_t capped = std::min(done, total);
      const std::uint64_t percent = total == 0 ? 100 : capped * 100 / total;
      const std::uint64_t filled = total == 0 ? kBarWidth : capped * kBarWidth / total;
      std::snprintf(text, sizeof text, "%3" PRIu64 "%% [", percent);
      out += text;
      out.append(filled, '#');
      out.append(kBarWidth - filled, '.');
      std::snprintf(text, sizeof text, "] %" PRIu64 "/%" PRIu64 " [", done, total);
      out += text;
      append_time(out, elapsed);
      out += '<';
      if (done >= total) {
        out += "00:00";
      } else if (rate > 0) {
        // (total - done) / rate, without the rounding of 1 / rate: whole seconds stay whole.
        append_time(out, static_cast<double>(total - done) * elapsed / static_cast<double>(done));
      } else {
        out += '?';
      }
    } else {
      std::snprintf(text, sizeof text, "%" PRIu64 " items [", done);
      out += text;
      append_time(out, elapsed);
    }
    out += ", ";
    if (elapsed > 0) {
      append_rate(out, rate);
    } else {
      out += '?';
    }
    out += " items/s]";
    if (!line) out += kErase;
    if (last || line) out += '\n';
    return out;
  }

  // Draws the frame for `done` at `now`. Called with `mu` held.
  void draw(std::uint64_t done, clock::time_point now, bool last) {
    const clock::duration interval = lines ? options.log_every : kFrameInterval;
    next_frame.store((now + interval).time_since_epoch().count(), std::memory_order_relaxed);
    const std::string text = frame(done, now, last, lines);
    if (options.draw) {
      options.draw(text);
    } else {
      std::fwrite(text.data(), 1, text.size(), options.terminal);
      std::fflush(options.terminal);
    }
  }
};

progress_bar::progress_bar(progress_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {
  if (impl_->options.terminal == nullptr) impl_->options.terminal = stderr;
  const bool frames = impl_->options.draw || ::isatty(::fileno(impl_->options.terminal)) == 1;
  impl_->lines = !frames && impl_->options.log_every > clock::duration::zero();
  drawing_ = frames || impl_->lines;
  if (impl_->lines) {
    impl_->next_frame.store((impl_->start + impl_->options.log_every).time_since_epoch().count(),
                            std::memory_order_relaxed);
  } else if (drawing_) {
    try {
      std::lock_guard lock(impl_->mu);
      impl_->draw(0, impl_->start, false);
    } catch (...) {
      // The first frame is lost; the next one comes on time.
    }
  }
}

progress_bar::~progress_bar() { finish(); }

void progress_bar::redraw() noexcept {
  try {
    const clock::time_point now = impl_->time.now();
    if (now.time_since_epoch().count() < impl_->next_frame.load(std::memory_order_relaxed)) {
      return;
    }
    std::unique_lock lock(impl_->mu, std::try_to_lock);
    if (!lock.owns_lock() || impl_->finished) return;  // another thread draws; or all is done
    // Re-read under the lock: another thread may have drawn since the check above.
    if (now.time_since_epoch().count() < impl_->next_frame.load(std::memory_order_relaxed)) {
      return;
    }
    impl_->draw(done(), now, false);
  } catch (...) {
    // An exception from the clock or from `draw`: this frame is lost.
  }
}

void progress_bar::finish() noexcept {
  try {
    std::lock_guard lock(impl_->mu);
    if (impl_->finished) return;
    impl_->finished = true;
    if (drawing_) impl_->draw(done(), impl_->time.now(), true);
  } catch (...) {
    // An exception from the clock or from `draw`: the final frame is lost.
  }
}

}  // namespace sluice
