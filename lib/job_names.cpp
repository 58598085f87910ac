#include "job_names.hpp"

#include <algorithm>
#include <stdexcept>

namespace sluice::detail {

name_pattern::name_pattern(std::string text) : text_(std::move(text)) {
  std::size_t i = 0;
  while (i < text_.size()) {
    const std::size_t open = text_.find('[', i);
    if (open == std::string::npos) {
      pieces_.push_back({text_.substr(i), false});
      break;
    }
    if (open > i) pieces_.push_back({text_.substr(i, open - i), false});
    const std::size_t close = text_.find(']', open);
    if (close == std::string::npos) {
      throw std::invalid_argument("sluice: job name '" + text_ + "' has a '[' that is not closed");
    }
    std::string param = text_.substr(open + 1, close - open - 1);
    if (param.empty() || param.find('[') != std::string::npos) {
      throw std::invalid_argument("sluice: job name '" + text_ + "' has an empty or nested "
                                  "parameter; write [name]");
    }
    if (std::find(params_.begin(), params_.end(), param) != params_.end()) {
      throw std::invalid_argument("sluice: job name '" + text_ + "' names parameter '" + param +
                                  "' twice");
    }
    params_.push_back(param);
    pieces_.push_back({std::move(param), true});
    i = close + 1;
  }
}

std::optional<job_args> name_pattern::match(std::string_view name,
                                            std::string_view separator) const {
  job_args args;
  if (!match_from(0, name, separator, args)) return std::nullopt;
  return args;
}

bool name_pattern::match_from(std::size_t index, std::string_view rest, std::string_view separator,
                              job_args& args) const {
  if (index == pieces_.size()) return rest.empty();
  const piece& p = pieces_[index];
  if (!p.param) {
    if (rest.substr(0, p.text.size()) != p.text) return false;
    return match_from(index + 1, rest.substr(p.text.size()), separator, args);
  }
  // A value ends before the next separator at the latest; try the longest first.
  const std::size_t limit = std::min(rest.find(separator), rest.size());
  for (std::size_t n = limit + 1; n-- > 0;) {
    if (match_from(index + 1, rest.substr(n), separator, args)) {
      args[p.text] = std::string{rest.substr(0, n)};
      return true;
    }
  }
  return false;
}

std::string name_pattern::fill(const job_args& args, std::vector<std::string>& missing) const {
  std::string out;
  for (const piece& p : pieces_) {
    if (!p.param) {
      out += p.text;
    } else if (auto it = args.find(p.text); it != args.end()) {
      out += it->second;
    } else {
      missing.push_back(p.text);
      out += '[' + p.text + ']';
    }
  }
  return out;
}

std::string quoted(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '\'';
  out += name;
  out += '\'';
  return out;
}

void misuse(const std::string& sentence) {
  throw std::invalid_argument("sluice: job graph: " + sentence);
}

bool has_glob(std::string_view text) noexcept {
  return text.find_first_of("*?") != std::string_view::npos;
}

bool glob_match(std::string_view glob, std::string_view text) noexcept {
  // Iterative matcher with one backtrack point (the last `*`): linear for practical globs.
  std::size_t g = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (g < glob.size() && (glob[g] == '?' || glob[g] == text[t])) {
      ++g;
      ++t;
    } else if (g < glob.size() && glob[g] == '*') {
      star = g++;
      resume = t;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

}  // namespace sluice::detail
