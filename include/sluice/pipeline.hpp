// This header defines sluice::pipeline, a chain (or DAG) of stages, and sluice::runnable, a
// pipeline with a sink at its end; and the operators that build them: `a | b`, and `p | sink`
// or its synonym `p > sink`.
//
// Example:
//   auto run = sluice::task(numbers, sluice::branch)
//            | sluice::task(slow_double, {.concurrency = 20})
//            | sum;
//   int total = run(20);
//
// A pipeline is an immutable recipe: copying it is cheap (the stages are shared), and it may
// be run many times, also from several threads at once; each run has its own queues and
// workers. `p(args...)` calls the first task (the producer) with args... and returns a lazy
// sluice::stream of the last stage's outputs; `(p | sink)(args...)` returns sink(stream).
// After `|`, a pipeline (a task: sluice::task(f)) is a stage and anything else callable is a
// sink; a bare callable is never made a task.
// Types are checked when p(args...) is instantiated: a stage that cannot take what the stage
// before it produces fails to compile with a sentence naming its position ("task #2 ...").
// Exceptions: p(args...) throws std::invalid_argument naming the task when an option is out of
//   range (concurrency 0, a producer with concurrency > 1 or sluice::join), also an option of a
//   pipeline nested in a task, whose message names both ("sluice: task#3 (a nested pipeline):
//   its task#2 has concurrency 0; ...").
// Progress: `(p > sink).with_progress({.total = n})` is a runnable whose every run draws a
//   progress bar of the outputs the sink takes (stream::show_progress, sluice/progress.hpp).
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>

#include <sluice/detail/engine/chain.hpp>
#include <sluice/detail/invoke.hpp>
#include <sluice/pipeline_event.hpp>
#include <sluice/progress.hpp>
#include <sluice/stream.hpp>

namespace sluice {

template <class... Stages>
class pipeline;
template <class Pipeline, class Sink>
class runnable;

namespace detail {
template <class T>
inline constexpr bool is_pipeline_v = false;
template <class... S>
inline constexpr bool is_pipeline_v<pipeline<S...>> = true;
template <class T>
inline constexpr bool is_runnable_v = false;
template <class P, class S>
inline constexpr bool is_runnable_v<runnable<P, S>> = true;

// What may stand after `>`: a function, a function pointer or a function object.
template <class Sink>
concept sink_like = !is_pipeline_v<std::remove_cvref_t<Sink>> &&
                    (std::is_class_v<std::remove_cvref_t<Sink>> ||
                     std::is_function_v<std::remove_reference_t<Sink>> ||
                     std::is_pointer_v<std::remove_cvref_t<Sink>>);

// What `|` takes as a sink: what `>` takes, but for a runnable, which `|` joins as a stage
// (`a | (b > s)`).
template <class Sink>
concept pipe_sink = sink_like<Sink> && !is_runnable_v<std::remove_cvref_t<Sink>>;

// The producer's output type; `invalid` when the first stage cannot produce (a static_assert
// says so).
template <class Stage, class... Args>
struct produced_by {
  using type = invalid;
};
template <class Stage, class... Args>
requires Stage::can_produce struct produced_by<Stage, Args...> {
  using type = typename Stage::template producer_typing<Args...>::type;
};

template <class First, class... Rest>
struct first_of {
  using type = First;
};
}  // namespace detail

template <class... Stages>
class pipeline {
  static_assert(sizeof...(Stages) > 0);

 public:
  using stages_type = std::tuple<Stages...>;

 private:
  using first_stage = typename detail::first_of<Stages...>::type;

 public:
  using is_sluice_pipeline = void;  // forwards any arguments: never offered a stop_token

  explicit pipeline(stages_type stages)
      : stages_(std::make_shared<const stages_type>(std::move(stages))) {}

  // Runs the pipeline: the producer is called with args... (decayed copies, kept by the run).
  // Work starts on the stream's first pull.
  template <class... Args>
  [[nodiscard]] auto operator()(Args&&... args) const;

  // Internal: operator() whose run is cancelled when `stop` is stopped. A pipeline used as a task
  // is called this way with the outer call's stop token (detail::call).
  template <class... Args>
  [[nodiscard]] auto call_linked(std::stop_token stop, Args&&... args) const {
    auto outputs = (*this)(std::forward<Args>(args)...);
    outputs.link_stop(std::move(stop));
    return outputs;
  }

