// Reads: snapshots, never waiting for writers, the pool's bounds.
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "sqlsteward/database.h"
#include "support/testing.h"

namespace sqlsteward {
namespace {

using testing::StatusIs;
using testing::TempDir;

class Latch {
 public:
  void Set() {
    std::lock_guard lock(mu_);
    set_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return set_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

class ReadTest : public ::testing::Test {
 protected:
  void Open(const Options& options = {}) {
    auto db = Database::Open(tmp_.File("r.db"), options);
    ASSERT_TRUE(db.has_value()) << testing::Describe(db);
    db_ = std::move(db).value();
    SQLSTEWARD_ASSERT_OK(db_->Write([](Transaction& tx) {
      return tx.ExecScript("CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER);"
                           "INSERT INTO t(v) VALUES(1), (2), (3)");
    }));
  }
  TempDir tmp_;
  std::unique_ptr<Database> db_;
};

TEST_F(ReadTest, OneReadSeesOneSnapshotWhileAWriteCommits) {
  Open();
  Latch first_read_done, write_committed;
  std::thread writer([&] {
    first_read_done.Wait();
    SQLSTEWARD_EXPECT_OK(
        db_->Write([](Transaction& tx) { return tx.Exec("INSERT INTO t(v) VALUES(4)"); }));
    write_committed.Set();
  });
  SQLSTEWARD_ASSERT_OK(db_->Read([&](ReadTransaction& tx) -> Status {
    EXPECT_EQ(**tx.QueryInt64("SELECT count(*) FROM t"), 3);
    first_read_done.Set();
    write_committed.Wait();  // The write is durable now...
    EXPECT_EQ(**tx.QueryInt64("SELECT count(*) FROM t"), 3);  // ...but not in our snapshot.
    return Status();
  }));
  writer.join();
  SQLSTEWARD_ASSERT_OK(db_->Read([](ReadTransaction& tx) -> Status {
    EXPECT_EQ(**tx.QueryInt64("SELECT count(*) FROM t"), 4);
    return Status();
  }));
}

TEST_F(ReadTest, ReadsDoNotWaitForAnOpenWriteTransaction) {
  Open();
  Latch in_job, read_done;
  auto write = db_->WriteAsync([&](Transaction& tx) {
    SQLSTEWARD_RETURN_IF_ERROR(tx.Exec("INSERT INTO t(v) VALUES(9)"));
    in_job.Set();
    read_done.Wait();  // Holds the write transaction open until the read ends.
    return Status();
  });
  in_job.Wait();
  SQLSTEWARD_EXPECT_OK(db_->Read([](ReadTransaction& tx) -> Status {
    EXPECT_EQ(**tx.QueryInt64("SELECT count(*) FROM t"), 3);
    return Status();
  }));
  read_done.Set();
  SQLSTEWARD_EXPECT_OK(write.get());
}

TEST_F(ReadTest, ReadCallbacksCannotWriteOrCheckpoint) {
  Open();
  EXPECT_THAT(db_->Read([](ReadTransaction& tx) { return tx.Exec("INSERT INTO t(v) VALUES(5)"); }),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(db_->Read([](ReadTransaction& tx) { return tx.Exec("PRAGMA wal_checkpoint"); }),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(db_->Read([](ReadTransaction& tx) { return tx.Exec("COMMIT"); }),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(ReadTest, ErrorOrThrowInsideReadIsReturned) {
  Open();
  EXPECT_THAT(db_->Read([](ReadTransaction&) { return Status(StatusCode::kNotFound, "x"); }),
              StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(db_->Read([](ReadTransaction&) -> Status { throw std::logic_error("bad"); }),
              StatusIs(StatusCode::kInternal));
  EXPECT_THAT(db_->Read([](ReadTransaction& tx) {
                return tx.QueryInt64("SELECT v FROM t WHERE id = 99").status();
              }),
              StatusIs(StatusCode::kNotFound));
  // The pool's connections are still usable afterwards.
  SQLSTEWARD_EXPECT_OK(db_->Read([](ReadTransaction& tx) {
    return tx.QueryInt64("SELECT count(*) FROM t").status();
  }));
}

TEST_F(ReadTest, PoolExhaustionTimesOutWithATypedError) {
  Options options;
  options.reader_connections = 1;
  Open(options);
  Latch holding, release;
  std::thread long_read([&] {
    SQLSTEWARD_EXPECT_OK(db_->Read([&](ReadTransaction&) {
      holding.Set();
      release.Wait();
      return Status();
    }));
  });
  holding.Wait();
  ReadOptions quick;
  quick.timeout = std::chrono::milliseconds(100);
  Status st = db_->Read([](ReadTransaction&) { return Status(); }, quick);
  EXPECT_THAT(st, StatusIs(StatusCode::kTimeout));
  EXPECT_FALSE(st.hint().empty());
  release.Set();
  long_read.join();
  EXPECT_GE(db_->Metrics().errors_by_code.at("timeout"), 1u);
}

TEST_F(ReadTest, ConcurrentReadersAllSucceed) {
  Open();
  std::vector<std::thread> readers;
  std::atomic<int> bad{0};
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        Status st = db_->Read([&](ReadTransaction& tx) -> Status {
          SQLSTEWARD_ASSIGN_OR_RETURN(auto v, tx.QueryInt64("SELECT v FROM t WHERE id = ?", 2));
          if (v != 2) bad++;
          return Status();
        });
        if (!st.ok()) bad++;
      }
    });
  }
  for (auto& r : readers) r.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(db_->Metrics().reads, 8u * 500u);
}

}  // namespace
}  // namespace sqlsteward
