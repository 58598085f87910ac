// This header includes every public header of sluice, and nothing else.
#pragma once

#include <sluice/cache.hpp>
#include <sluice/circuit_breaker.hpp>
#include <sluice/clock.hpp>
#include <sluice/codec.hpp>
#include <sluice/errors.hpp>
#include <sluice/execution.hpp>
#include <sluice/fallback.hpp>
#include <sluice/generator.hpp>
#include <sluice/pipeline.hpp>
#include <sluice/pmap.hpp>
#include <sluice/pool.hpp>
#include <sluice/process_pool.hpp>
#include <sluice/progress.hpp>
#include <sluice/rate_limit.hpp>
#include <sluice/resilient.hpp>
#include <sluice/result.hpp>
#include <sluice/retry.hpp>
#include <sluice/shapes.hpp>
#include <sluice/sinks.hpp>
#include <sluice/stats.hpp>
#include <sluice/stream.hpp>
#include <sluice/task.hpp>
#include <sluice/version.hpp>
