// VmmCounters: a VM's VMM counters as running totals, for GET /metrics
// (api/metrics.h). The monitor's metrics pass (daemon/monitor.h) feeds each
// VMM answer (VmmBackend::Metrics) in: QEMU's query-blockstats are
// cumulative since the VMM started, so they replace the totals;
// Firecracker's counters are deltas since its previous flush, so they are
// added up. Either way the totals only grow while one VMM process lives
// (a new process starts them again from 0: a counter reset for Prometheus).
#pragma once

#include <map>
#include <string>

#include "model/json.h"
#include "model/types.h"

namespace banger {

struct BlockCounters {
  double read_bytes = 0;
  double write_bytes = 0;
  double read_ops = 0;
  double write_ops = 0;
};

// By drive id ("rootfs", "work", ...).
using VmmBlockTotals = std::map<std::string, BlockCounters>;

// Folds one answer of the backend's Metrics into `totals`. Values that are
// not non-negative numbers, and drives past a bound (a VM has a handful),
// are ignored: what the VMM writes is not trusted.
void AddVmmMetrics(BackendKind backend, const Json& raw, VmmBlockTotals& totals);

}  // namespace banger