  // `a.pipe(b)` is `a | b`; `a.consume(s)` is `a > s`.
  template <class... Other>
  pipeline<Stages..., Other...> pipe(const pipeline<Other...>& next) const {
    return pipeline<Stages..., Other...>(std::tuple_cat(*stages_, next.stages()));
  }
  // The runnable's progress and event hook come along (a sink need not be assignable).
  template <class P, class Sink>
  auto pipe(const runnable<P, Sink>& next) const {
    using joined = decltype(pipe(next.source()));
    return runnable<joined, Sink>(pipe(next.source()), next.sink(), next.progress(),
                                  next.events());
  }
  template <detail::sink_like Sink>
  runnable<pipeline, std::decay_t<Sink>> consume(Sink&& consumer) const {
    return runnable<pipeline, std::decay_t<Sink>>(*this, std::forward<Sink>(consumer));
  }

  template <class Next>
  requires(detail::is_pipeline_v<Next> || detail::is_runnable_v<Next>) friend auto operator|(
      const pipeline& lhs, const Next& rhs) {
    return lhs.pipe(rhs);
  }
  // `a | b | sink` is `(a | b) > sink`: anything after `|` that is not a pipeline or a runnable
  // is a sink (a task is always made with sluice::task). The spelling g++ -Wall accepts.
  template <detail::pipe_sink Sink>
  friend auto operator|(const pipeline& lhs, Sink&& consumer) {
    return lhs.consume(std::forward<Sink>(consumer));
  }
  // `>` binds tighter than `|`, so `a | b > s` is `a | (b > s)`: the runnable overload of
  // pipe() makes it the same as `(a | b) > s`. g++ -Wall warns on that spelling
  // (-Wparentheses); `a | b | s` means the same.
  template <detail::sink_like Sink>
  friend auto operator>(const pipeline& lhs, Sink&& consumer) {
    return lhs.consume(std::forward<Sink>(consumer));
  }

  // On a one-task pipeline, as sluice::task returns: the same task with its cache keyed by
  // std::invoke(proj, item) instead of the whole item (see sluice/task.hpp).
  //
  // Example:
  //   auto enrich = sluice::task(lookup_customer, {.cache = sluice::cache_policy{}})
  //                     .cache_key(&Order::customer);
  template <class Proj>
  [[nodiscard]] auto cache_key(Proj proj) const {
    constexpr bool one_task = sizeof...(Stages) == 1 && requires(const first_stage& s, Proj p) {
      s.with_cache_key(std::move(p));
    };
    static_assert(
        one_task,
        "sluice: cache_key belongs to one task: sluice::task(f, options).cache_key(proj)");
    if constexpr (one_task) {
      using stage = decltype(std::get<0>(*stages_).with_cache_key(std::move(proj)));
      return pipeline<stage>(
          std::tuple<stage>(std::get<0>(*stages_).with_cache_key(std::move(proj))));
    }
  }

  // Internal: throws std::invalid_argument, as p(args...) with arguments of types Args would,
  // when an option of a stage is out of range; builds nothing. A pipeline nested in a task is
  // checked so when the outer run is built, since its own runs are built per item.
  template <class... Args>
  void validate() const {
    if constexpr (first_stage::can_produce) {
      using produced = typename detail::produced_by<first_stage, std::decay_t<Args>...>::type;
      const stages_type& stages = *stages_;
      std::get<0>(stages).template validate_as_producer<std::decay_t<Args>...>();
      detail::validate_chain<1, 1 + first_stage::positions, produced>(stages);
    }
  }

  // Internal: the stages, shared by every copy of this pipeline.
  const stages_type& stages() const noexcept { return *stages_; }
  const std::shared_ptr<const stages_type>& shared_stages() const noexcept { return stages_; }

  static constexpr std::size_t positions = (std::size_t{0} + ... + Stages::positions);

 private:
  std::shared_ptr<const stages_type> stages_;
};

template <class... Stages>
template <class... Args>
auto pipeline<Stages...>::operator()(Args&&... args) const {
  static_assert(first_stage::can_produce,
                "sluice: a pipeline must start with a task, its producer; fan_out, route, zip, "
                "batch and in_order need a stage before them");
  using produced = typename detail::produced_by<first_stage, std::decay_t<Args>...>::type;
  using out =
      typename detail::chain_after_first<produced, 1 + first_stage::positions, Stages...>::type;
  if constexpr (std::is_same_v<out, detail::invalid>) {
    // Either a static_assert above has failed, or the producer is a join, which is rejected at
    // run time.
    if constexpr (first_stage::can_produce) std::get<0>(*stages_).validate_producer();
    return stream<out>(detail::no_run);
  } else {
    auto run = std::make_shared<detail::run_holder<stages_type>>(stages_);
    detail::build_ctx ctx{*run};
    const stages_type& stages = *stages_;
    auto& last =
        run->template make<detail::channel<out>>(*run, detail::last_capacity(stages), nullptr);
    detail::port<produced>& first_input =
        detail::build_chain<1, 1 + first_stage::positions, produced>(
            stages, ctx, std::get<0>(stages).out_capacity(), last);
    std::get<0>(stages).build_producer(
        ctx, first_input, std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...));
    run->finish_build();
    return stream<out>(std::move(run), last);
  }
}

