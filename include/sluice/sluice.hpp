// This header includes every public header of sluice, and nothing else.
#pragma once

#include <sluice/clock.hpp>
#include <sluice/errors.hpp>
#include <sluice/generator.hpp>
#include <sluice/pipeline.hpp>
#include <sluice/shapes.hpp>
#include <sluice/sinks.hpp>
#include <sluice/stats.hpp>
#include <sluice/stream.hpp>
#include <sluice/task.hpp>
#include <sluice/version.hpp>
