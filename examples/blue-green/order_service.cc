#include "order_service.h"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <string_view>

#include <nlohmann/json.hpp>

namespace orders {
namespace {

using nlohmann::json;
using sqlsteward::Status;
using sqlsteward::StatusCode;

constexpr std::size_t kMaxKeyLength = 200;
constexpr std::size_t kMaxItemLength = 200;
constexpr std::int64_t kMaxQuantity = 1'000'000;

json OrderJson(const Order& order) {
  return {{"id", order.id},
          {"idempotency_key", order.idempotency_key},
          {"item", order.item},
          {"quantity", order.quantity},
          {"created_by", order.created_by},
          {"created_unix_ms", order.created_unix_ms}};
}

void SetJson(httplib::Response& res, int http_status, const json& body) {
  res.status = http_status;
  res.set_content(body.dump() + "\n", "application/json");
}

}  // namespace

const char* ServiceStateName(ServiceState state) {
  switch (state) {
    case ServiceState::kStarting: return "starting";
    case ServiceState::kOwner: return "owner";
    case ServiceState::kHandedOver: return "handed_over";
    case ServiceState::kFailed: return "failed";
    case ServiceState::kStopping: return "stopping";
  }
  return "unknown";
}

OrderService::OrderService(Config config)
    : config_(std::move(config)),
      instance_(config_.name + "/" + std::to_string(::getpid())) {}

void OrderService::Route(httplib::Server& server) {
  server.Post("/orders", [this](const httplib::Request& req, httplib::Response& res) {
    PostOrder(req, res);
  });
  server.Get(R"(/orders/(\d{1,18}))", [this](const httplib::Request& req, httplib::Response& res) {
    GetOrder(req, res);
  });
  server.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) { Healthz(res); });
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) { Metrics(res); });
  // Every response says who answered: the load generator and the demo's
  // report attribute requests to versions by it.
  server.set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
    res.set_header("X-Served-By", instance_);
  });
}

// Every state change happens under mu_: a handler waiting for the store
// checks the state under mu_ too, so it cannot miss the wake-up.
template <typename Change>
void OrderService::SetState(Change change) {
  {
    std::lock_guard lock(mu_);
    change();
  }
  state_changed_.notify_all();
}

void OrderService::SetStore(std::unique_ptr<OrderStore> store, double takeover_ms) {
  SetState([&] {
    store_ = std::move(store);
    takeover_ms_ = takeover_ms;
    if (state_ == ServiceState::kStarting) state_ = ServiceState::kOwner;
  });
}

void OrderService::MarkFailed() {
  SetState([&] { state_ = ServiceState::kFailed; });
}

void OrderService::MarkHandedOver(std::int32_t successor_pid) {
  SetState([&] {
    successor_pid_ = successor_pid;
    state_ = ServiceState::kHandedOver;
  });
}

void OrderService::MarkStopping() {
  // A handed-over version stays handed over: that is what /healthz reports.
  SetState([&] {
    if (state_ == ServiceState::kOwner || state_ == ServiceState::kStarting) {
      state_ = ServiceState::kStopping;
    }
  });
}

Status OrderService::CloseStore() {
  std::shared_ptr<OrderStore> store;
  {
    std::lock_guard lock(mu_);
    store = std::move(store_);
  }
  return store ? store->Close() : Status();
}

std::shared_ptr<OrderStore> OrderService::StoreOrRefuse(httplib::Response& res) {
  std::unique_lock lock(mu_);
  state_changed_.wait_for(lock, config_.open_wait,
                          [&] { return state_ != ServiceState::kStarting; });
  const ServiceState now = state_;
  const std::int32_t successor = successor_pid_;
  if (now == ServiceState::kOwner && store_ != nullptr) return store_;
  lock.unlock();
  switch (now) {
    case ServiceState::kStarting:
      Refuse(res, 503, "unavailable", "still waiting for the database's owner to hand over");
      break;
    case ServiceState::kHandedOver:
      Refuse(res, 503, "unavailable",
             "this version handed the database over to pid " + std::to_string(successor));
      break;
    default:
      Refuse(res, 503, "unavailable", std::string("this version is ") + ServiceStateName(now));
  }
  return nullptr;
}

