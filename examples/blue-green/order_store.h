// The order service's storage, behind one interface with two backends:
//
// - OpenStewardStore: sqlsteward with Ownership::kExclusive and take-over,
//   what the example exists to show;
// - OpenNaiveStore: the control run, what a stock deploy does: raw sqlite3
//   in WAL with a busy_timeout, no ownership, one connection per process.
//
// Both keep the same table and the same idempotency rule, so that the
// deploy demo compares storage, not application logic: an order is keyed by
// the client's Idempotency-Key (UNIQUE), and creating it looks the key up
// and inserts in one transaction, so a retried request returns the order the
// first attempt created.
//
// Thread safety: every method may be called concurrently.
#ifndef SQLSTEWARD_EXAMPLES_BLUE_GREEN_ORDER_STORE_H_
#define SQLSTEWARD_EXAMPLES_BLUE_GREEN_ORDER_STORE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "sqlsteward/status.h"

namespace orders {

struct OrderRequest {
  std::string idempotency_key;
  std::string item;
  std::int64_t quantity = 0;
};

struct Order {
  std::int64_t id = 0;
  std::string idempotency_key;
  std::string item;
  std::int64_t quantity = 0;
  std::string created_by;  // "<name>/<pid>" of the version that committed it.
  std::int64_t created_unix_ms = 0;
};

struct CreateResult {
  Order order;
  bool replayed = false;  // The key existed: this is the first attempt's order.
};

// Errors use sqlsteward::Status codes: kConstraint for a key reused with a
// different order, kUnavailable when this instance handed the database over
// (nothing applied), kTimeout when the write never started; the naive store
// reports SQLite's failures as kAborted (SQLITE_BUSY*) or kInternal.
class OrderStore {
 public:
  virtual ~OrderStore() = default;
  virtual sqlsteward::Result<CreateResult> Create(const OrderRequest& request) = 0;
  // nullopt when there is no such order.
  virtual sqlsteward::Result<std::optional<Order>> Get(std::int64_t id) = 0;
  // Prometheus text of the storage layer; empty when it has none.
  virtual std::string MetricsText() const = 0;
  // Finishes in-flight writes and closes. Idempotent.
  virtual sqlsteward::Status Close() = 0;
};

struct StoreOptions {
  std::string path;
  // Recorded in each order's created_by.
  std::string instance_name;
  // sqlsteward only: how long to wait for the current owner to step down.
  std::chrono::milliseconds handover_timeout{10'000};
  // sqlsteward only: called once this instance has handed over.
  std::function<void(std::int32_t successor_pid)> on_handed_over;
};

// Opens with Ownership::kExclusive and take_over: returns once this process
// owns the database (the previous owner has stepped down), with the schema
// migrated.
sqlsteward::Result<std::unique_ptr<OrderStore>> OpenStewardStore(const StoreOptions& options);

// Stock settings: sqlite3_open_v2, journal_mode=WAL, busy_timeout=5000,
// deferred transactions. No ownership: any number of versions write at once.
sqlsteward::Result<std::unique_ptr<OrderStore>> OpenNaiveStore(const StoreOptions& options);

// The table both stores use.
inline constexpr const char* kOrdersSchema =
    "CREATE TABLE IF NOT EXISTS orders(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  idempotency_key TEXT NOT NULL UNIQUE,\n"
    "  item TEXT NOT NULL,\n"
    "  quantity INTEGER NOT NULL CHECK (quantity > 0),\n"
    "  created_by TEXT NOT NULL,\n"
    "  created_unix_ms INTEGER NOT NULL)";

inline constexpr const char* kSelectByKey =
    "SELECT id, item, quantity, created_by, created_unix_ms FROM orders "
    "WHERE idempotency_key = ?";
inline constexpr const char* kSelectById =
    "SELECT idempotency_key, item, quantity, created_by, created_unix_ms FROM orders "
    "WHERE id = ?";
inline constexpr const char* kInsertOrder =
    "INSERT INTO orders(idempotency_key, item, quantity, created_by, created_unix_ms) "
    "VALUES(?, ?, ?, ?, ?)";

// kConstraint naming the key: the same key was used for a different order.
sqlsteward::Status KeyReusedStatus(const OrderRequest& request, const Order& existing);

std::int64_t UnixMillis();

}  // namespace orders

#endif  // SQLSTEWARD_EXAMPLES_BLUE_GREEN_ORDER_STORE_H_
