#include "api/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <sstream>

#include "api/handlers.h"
#include "daemon/agent_pool.h"
#include "daemon/events.h"
#include "daemon/monitor.h"
#include "daemon/port_service.h"
#include "daemon/vm_service.h"

namespace banger {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// From a quick ping to a VM boot: requests that create or start VMs take seconds.
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

constexpr double kBytesPerMiB = 1024.0 * 1024.0;

MetricFamily Family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void Add(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  std::sort(labels.begin(), labels.end());  // by name, as the registry's own families print them
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

double Seconds(Timestamp t) { return static_cast<double>(t.time_since_epoch().count()); }

}  // namespace

std::string MethodLabel(const std::string& method) {
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (method == m) return method;
  }
  return "other";
}

std::string StatusLabel(int status) {
  return status >= 100 && status <= 599 ? std::to_string(status) : "other";
}

const char* ListenerLabel(Listener l) { return l == Listener::kWeb ? "web" : "unix"; }

DaemonMetrics::DaemonMetrics(MetricsSources sources)
    : src_(std::move(sources)), registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("banger_http_requests_total")
                   .Help("HTTP requests answered, by listener, route pattern, method and status code.")
                   .Register(*registry_);
  durations_ = &prometheus::BuildHistogram()
                    .Name("banger_http_request_duration_seconds")
                    .Help(
                        "Time from a request to its answer (a WebSocket: to the upgrade), by listener, "
                        "route pattern and method.")
                    .Register(*registry_);
}

void DaemonMetrics::ObserveRequest(Listener listener, const std::string& route, const std::string& method,
                                   int status, std::chrono::steady_clock::duration took) {
  std::string m = MethodLabel(method);
  const char* l = ListenerLabel(listener);
  requests_->Add({{"listener", l}, {"route", route}, {"method", m}, {"code", StatusLabel(status)}})
      .Increment();
  durations_->Add({{"listener", l}, {"route", route}, {"method", m}}, kLatencyBuckets)
      .Observe(std::chrono::duration<double>(took).count());
}

void DaemonMetrics::SetServer(Listener l, HttpServer* server) {
  servers_.at(l == Listener::kWeb ? 1 : 0).store(server);
}

std::vector<MetricFamily> DaemonMetrics::CollectDaemon() const {
  std::vector<MetricFamily> out;
  auto build =
      Family("banger_build_info", "The daemon's version and API level; always 1.", MetricType::Gauge);
  Add(build, {{"version", src_.version}, {"api", "1"}}, 1);
  out.push_back(std::move(build));
  auto start = Family("banger_daemon_start_time_seconds",
                      "When the daemon started, in seconds since the epoch.", MetricType::Gauge);
  Add(start, {}, Seconds(src_.started_at));
  out.push_back(std::move(start));
  auto up = Family("banger_daemon_uptime_seconds", "Seconds since the daemon started.", MetricType::Gauge);
  Add(up, {}, std::max(0.0, Seconds(Now()) - Seconds(src_.started_at)));
  out.push_back(std::move(up));

  auto open = Family("banger_http_open_connections",
                     "Connections the listener serves now (WebSockets included).", MetricType::Gauge);
  auto refused = Family("banger_http_connections_refused_total",
                        "Connections the listener answered 503 for being over its connection limit.",
                        MetricType::Counter);
  for (Listener l : {Listener::kUnix, Listener::kWeb}) {
    HttpServer* s = servers_.at(l == Listener::kWeb ? 1 : 0).load();
    if (s == nullptr) continue;
    Add(open, {{"listener", ListenerLabel(l)}}, s->connections());
    Add(refused, {{"listener", ListenerLabel(l)}}, static_cast<double>(s->refused_total()));
  }
  if (!open.metric.empty()) {
    out.push_back(std::move(open));
    out.push_back(std::move(refused));
  }

  if (src_.vms != nullptr && src_.vms->agents() != nullptr) {
    auto agents = Family("banger_agent_connections",
                         "Guest-agent connections the daemon holds (one per VM at most).", MetricType::Gauge);
    Add(agents, {}, src_.vms->agents()->connected());
    out.push_back(std::move(agents));
  }
  if (src_.events != nullptr) {
    auto events = Family("banger_events_published_total", "Events recorded since the daemon started.",
                         MetricType::Counter);
    Add(events, {}, static_cast<double>(src_.events->published()));
    out.push_back(std::move(events));
  }
  if (src_.ports != nullptr) {
    auto relays = Family("banger_port_relay_connections", "Connections to published ports being relayed now.",
                         MetricType::Gauge);
    Add(relays, {}, src_.ports->ActiveConnections());
    out.push_back(std::move(relays));
  }
  return out;
}