void OrderService::PostOrder(const httplib::Request& req, httplib::Response& res) {
  OrderRequest order;
  order.idempotency_key = req.get_header_value("Idempotency-Key");
  if (order.idempotency_key.empty() || order.idempotency_key.size() > kMaxKeyLength) {
    Refuse(res, 400, "invalid_argument",
           "an Idempotency-Key header of 1 to 200 characters is required");
    return Count("post_orders", res.status);
  }
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object() || !body.contains("item") ||
      !body["item"].is_string() || !body.contains("quantity") ||
      !body["quantity"].is_number_integer()) {
    Refuse(res, 400, "invalid_argument",
           R"(the body must be {"item": "<text>", "quantity": <integer>})");
    return Count("post_orders", res.status);
  }
  order.item = body["item"].get<std::string>();
  order.quantity = body["quantity"].get<std::int64_t>();
  if (order.item.empty() || order.item.size() > kMaxItemLength || order.quantity < 1 ||
      order.quantity > kMaxQuantity) {
    Refuse(res, 400, "invalid_argument", "item must be 1-200 characters, quantity 1-1000000");
    return Count("post_orders", res.status);
  }
  std::shared_ptr<OrderStore> store = StoreOrRefuse(res);
  if (store == nullptr) return Count("post_orders", res.status);
  auto created = store->Create(order);
  if (!created.has_value()) {
    ReplyStatus(res, created.error());
    return Count("post_orders", res.status);
  }
  (created->replayed ? orders_replayed_ : orders_created_).fetch_add(1, std::memory_order_relaxed);
  json out = OrderJson(created->order);
  out["replayed"] = created->replayed;
  SetJson(res, created->replayed ? 200 : 201, out);
  Count("post_orders", res.status);
}

void OrderService::GetOrder(const httplib::Request& req, httplib::Response& res) {
  const std::string& digits = req.matches[1].str();
  std::int64_t id = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), id);
  std::shared_ptr<OrderStore> store = StoreOrRefuse(res);
  if (store == nullptr) return Count("get_order", res.status);
  auto found = store->Get(id);
  if (!found.has_value()) {
    ReplyStatus(res, found.error());
  } else if (!found->has_value()) {
    Refuse(res, 404, "not_found", "no order " + digits);
  } else {
    SetJson(res, 200, OrderJson(**found));
  }
  Count("get_order", res.status);
}

void OrderService::Healthz(httplib::Response& res) {
  ServiceState now;
  double takeover_ms = 0;
  {
    std::lock_guard lock(mu_);
    now = state_;
    takeover_ms = takeover_ms_;
  }
  SetJson(res, now == ServiceState::kOwner ? 200 : 503,
          {{"status", ServiceStateName(now)},
           {"instance", instance_},
           {"storage", config_.naive ? "naive" : "sqlsteward"},
           {"takeover_ms", takeover_ms}});
  Count("healthz", res.status);
}

void OrderService::Metrics(httplib::Response& res) {
  std::string text;
  std::shared_ptr<OrderStore> store;
  bool owner = false;
  {
    std::lock_guard lock(mu_);
    store = store_;
    owner = state_ == ServiceState::kOwner;
    text += "# HELP orders_http_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE orders_http_requests_total counter\n";
    for (const auto& [key, n] : requests_) {
      text += "orders_http_requests_total{route=\"" + key.first + "\",code=\"" +
              std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
    }
    text += "# HELP orders_takeover_seconds Time from the take-over request to ownership.\n"
            "# TYPE orders_takeover_seconds gauge\n"
            "orders_takeover_seconds " + std::to_string(takeover_ms_ / 1000.0) + "\n";
  }
  text += "# HELP orders_created_total Orders created.\n# TYPE orders_created_total counter\n"
          "orders_created_total " + std::to_string(orders_created_.load()) + "\n";
  text += "# HELP orders_replayed_total Retried orders answered with the first attempt's order.\n"
          "# TYPE orders_replayed_total counter\n"
          "orders_replayed_total " + std::to_string(orders_replayed_.load()) + "\n";
  text += "# HELP orders_owner 1 while this version owns the database.\n"
          "# TYPE orders_owner gauge\n"
          "orders_owner " + std::string(owner ? "1" : "0") + "\n";
  if (store != nullptr && owner) text += store->MetricsText();
  res.status = 200;
  res.set_content(text, "text/plain; version=0.0.4");
}

void OrderService::Refuse(httplib::Response& res, int http_status, const std::string& code,
                          const std::string& message) {
  json body = {{"error", code}, {"message", message}, {"retryable", http_status == 503}};
  if (http_status == 503) res.set_header("Retry-After", "1");
  SetJson(res, http_status, body);
}

// What the caller should do decides the HTTP status: 503 only where nothing
// was applied and another version (or a later try) can succeed, since nginx
// retries exactly those.
void OrderService::ReplyStatus(httplib::Response& res, const Status& status) {
  std::string message(status.message());
  switch (status.code()) {
    case StatusCode::kUnavailable:
      // Handed over while this request was queued: the library applied
      // nothing of it. (The callback that marks the state may not have run.)
      return Refuse(res, 503, "unavailable", message);
    case StatusCode::kTimeout:
      return Refuse(res, 503, "timeout", message);
    case StatusCode::kConstraint:
      return Refuse(res, 422, "idempotency_key_reused", message);
    default:
      // The naive store lands here on SQLITE_BUSY, as a stock app would:
      // a 500 that nginx does not retry and the client sees.
      std::fprintf(stderr, "error %s: %s\n", instance_.c_str(), status.ToString().c_str());
      return Refuse(res, 500, std::string(sqlsteward::StatusCodeName(status.code())), message);
  }
}

void OrderService::Count(const char* route, int http_status) {
  std::lock_guard lock(mu_);
  ++requests_[{route, http_status}];
}

}  // namespace orders
