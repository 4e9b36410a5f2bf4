// DaemonMetrics: GET /metrics, the Prometheus text format (version 0.0.4),
// on the Unix socket and (authenticated) on the web listener
// (docs/api.md "Metrics", docs/adr/0032). prometheus-cpp's core holds the
// families; bangerd's own HTTP server serves the text.
//
// Two kinds of series:
//  - counted as they happen: HTTP requests by listener, route pattern,
//    method and status code, and their latency (ObserveRequest, called from
//    the one entry of each listener: ApiRouter::Handle for the socket,
//    WebUi::Handle for the web listener). Label values are bounded: the
//    route is the matched pattern ("/v1/vms/{ref}", never the raw path;
//    "unmatched" for every path no route matches), the method one of the
//    HTTP methods or "other", the code a 3-digit status;
//  - read at scrape time from what the daemon already holds in memory or in
//    the store (VM records and their last stats, the monitor's counters,
//    the agent pool, the event log, the listeners): a scrape never waits on
//    a guest or a VMM.
//
// Thread-safe: requests are observed from every connection thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "api/routes.h"
#include "base/time.h"
#include "http/http.h"

namespace banger {

class VmService;
class VmMonitor;
class EventLog;
class PortService;

// What a scrape reads. Any pointer may be null (unit tests): its series are left out.
struct MetricsSources {
  VmService* vms = nullptr;  // VM records (the store) and the agent pool
  VmMonitor* monitor = nullptr;
  EventLog* events = nullptr;
  PortService* ports = nullptr;
  std::string version;
  Timestamp started_at{};
};

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// "GET" ... "OPTIONS" as they are; anything else "other".
std::string MethodLabel(const std::string& method);
// "200"; a status outside 100..599 is "other".
std::string StatusLabel(int status);
const char* ListenerLabel(Listener l);

class DaemonMetrics {
 public:
  explicit DaemonMetrics(MetricsSources sources);
  DaemonMetrics(const DaemonMetrics&) = delete;
  DaemonMetrics& operator=(const DaemonMetrics&) = delete;

  // One answered request (a WebSocket upgrade: its handshake, status 101,
  // timed to the handler's answer, not the stream's life).
  void ObserveRequest(Listener listener, const std::string& route, const std::string& method, int status,
                      std::chrono::steady_clock::duration took);
  // The listener's server, for its open and refused connection counts; set
  // once the servers exist, and outliving this object.
  void SetServer(Listener l, HttpServer* server);

  // Every family, the HTTP ones and those read now.
  std::vector<prometheus::MetricFamily> Collect() const;
  // Collect() in the text format.
  std::string Render() const;

 private:
  std::vector<prometheus::MetricFamily> CollectDaemon() const;
  std::vector<prometheus::MetricFamily> CollectVms() const;

  MetricsSources src_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* durations_;
  std::array<std::atomic<HttpServer*>, 2> servers_{};
};

}  // namespace banger
