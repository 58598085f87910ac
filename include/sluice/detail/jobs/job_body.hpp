// Internal: a job's callable with its return type erased (job_body), and a callable dependency
// with its return type made uniform (dep_function).
#pragma once

#include <any>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <sluice/codec.hpp>
#include <sluice/job_context.hpp>

namespace sluice::detail {

class job_graph_state;

// A job's callable. Invariants: `call` returns an empty std::any exactly when the callable
// returns void; `type` is the callable's return type; `encode` and `decode` are set exactly when
// that type has a sluice::codec (so a process job can be made of it, and its value can reach a
// process job's result()).
struct job_body {
  std::function<std::any(job_context&)> call;
  const std::type_info* type = &typeid(void);
  void (*encode)(const std::any& value, std::string& out) = nullptr;
  std::any (*decode)(std::string_view bytes) = nullptr;
};

template <class F>
decltype(auto) invoke_job(F& f, job_context& ctx) {
  if constexpr (std::is_invocable_v<F&, job_context&, std::stop_token>) {
    return f(ctx, ctx.stop_token());
  } else if constexpr (std::is_invocable_v<F&, job_context&>) {
    return f(ctx);
  } else {
    return f();
  }
}

template <class F>
job_body make_job_body(F f) {
  static_assert(std::is_invocable_v<F&, job_context&, std::stop_token> ||
                    std::is_invocable_v<F&, job_context&> || std::is_invocable_v<F&>,
                "sluice: a job's callable must be callable as f(sluice::job_context&), "
                "f(sluice::job_context&, std::stop_token) or f()");
  using value_type = std::remove_cvref_t<decltype(invoke_job(f, std::declval<job_context&>()))>;
  static_assert(std::is_void_v<value_type> || std::is_copy_constructible_v<value_type>,
                "sluice: a job's result must be copyable (the graph keeps it for result<T>)");
  job_body body;
  body.type = &typeid(value_type);
  if constexpr (std::is_void_v<value_type>) {
    body.call = [f = std::move(f)](job_context& ctx) mutable {
      invoke_job(f, ctx);
      return std::any{};
    };
  } else {
    body.call = [f = std::move(f)](job_context& ctx) mutable {
      return std::any{invoke_job(f, ctx)};
    };
    if constexpr (has_codec<value_type>) {
      body.encode = [](const std::any& value, std::string& out) {
        writer w{out};
        w.write(std::any_cast<const value_type&>(value));
      };
      body.decode = [](std::string_view bytes) { return std::any{sluice::decode<value_type>(bytes)}; };
    }
  }
  return body;
}

template <class F>
std::function<std::vector<std::string>(const job_args&)> dep_function(F f) {
  using names_type = std::invoke_result_t<const F&, const job_args&>;
  static_assert(std::is_convertible_v<names_type, std::string> ||
                    std::is_convertible_v<names_type, std::vector<std::string>>,
                "sluice: a callable dependency must return a std::string or a "
                "std::vector<std::string> of job names");
  return [f = std::move(f)](const job_args& args) -> std::vector<std::string> {
    if constexpr (std::is_convertible_v<names_type, std::string>) {
      return {std::string(f(args))};
    } else {
      return std::vector<std::string>(f(args));
    }
  };
}

}  // namespace sluice::detail
