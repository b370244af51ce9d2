// OrderStore on sqlsteward: exclusive ownership with take-over.
//
// Open asks the current owner (if any) to hand over and returns once it has:
// the owner finishes the batch it is committing, checkpoints and frees its
// slot; its queued and later writes fail with kUnavailable, none applied.
// From then on this process is the only writer, so the key lookup and the
// insert of Create, one write job, cannot race another version.
#include <chrono>
#include <string>
#include <utility>

#include "order_store.h"
#include "sqlsteward/sqlsteward.h"

namespace orders {
namespace {

using sqlsteward::Result;
using sqlsteward::Status;
using sqlsteward::StatusCode;

class StewardStore : public OrderStore {
 public:
  StewardStore(std::unique_ptr<sqlsteward::Database> db, std::string instance_name)
      : db_(std::move(db)), instance_name_(std::move(instance_name)) {}

  Result<CreateResult> Create(const OrderRequest& request) override {
    CreateResult result;
    Status st = db_->Write([&](sqlsteward::Transaction& tx) -> Status {
      result = CreateResult();  // A job may run again after its batch failed.
      SQLSTEWARD_ASSIGN_OR_RETURN(sqlsteward::Statement find, tx.Prepare(kSelectByKey));
      find.Bind(1, request.idempotency_key);
      SQLSTEWARD_ASSIGN_OR_RETURN(bool found, find.Step());
      if (found) {
        result.replayed = true;
        result.order = {find.ColumnInt64(0),
                        request.idempotency_key,
                        std::string(find.ColumnText(1)),
                        find.ColumnInt64(2),
                        std::string(find.ColumnText(3)),
                        find.ColumnInt64(4)};
        return Status();
      }
      result.order = {0, request.idempotency_key, request.item, request.quantity,
                      instance_name_, UnixMillis()};
      SQLSTEWARD_RETURN_IF_ERROR(tx.Exec(kInsertOrder, result.order.idempotency_key,
                                         result.order.item, result.order.quantity,
                                         result.order.created_by,
                                         result.order.created_unix_ms));
      result.order.id = tx.LastInsertRowId();
      return Status();
    });
    if (!st.ok()) return st;
    if (result.replayed &&
        (result.order.item != request.item || result.order.quantity != request.quantity)) {
      return KeyReusedStatus(request, result.order);
    }
    return result;
  }

  Result<std::optional<Order>> Get(std::int64_t id) override {
    std::optional<Order> order;
    Status st = db_->Read([&](sqlsteward::ReadTransaction& tx) -> Status {
      SQLSTEWARD_ASSIGN_OR_RETURN(sqlsteward::Statement find, tx.Prepare(kSelectById));
      find.Bind(1, id);
      SQLSTEWARD_ASSIGN_OR_RETURN(bool found, find.Step());
      if (found) {
        order = Order{id,
                      std::string(find.ColumnText(0)),
                      std::string(find.ColumnText(1)),
                      find.ColumnInt64(2),
                      std::string(find.ColumnText(3)),
                      find.ColumnInt64(4)};
      }
      return Status();
    });
    if (!st.ok()) return st;
    return order;
  }

  std::string MetricsText() const override { return db_->Metrics().ToPrometheus("sqlsteward"); }

  Status Close() override { return db_->Close(); }

 private:
  std::unique_ptr<sqlsteward::Database> db_;
  const std::string instance_name_;
};

}  // namespace

Result<std::unique_ptr<OrderStore>> OpenStewardStore(const StoreOptions& options) {
  sqlsteward::Options db_options;
  db_options.ownership = sqlsteward::Ownership::kExclusive;
  db_options.take_over = true;
  db_options.handover_timeout = options.handover_timeout;
  db_options.on_handed_over = options.on_handed_over;
  // Every opener migrates (or finds it done) before Open returns, under the
  // write lock: the new version's schema is in place before it serves.
  db_options.after_open = sqlsteward::MigrateOnOpen(
      {sqlsteward::Migration{1, "create_orders", kOrdersSchema, nullptr}});
  auto db = sqlsteward::Database::Open(options.path, db_options);
  if (!db.has_value()) return std::move(db).error();
  return std::unique_ptr<OrderStore>(
      std::make_unique<StewardStore>(std::move(db).value(), options.instance_name));
}

Status KeyReusedStatus(const OrderRequest& request, const Order& existing) {
  return Status(StatusCode::kConstraint,
                "Idempotency-Key " + request.idempotency_key + " was used for order " +
                    std::to_string(existing.id) + " with a different item or quantity",
                "use a new key for a new order; reuse a key only to retry the same request");
}

std::int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace orders