// A pipeline with a sink: calling it runs the pipeline and returns what the sink returns.
//
// Example:
//   auto total = (sluice::task(numbers, sluice::branch) | sluice::reduce(0, std::plus<>{}))(10);
// Thread safety: may be called from several threads at once; each call copies the sink, so a
//   sink with state starts fresh every run (and, after with_progress, draws its own bar).
// Exceptions: the run's first error, or whatever the sink throws.
template <class Pipeline, class Sink>
class runnable {
 public:
  using is_sluice_pipeline = void;  // forwards any arguments: never offered a stop_token

  runnable(Pipeline source, Sink consumer)
      : source_(std::move(source)), sink_(std::move(consumer)) {}
  // With the progress options and event hook of with_progress() and with_events().
  runnable(Pipeline source, Sink consumer, std::optional<progress_options> progress,
           std::function<void(const pipeline_event&)> on_event)
      : source_(std::move(source)),
        sink_(std::move(consumer)),
        progress_(std::move(progress)),
        on_event_(std::move(on_event)) {}

  template <class... Args>
  decltype(auto) operator()(Args&&... args) const {
    return consume_run(source_(std::forward<Args>(args)...));
  }

  // Internal: operator() whose run is cancelled when `stop` is stopped (see pipeline).
  template <class... Args>
  decltype(auto) call_linked(std::stop_token stop, Args&&... args) const {
    return consume_run(source_.call_linked(std::move(stop), std::forward<Args>(args)...));
  }

  // A copy of this runnable whose every run shows a progress bar of the outputs the sink takes:
  // it calls show_progress(options) on the run's stream before handing it to the sink. The bar
  // ends with the stream, before the sink returns if it drains the stream.
  //
  // Example:
  //   auto rows = (read_rows | parse | sluice::count()).with_progress({.label = "rows"});
  //   std::size_t n = rows(path);
  [[nodiscard]] runnable with_progress(progress_options options = {}) const {
    runnable copy = *this;
    copy.progress_ = std::move(options);
    return copy;
  }

  // A copy of this runnable whose every run calls `hook` for its events: it calls
  // on_event(hook) on the run's stream before handing it to the sink (sluice/pipeline_event.hpp).
  [[nodiscard]] runnable with_events(std::function<void(const pipeline_event&)> hook) const {
    runnable copy = *this;
    copy.on_event_ = std::move(hook);
    return copy;
  }

  const Pipeline& source() const noexcept { return source_; }
  const Sink& sink() const noexcept { return sink_; }
  // The options given to with_progress(), if any.
  const std::optional<progress_options>& progress() const noexcept { return progress_; }
  // The hook given to with_events(), if any.
  const std::function<void(const pipeline_event&)>& events() const noexcept { return on_event_; }

 private:
  // Hands a run's outputs to a fresh copy of the sink.
  template <class Outputs>
  decltype(auto) consume_run(Outputs outputs) const {
    using T = typename Outputs::value_type;
    // Not typed: a static_assert has failed, or the producer is a join and source_ has thrown.
    constexpr bool typed = !std::is_same_v<T, detail::invalid>;
    constexpr bool takes = std::is_invocable_v<Sink&, stream<T>&>;
    static_assert(!typed || takes,
                  "sluice: the sink cannot take the stream this pipeline produces; it must be "
                  "callable as sink(sluice::stream<T>&) where T is the last task's output (after "
                  "`|`, a callable is a sink; make a task of it with sluice::task(f))");
    // The call is compiled only when it is valid, so one mistake gives one error: its sentence.
    if constexpr (typed && takes) {
      if (progress_) outputs.show_progress(*progress_);
      if (on_event_) outputs.on_event(on_event_);
      Sink fresh = sink_;
      return std::invoke(fresh, outputs);
    } else {
      return detail::sink_not_called{};
    }
  }

  Pipeline source_;
  Sink sink_;
  std::optional<progress_options> progress_{};
  std::function<void(const pipeline_event&)> on_event_{};
};

}  // namespace sluice
