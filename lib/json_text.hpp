// Internal to lib/: JSON text, for the job graph's NDJSON events and its JSON export.
#pragma once

#include <string>
#include <string_view>

namespace sluice::detail {

// Appends `text` as a JSON string (RFC 8259): quotes and backslashes escaped, control
// characters as \u00XX, valid UTF-8 passed through, each invalid byte as U+FFFD (so the output
// stays valid JSON whatever a job's name or output holds). Defined in lib/job_events.cpp.
void append_json_string(std::string& out, std::string_view text);

}  // namespace sluice::detail
