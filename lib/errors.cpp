// sluice's own exceptions: the parts that are not inline.
#include <cxxabi.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>

#include <sluice/errors.hpp>
#include <sluice/result.hpp>

namespace sluice {
namespace {

std::string describe(const std::string& what, const std::vector<std::exception_ptr>& errors) {
  std::string text = "sluice: " + what + ": all " + std::to_string(errors.size()) +
                     (errors.size() == 1 ? " attempt" : " attempts") + " failed";
  if (errors.empty()) return text;
  try {
    std::rethrow_exception(errors.back());
  } catch (const std::exception& last) {
    text += "; the last: ";
    text += last.what();
  } catch (...) {
    text += "; the last threw a non-std::exception";
  }
  return text;
}

std::string worker_message(const std::string& where, const std::exception_ptr& original,
                           std::uint64_t index, const std::string& input_text) {
  std::string text = "sluice: " + where + ": item " + std::to_string(index);
  if (!input_text.empty()) text += " (input: " + input_text + ")";
  text += " failed: ";
  try {
    if (original) std::rethrow_exception(original);
    text += "no exception";
  } catch (const std::exception& e) {
    text += e.what();
  } catch (...) {
    text += "an exception not derived from std::exception";
  }
  return text;
}

}  // namespace

worker_error::worker_error(const std::string& where, std::exception_ptr original,
                           std::uint64_t index, std::string input_text)
    : std::runtime_error(worker_message(where, original, index, input_text)),
      original_(std::move(original)),
      index_(index),
      input_text_(std::move(input_text)) {}

all_failed::all_failed(const std::string& what, std::vector<std::exception_ptr> errors)
    : std::runtime_error(describe(what, errors)), errors_(std::move(errors)) {}

worker_crashed::worker_crashed(const std::string& what, int signal, int exit_code)
    : std::runtime_error(what), signal_(signal), exit_code_(exit_code) {}

worker_crashed worker_crashed::killed(std::string_view who, int signal) {
  std::string name = "signal " + std::to_string(signal);
  const char* abbrev = sigabbrev_np(signal);  // "SEGV"; nullptr for an unknown number
  const char* text = strsignal(signal);       // "Segmentation fault"
  if (abbrev != nullptr) {
    name += " (SIG";
    name += abbrev;
    if (text != nullptr) {
      name += ", ";
      name += text;
    }
    name += ")";
  }
  return worker_crashed("sluice: " + std::string(who) + ": its worker process was killed by " +
                            name + " while it ran an item",
                        signal, -1);
}

worker_crashed worker_crashed::exited(std::string_view who, int code) {
  return worker_crashed("sluice: " + std::string(who) + ": its worker process exited with code " +
                            std::to_string(code) + " before it finished an item",
                        0, code);
}

remote_error::remote_error(std::string type_name, const std::string& what)
    : std::runtime_error(what), type_name_(std::move(type_name)) {}

std::string message(const std::exception_ptr& error) {
  if (!error) return "no exception (null exception_ptr)";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    if (type == nullptr) return "unknown exception";
    std::string text = "unknown exception of type '";
    text += detail::demangled_name(*type);
    text += "'";
    return text;
  }
}

}  // namespace sluice

namespace sluice::detail {
namespace {

std::string demangle(const char* mangled) {
  int status = 0;
  const std::unique_ptr<char, decltype(&std::free)> name(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), &std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}

}  // namespace

std::string demangled_name(const std::type_info& type) { return demangle(type.name()); }

exception_description describe_current_exception() noexcept {
  if (!std::current_exception()) return {"", "no exception is being handled"};
  try {
    const std::type_info* type = abi::__cxa_current_exception_type();
    std::string type_name = type != nullptr ? demangle(type->name()) : "unknown";
    try {
      throw;
    } catch (const std::exception& e) {
      return {std::move(type_name), e.what()};
    } catch (...) {
      return {type_name, "a thrown " + type_name + ", not derived from std::exception"};
    }
  } catch (...) {  // out of memory while describing it
    return {};
  }
}

void throw_result_has_value() {
  throw std::logic_error("sluice: result::error() called on a result that holds a value");
}

void rethrow_failure(const failure& why) {
  if (why.error) std::rethrow_exception(why.error);
  throw std::logic_error("sluice: result::value() called on a failed result with no error (task " +
                         why.task + ", item " + std::to_string(why.sequence) + ")");
}

}  // namespace sluice::detail
