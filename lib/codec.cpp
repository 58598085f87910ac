// sluice::reader's errors.
#include <cstdint>
#include <string>

#include <sluice/codec.hpp>

namespace sluice {

void reader::fail_corrupt(const std::string& what) const {
  throw codec_error("sluice: corrupt input: " + what + " (at byte " + std::to_string(position_) +
                    ")");
}

void reader::fail_truncated(std::size_t n, const char* what) const {
  throw codec_error("sluice: truncated input: reading " + std::string{what} + " at byte " +
                    std::to_string(position_) + " needs " + std::to_string(n) +
                    " bytes but only " + std::to_string(remaining()) + " are left");
}

void reader::fail_length(std::uint64_t n, const char* what) const {
  throw codec_error("sluice: corrupt input: " + std::string{what} + " has a length of " +
                    std::to_string(n) + " but only " + std::to_string(remaining()) +
                    " bytes are left (at byte " + std::to_string(position_ - 8) + ")");
}

}  // namespace sluice
