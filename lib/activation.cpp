// The life cycle of an activation (see sluice/detail/engine/activation.hpp): claim, start, run,
// retire; done is the run's (run_state::activation_done).
#include <utility>

#include <sluice/detail/engine/activation.hpp>
#include <sluice/detail/engine/barrier.hpp>
#include <sluice/detail/engine/run.hpp>

namespace sluice::detail {

activation_target::activation_target(run_state& run, std::size_t concurrency)
    : run_(run), concurrency_(concurrency) {}

// ---- claim ----

bool activation_target::claim() noexcept {
  std::size_t alive = active_.load(std::memory_order_relaxed);
  while (alive < concurrency_) {
    // acq_rel: the new activation must see everything the notifier published before it.
    if (active_.compare_exchange_weak(alive, alive + 1, std::memory_order_acq_rel)) return true;
  }
  return false;
}

void activation_target::notify_closed() noexcept {
  // Pairs with release(): the closer stored `closed` (seq_cst) before this load, a retiring
  // worker decremented active_ before its heavy barrier and its look at `closed`.
  if (active_.load(std::memory_order_seq_cst) == 0 && claim()) start();
}

// ---- start ----

namespace {
thread_local bool hand_off_open = false;
thread_local activation_target* kept = nullptr;
}  // namespace

activation_target::hand_off_scope::hand_off_scope() noexcept { hand_off_open = kept == nullptr; }
activation_target::hand_off_scope::~hand_off_scope() { hand_off_open = false; }

activation_target* activation_target::take_hand_off() noexcept {
  return std::exchange(kept, nullptr);
}

void activation_target::start() noexcept {
  if (hand_off_open) {
    hand_off_open = false;
    kept = this;
    return;
  }
  enqueue();
}

void activation_target::enqueue() noexcept { run_.enqueue(*this); }

// ---- run ----

void activation_target::run_kept() noexcept {
  run_.add_live();
  run_here();
}

void activation_target::run_enqueued() noexcept {
  // The acquire load pairs with the claim that started this activation: it makes the stage's
  // state (run_ included) visible to this thread in a way ThreadSanitizer can see (an
  // executor's own synchronisation may be inside a library it does not instrument). Before
  // anything else.
  (void)active_.load(std::memory_order_acquire);
  run_.starting_.fetch_sub(1, std::memory_order_relaxed);
  run_here();
}

void activation_target::run_here() noexcept {
  (void)active_.load(std::memory_order_acquire);  // as in run_enqueued(), for a kept activation
  run_activation();
  run_.activation_done();  // done
}

// ---- retire ----

void activation_target::release(bool input_closed) noexcept {
  active_.fetch_sub(1, std::memory_order_seq_cst);
  if (!input_closed) heavy_barrier();
}

}  // namespace sluice::detail
