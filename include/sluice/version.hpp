// This header defines sluice's version, as set by project(VERSION) in CMakeLists.txt.
#pragma once

#define SLUICE_VERSION_MAJOR 0
#define SLUICE_VERSION_MINOR 1
#define SLUICE_VERSION_PATCH 0
#define SLUICE_VERSION "0.1.0"

namespace sluice {

struct version_info {
  int major = SLUICE_VERSION_MAJOR;
  int minor = SLUICE_VERSION_MINOR;
  int patch = SLUICE_VERSION_PATCH;
};

// The version of the sluice headers in use.
constexpr version_info version() noexcept { return {}; }

}  // namespace sluice
