// The control run's OrderStore: what a stock deploy does. Each version opens
// the database with sqlite3_open_v2, journal_mode=WAL and busy_timeout=5000,
// one connection per process (threads take turns on it), and runs each order
// in a deferred transaction. There is no owner and no handover: during a
// blue-green overlap both versions write, queued only by SQLite's
// sleep-and-retry busy handler, and each checkpoints when it likes.
//
// On one local disk this is usually correct, only slower and sometimes
// failing with SQLITE_BUSY (a deferred read-then-write transaction cannot
// wait out another process's commit: BUSY_SNAPSHOT at once). Where the two
// versions' locks do not meet (Docker Desktop bind mounts, two mounts of a
// volume) it corrupts the file or drops acknowledged commits; see
// docs/deploying.md. The demo measures what it shows here, nothing more.
#include <sqlite3.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "order_store.h"

namespace orders {
namespace {

using sqlsteward::Result;
using sqlsteward::Status;
using sqlsteward::StatusCode;

struct ConnCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

Status SqliteError(sqlite3* db, int rc, const std::string& what) {
  const int primary = rc & 0xff;
  const StatusCode code = primary == SQLITE_BUSY || primary == SQLITE_LOCKED
                              ? StatusCode::kAborted
                              : (primary == SQLITE_CONSTRAINT ? StatusCode::kConstraint
                                                              : StatusCode::kInternal);
  return Status(code, what + ": " + sqlite3_errmsg(db), "naive store: no retry, no queue",
                sqlite3_extended_errcode(db));
}

class NaiveStore : public OrderStore {
 public:
  NaiveStore(sqlite3* db, std::string instance_name)
      : db_(db), instance_name_(std::move(instance_name)) {}

  Result<CreateResult> Create(const OrderRequest& request) override {
    std::lock_guard lock(mu_);
    if (int rc = sqlite3_exec(db_.get(), "BEGIN", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
      return SqliteError(db_.get(), rc, "BEGIN");
    }
    auto result = CreateInTransaction(request);
    if (!result.has_value()) {
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      return result;
    }
    if (int rc = sqlite3_exec(db_.get(), "COMMIT", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
      Status st = SqliteError(db_.get(), rc, "COMMIT");
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      return st;
    }
    if (result->replayed &&
        (result->order.item != request.item || result->order.quantity != request.quantity)) {
      return KeyReusedStatus(request, result->order);
    }
    return result;
  }

  Result<std::optional<Order>> Get(std::int64_t id) override {
    std::lock_guard lock(mu_);
    auto stmt = Prepare(kSelectById);
    if (!stmt.has_value()) return std::move(stmt).error();
    sqlite3_bind_int64(stmt->get(), 1, id);
    int rc = sqlite3_step(stmt->get());
    if (rc == SQLITE_DONE) return std::optional<Order>();
    if (rc != SQLITE_ROW) return SqliteError(db_.get(), rc, "SELECT");
    return std::optional<Order>(Order{id, Text(stmt->get(), 0), Text(stmt->get(), 1),
                                      sqlite3_column_int64(stmt->get(), 2),
                                      Text(stmt->get(), 3),
                                      sqlite3_column_int64(stmt->get(), 4)});
  }

  std::string MetricsText() const override { return ""; }

  Status Close() override {
    std::lock_guard lock(mu_);
    db_.reset();  // sqlite3_close_v2: the last connection checkpoints on close.
    return Status();
  }

 private:
  // REQUIRES: mu_ held, inside BEGIN.
  Result<CreateResult> CreateInTransaction(const OrderRequest& request) {
    CreateResult result;
    auto find = Prepare(kSelectByKey);
    if (!find.has_value()) return std::move(find).error();
    sqlite3_bind_text(find->get(), 1, request.idempotency_key.data(),
                      static_cast<int>(request.idempotency_key.size()), SQLITE_TRANSIENT);
    int rc = sqlite3_step(find->get());
    if (rc == SQLITE_ROW) {
      result.replayed = true;
      result.order = {sqlite3_column_int64(find->get(), 0), request.idempotency_key,
                      Text(find->get(), 1), sqlite3_column_int64(find->get(), 2),
                      Text(find->get(), 3), sqlite3_column_int64(find->get(), 4)};
      return result;
    }
    if (rc != SQLITE_DONE) return SqliteError(db_.get(), rc, "SELECT");
    result.order = {0, request.idempotency_key, request.item, request.quantity, instance_name_,
                    UnixMillis()};
    auto insert = Prepare(kInsertOrder);
    if (!insert.has_value()) return std::move(insert).error();
    const Order& o = result.order;
    sqlite3_bind_text(insert->get(), 1, o.idempotency_key.data(),
                      static_cast<int>(o.idempotency_key.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(insert->get(), 2, o.item.data(), static_cast<int>(o.item.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert->get(), 3, o.quantity);
    sqlite3_bind_text(insert->get(), 4, o.created_by.data(), static_cast<int>(o.created_by.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert->get(), 5, o.created_unix_ms);
    rc = sqlite3_step(insert->get());
    if (rc != SQLITE_DONE) return SqliteError(db_.get(), rc, "INSERT");
    result.order.id = sqlite3_last_insert_rowid(db_.get());
    return result;
  }

  Result<StmtPtr> Prepare(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_.get(), sql, -1, &stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteError(db_.get(), rc, "prepare");
    return StmtPtr(stmt);
  }

  static std::string Text(sqlite3_stmt* stmt, int col) {
    const unsigned char* text = sqlite3_column_text(stmt, col);
    return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text));
  }

  std::mutex mu_;
  std::unique_ptr<sqlite3, ConnCloser> db_;
  const std::string instance_name_;
};

}  // namespace

Result<std::unique_ptr<OrderStore>> OpenNaiveStore(const StoreOptions& options) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(options.path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  std::unique_ptr<sqlite3, ConnCloser> db(raw);
  if (rc != SQLITE_OK) {
    return Status(StatusCode::kInternal,
                  "open " + options.path + ": " + (raw ? sqlite3_errmsg(raw) : "out of memory"),
                  "check the path and its permissions", rc);
  }
  sqlite3_busy_timeout(db.get(), 5000);
  for (const char* sql : {"PRAGMA journal_mode=WAL", kOrdersSchema}) {
    if (rc = sqlite3_exec(db.get(), sql, nullptr, nullptr, nullptr); rc != SQLITE_OK) {
      return SqliteError(db.get(), rc, sql);
    }
  }
  return std::unique_ptr<OrderStore>(
      std::make_unique<NaiveStore>(db.release(), options.instance_name));
}

}  // namespace orders
