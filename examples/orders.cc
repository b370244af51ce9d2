// Many threads record orders in one database; each order reads the current
// stock and writes a decrement, a read-then-write that fails with
// SQLITE_BUSY in naive code. With sqlsteward every call either commits
// (durably, by default) or returns a typed error.
#include <cstdio>
#include <thread>
#include <vector>

#include "sqlsteward/sqlsteward.h"

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "data/orders.db";
  auto opened = sqlsteward::Database::Open(path);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().ToString().c_str());
    return 1;
  }
  auto& db = *opened.value();
  sqlsteward::Status st = db.Write([](sqlsteward::Transaction& tx) {
    return tx.ExecScript(
        "CREATE TABLE IF NOT EXISTS stock(item TEXT PRIMARY KEY, left INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS orders(id INTEGER PRIMARY KEY, item TEXT NOT NULL);"
        "INSERT OR IGNORE INTO stock VALUES('widget', 1000);");
  });
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&db] {
      for (int i = 0; i < 50; ++i) {
        sqlsteward::Status order = db.Write([](sqlsteward::Transaction& tx) -> sqlsteward::Status {
          auto left = tx.QueryInt64("SELECT left FROM stock WHERE item = 'widget'");
          if (!left) return left.error();
          if (**left <= 0) {
            return sqlsteward::Status(sqlsteward::StatusCode::kFailedPrecondition, "sold out");
          }
          SQLSTEWARD_RETURN_IF_ERROR(
              tx.Exec("UPDATE stock SET left = ? WHERE item = 'widget'", **left - 1));
          return tx.Exec("INSERT INTO orders(item) VALUES('widget')");
        });
        if (!order.ok()) std::fprintf(stderr, "order: %s\n", order.ToString().c_str());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::int64_t orders = 0;
  std::int64_t left = 0;
  st = db.Read([&](sqlsteward::ReadTransaction& tx) -> sqlsteward::Status {
    SQLSTEWARD_ASSIGN_OR_RETURN(auto n, tx.QueryInt64("SELECT count(*) FROM orders"));
    SQLSTEWARD_ASSIGN_OR_RETURN(auto l, tx.QueryInt64("SELECT left FROM stock"));
    orders = n.value_or(0);
    left = l.value_or(0);
    return sqlsteward::Status();
  });
  std::printf("orders %lld, stock left %lld, sum %lld\n", static_cast<long long>(orders),
              static_cast<long long>(left), static_cast<long long>(orders + left));
  return st.ok() ? 0 : 1;
}