std::vector<MetricFamily> DaemonMetrics::CollectVms() const {
  std::vector<MetricFamily> out;
  if (src_.vms == nullptr) return out;
  auto vms = src_.vms->store().ListVms();
  if (!vms.ok()) return out;  // the scrape still answers the rest
  VmMonitor::Counters counters;
  if (src_.monitor != nullptr) counters = src_.monitor->CountersSnapshot();

  auto info =
      Family("banger_vm_info", "One series per VM: its name, id and backend; always 1.", MetricType::Gauge);
  auto state =
      Family("banger_vm_state", "1 for the state the VM is in, 0 for the others.", MetricType::Gauge);
  auto vcpus = Family("banger_vm_vcpus", "vCPUs the VM is configured with.", MetricType::Gauge);
  auto memory =
      Family("banger_vm_memory_bytes", "Guest memory the VM is configured with.", MetricType::Gauge);
  auto rss = Family("banger_vm_resident_memory_bytes",
                    "Resident memory of the VM's VMM process at the last stats pass (VMs with a VMM).",
                    MetricType::Gauge);
  auto vsz = Family("banger_vm_virtual_memory_bytes",
                    "Virtual memory of the VM's VMM process at the last stats pass (VMs with a VMM).",
                    MetricType::Gauge);
  auto disk =
      Family("banger_vm_disk_allocated_bytes",
             "Bytes the VM's writable disks hold on the host (allocated blocks of sparse files) at the "
             "last stats pass, by disk (VMs with a VMM).",
             MetricType::Gauge);
  auto cpu = Family("banger_vm_cpu_seconds_total", "CPU time of the VM's VMM process at the last stats pass.",
                    MetricType::Counter);
  auto rd_bytes = Family("banger_vm_block_read_bytes_total",
                         "Bytes the VM read from a drive, as its VMM counts.", MetricType::Counter);
  auto wr_bytes = Family("banger_vm_block_written_bytes_total",
                         "Bytes the VM wrote to a drive, as its VMM counts.", MetricType::Counter);
  auto rd_ops = Family("banger_vm_block_read_operations_total", "Read requests of the VM to a drive.",
                       MetricType::Counter);
  auto wr_ops = Family("banger_vm_block_write_operations_total", "Write requests of the VM to a drive.",
                       MetricType::Counter);

  constexpr std::array kStates = {VmState::kCreated, VmState::kRunning, VmState::kPaused, VmState::kStopped,
                                  VmState::kError};
  for (const auto& vm : *vms) {
    const std::string& name = vm.name;
    Add(info, {{"vm", name}, {"id", vm.id}, {"backend", BackendName(vm.spec.backend)}}, 1);
    for (VmState s : kStates) Add(state, {{"vm", name}, {"state", VmStateName(s)}}, vm.state == s ? 1 : 0);
    Add(vcpus, {{"vm", name}}, vm.spec.vcpu_count);
    Add(memory, {{"vm", name}}, vm.spec.memory_mib * kBytesPerMiB);
    if (!VmStateHasVmm(vm.state)) continue;
    if (vm.stats.collected_at != Timestamp{}) {
      Add(rss, {{"vm", name}}, static_cast<double>(vm.stats.rss_bytes));
      Add(vsz, {{"vm", name}}, static_cast<double>(vm.stats.vsz_bytes));
      Add(disk, {{"vm", name}, {"disk", "system_overlay"}},
          static_cast<double>(vm.stats.system_overlay_bytes));
      Add(disk, {{"vm", name}, {"disk", "work"}}, static_cast<double>(vm.stats.work_disk_bytes));
    }
    auto c = counters.by_vm.find(vm.id);
    if (c == counters.by_vm.end()) continue;
    Add(cpu, {{"vm", name}}, c->second.cpu_seconds);
    for (const auto& [drive, b] : c->second.block) {
      Add(rd_bytes, {{"vm", name}, {"drive", drive}}, b.read_bytes);
      Add(wr_bytes, {{"vm", name}, {"drive", drive}}, b.write_bytes);
      Add(rd_ops, {{"vm", name}, {"drive", drive}}, b.read_ops);
      Add(wr_ops, {{"vm", name}, {"drive", drive}}, b.write_ops);
    }
  }
  for (auto* f :
       {&info, &state, &vcpus, &memory, &rss, &vsz, &disk, &cpu, &rd_bytes, &wr_bytes, &rd_ops, &wr_ops}) {
    if (!f->metric.empty()) out.push_back(std::move(*f));
  }
  if (src_.monitor != nullptr) {
    auto stats_errors = Family("banger_vm_stats_errors_total",
                               "Stats samples of a VM's VMM process that failed (its process unreadable).",
                               MetricType::Counter);
    Add(stats_errors, {}, static_cast<double>(counters.stats_errors));
    out.push_back(std::move(stats_errors));
    auto vmm_errors = Family("banger_vmm_metrics_errors_total",
                             "Requests for a VMM's own counters that failed (the VMM did not answer).",
                             MetricType::Counter);
    Add(vmm_errors, {}, static_cast<double>(counters.vmm_metrics_errors));
    out.push_back(std::move(vmm_errors));
  }
  return out;
}

std::vector<MetricFamily> DaemonMetrics::Collect() const {
  std::vector<MetricFamily> out = CollectDaemon();
  for (auto& f : registry_->Collect()) {
    if (!f.metric.empty()) out.push_back(std::move(f));
  }
  for (auto& f : CollectVms()) out.push_back(std::move(f));
  return out;
}

std::string DaemonMetrics::Render() const {
  std::ostringstream os;
  prometheus::TextSerializer().Serialize(os, Collect());
  return os.str();
}

void AddMetricsRoutes(RouteTable& t, ApiServices& s) {
  t.Add("GET", "/metrics", [&s](const ApiCall&) {
    HttpResponse r;
    r.status = 200;
    r.content_type = kMetricsContentType;
    r.headers["Cache-Control"] = "no-store";
    r.body = s.metrics->Render();
    return r;
  });
}

}  // namespace banger
