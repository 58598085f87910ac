// Internal to lib/: job names and `[param]` patterns (docs/jobs.md, "Names and prototypes").
//
// A pattern is literal text with `[param]` placeholders ("build::[env]::[arch]"). A placeholder
// matches any text without the separator, the empty text included; a name matches a pattern
// when the whole name is consumed. Globs (`*`, `?`) appear only in names asked for, in a
// parameter's place, and expand over the parameter's choices.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sluice/job_context.hpp>

namespace sluice::detail {

class name_pattern {
 public:
  // std::invalid_argument naming `text` for an unclosed `[`, an empty or repeated parameter.
  explicit name_pattern(std::string text);

  const std::string& text() const noexcept { return text_; }
  bool has_params() const noexcept { return !params_.empty(); }
  const std::vector<std::string>& params() const noexcept { return params_; }

  // The parameter values when `name` matches (values never contain `separator`).
  std::optional<job_args> match(std::string_view name, std::string_view separator) const;
  // The name with each placeholder replaced by its value in `args`; the parameters `args`
  // lacks are appended to `missing` (and their placeholders kept).
  std::string fill(const job_args& args, std::vector<std::string>& missing) const;

 private:
  struct piece {
    std::string text;  // literal text, or the parameter's name
    bool param = false;
  };
  bool match_from(std::size_t piece, std::string_view rest, std::string_view separator,
                  job_args& args) const;

  std::string text_;
  std::vector<piece> pieces_;
  std::vector<std::string> params_;  // in order of first appearance
};

// "'name'", as messages quote a job.
std::string quoted(std::string_view name);
// Throws std::invalid_argument("sluice: job graph: <sentence>").
[[noreturn]] void misuse(const std::string& sentence);

bool has_glob(std::string_view text) noexcept;  // contains `*` or `?`
// fnmatch-style: `*` any run of characters, `?` one character, everything else itself.
bool glob_match(std::string_view glob, std::string_view text) noexcept;

}  // namespace sluice::detail
