// OrderService: the HTTP handlers of the blue-green example and the
// lifecycle they answer for.
//
// Design (the protocol with the proxy; docs/deploying.md has the recipe):
//
//   starting ──Open returned──> owner ──a successor took over──> handed_over
//       │                         │
//       └──Open failed──> failed  └──SIGTERM──> stopping
//
// - The port is bound before the database is opened, so a proxy can already
//   list this version as a backup; /healthz is 200 only in `owner`, so a
//   deploy script switches traffic only to a version that owns the database.
// - A request that arrives while `starting` waits for the store (bounded by
//   Config::open_wait): the proxy sends requests here as soon as the old
//   version refuses them, which can be a moment before Open returns.
// - In `handed_over` (and `failed`, `stopping`) every route but /metrics
//   answers 503 with "retryable": true and nothing applied; nginx's
//   `proxy_next_upstream http_503 non_idempotent` passes the request to the
//   other upstream, so the client never sees it. The same for a write that
//   the library rejects with kUnavailable (handed over mid-request) or
//   kTimeout (never started).
// - POST /orders needs an Idempotency-Key header: the store returns the
//   first attempt's order for a key it has seen (200, "replayed": true), so
//   a request retried by the proxy or the client is never a second order.
//
// Thread safety: the handlers run on the HTTP server's threads concurrently;
// SetStore and MarkHandedOver may be called from any thread.
#ifndef SQLSTEWARD_EXAMPLES_BLUE_GREEN_ORDER_SERVICE_H_
#define SQLSTEWARD_EXAMPLES_BLUE_GREEN_ORDER_SERVICE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <httplib.h>

#include "order_store.h"

namespace orders {

enum class ServiceState { kStarting, kOwner, kHandedOver, kFailed, kStopping };

class OrderService {
 public:
  struct Config {
    std::string name;  // "blue", "green": shown in responses and orders.
    bool naive = false;
    std::chrono::milliseconds open_wait{10'000};
  };

  explicit OrderService(Config config);

  // Registers the routes on `server`.
  void Route(httplib::Server& server);

  // `starting` -> `owner`; `takeover_ms` is reported by /healthz and /metrics.
  void SetStore(std::unique_ptr<OrderStore> store, double takeover_ms);
  void MarkFailed();
  void MarkHandedOver(std::int32_t successor_pid);
  void MarkStopping();
  // Closes the store once no handler uses it. Call after the server stopped.
  sqlsteward::Status CloseStore();

  ServiceState state() const {
    std::lock_guard lock(mu_);
    return state_;
  }
  const std::string& instance() const { return instance_; }

 private:
  // The store, waiting up to open_wait while `starting`; null (and a 503
  // written to `res`) when this version cannot serve.
  std::shared_ptr<OrderStore> StoreOrRefuse(httplib::Response& res);
  void PostOrder(const httplib::Request& req, httplib::Response& res);
  void GetOrder(const httplib::Request& req, httplib::Response& res);
  void Healthz(httplib::Response& res);
  void Metrics(httplib::Response& res);
  // Writes a JSON error; 503s carry "retryable": true.
  void Refuse(httplib::Response& res, int http_status, const std::string& code,
              const std::string& message);
  void ReplyStatus(httplib::Response& res, const sqlsteward::Status& status);
  void Count(const char* route, int http_status);

  const Config config_;
  const std::string instance_;  // "<name>/<pid>"
  template <typename Change>
  void SetState(Change change);

  mutable std::mutex mu_;
  std::condition_variable state_changed_;
  ServiceState state_ = ServiceState::kStarting;  // GUARDED_BY(mu_)
  std::int32_t successor_pid_ = 0;                // GUARDED_BY(mu_)
  std::shared_ptr<OrderStore> store_;  // GUARDED_BY(mu_)
  double takeover_ms_ = 0;             // GUARDED_BY(mu_)
  // Requests answered, by route and HTTP status. GUARDED_BY(mu_)
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::atomic<std::uint64_t> orders_created_{0};
  std::atomic<std::uint64_t> orders_replayed_{0};
};

const char* ServiceStateName(ServiceState state);

}  // namespace orders

#endif  // SQLSTEWARD_EXAMPLES_BLUE_GREEN_ORDER_SERVICE_H_
