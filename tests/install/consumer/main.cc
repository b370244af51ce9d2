#include <sqlsteward/sqlsteward.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  auto db = sqlsteward::Database::Open(argv[1]);
  if (!db) {
    std::fprintf(stderr, "%s\n", db.error().ToString().c_str());
    return 1;
  }
  sqlsteward::Status st = db.value()->Write([](sqlsteward::Transaction& tx) {
    return tx.ExecScript("CREATE TABLE t(v); INSERT INTO t VALUES(42)");
  });
  std::int64_t v = 0;
  if (st.ok()) {
    st = db.value()->Read([&](sqlsteward::ReadTransaction& tx) -> sqlsteward::Status {
      SQLSTEWARD_ASSIGN_OR_RETURN(auto got, tx.QueryInt64("SELECT v FROM t"));
      v = got.value_or(0);
      return sqlsteward::Status();
    });
  }
  std::printf("%lld\n", static_cast<long long>(v));
  return st.ok() && v == 42 ? 0 : 1;
}
