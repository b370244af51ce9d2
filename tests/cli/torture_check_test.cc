// The check behind `sqlsteward torture` (tools/sqlsteward/torture/
// torture_check.h) on databases built to fail it: the command itself can
// only show that nothing was lost, so this is where a lost, a duplicated
// and an out-of-order write, and a damaged index, must be seen. The command
// end to end is in torture_cli_test.cc.
#include "torture/torture_check.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sqlsteward/sqlsteward.h"
#include "support/testing.h"
#include "torture/torture_protocol.h"

namespace sqlsteward::cli::torture {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::TempDir;

// A torture database holding one row per id in `rows` (a repeated id is
// two rows), written through the library as the workers write.
std::string MakeDatabase(const TempDir& dir, const std::vector<std::int64_t>& rows) {
  const std::string path = dir.File(std::string(kDatabaseName));
  auto db = Database::Open(path);
  EXPECT_TRUE(db.has_value()) << testing::Describe(db);
  if (!db.has_value()) return path;
  SQLSTEWARD_EXPECT_OK((*db)->Write([&](Transaction& tx) -> Status {
    SQLSTEWARD_RETURN_IF_ERROR(tx.ExecScript(kSchema));
    for (std::int64_t id : rows) {
      SQLSTEWARD_RETURN_IF_ERROR(
          tx.Exec("INSERT INTO torture_writes(id, pid, at_us, pad) VALUES(?, 1, 0, x'00')", id));
    }
    return Status();
  }));
  SQLSTEWARD_EXPECT_OK((*db)->Close());
  return path;
}

std::vector<std::int64_t> Acked(std::initializer_list<std::int64_t> ids) {
  AckedWrites acked;
  for (std::int64_t id : ids) acked.Add(id);
  acked.Merge();
  return {acked.ids().begin(), acked.ids().end()};
}

TEST(TortureCheckTest, EveryAcknowledgedWritePresentIsSound) {
  TempDir dir;
  const std::vector<std::int64_t> ids = {WriteId(1, 1), WriteId(1, 2), WriteId(3, 1)};
  const std::string db = MakeDatabase(dir, ids);
  auto r = CheckDatabase(db, Acked({WriteId(1, 1), WriteId(1, 2), WriteId(3, 1)}));
  ASSERT_TRUE(r.has_value()) << testing::Describe(r);
  EXPECT_TRUE(r->sound());
  EXPECT_EQ(r->acknowledged, 3U);
  EXPECT_EQ(r->rows, 3U);
  EXPECT_THAT(r->integrity, ElementsAre("ok"));
}

// The test the command cannot make on itself: a database missing one
// acknowledged write reports exactly that one as lost.
TEST(TortureCheckTest, AnAcknowledgedWriteMissingIsOneLost) {
  TempDir dir;
  const std::string db = MakeDatabase(dir, {WriteId(1, 1), WriteId(1, 2), WriteId(2, 1)});
  auto r = CheckDatabase(db, Acked({WriteId(1, 1), WriteId(1, 2), WriteId(2, 1), WriteId(2, 2)}));
  ASSERT_TRUE(r.has_value()) << testing::Describe(r);
  EXPECT_FALSE(r->sound());
  EXPECT_EQ(r->lost, 1U);
  EXPECT_THAT(r->lost_ids, ElementsAre(WriteId(2, 2)));
  EXPECT_EQ(r->gaps, 0U);
  EXPECT_EQ(r->duplicates, 0U);
  EXPECT_THAT(r->integrity, ElementsAre("ok"));
}

TEST(TortureCheckTest, AWritePresentTwiceIsADuplicate) {
  TempDir dir;
  const std::string db = MakeDatabase(dir, {WriteId(1, 1), WriteId(1, 2), WriteId(1, 2)});
  auto r = CheckDatabase(db, Acked({WriteId(1, 1), WriteId(1, 2)}));
  ASSERT_TRUE(r.has_value()) << testing::Describe(r);
  EXPECT_FALSE(r->sound());
  EXPECT_EQ(r->lost, 0U);
  EXPECT_EQ(r->duplicates, 1U);
  EXPECT_THAT(r->duplicate_ids, ElementsAre(WriteId(1, 2)));
}

// Writes present but never acknowledged to the parent (killed before its
// ack line was read) are expected; a hole below a present write of the
// same writer is not: Write() had returned OK for it.
TEST(TortureCheckTest, UnacknowledgedWritesAreFineButAHoleBelowOneIsAGap) {
  const std::vector<std::int64_t> present = {WriteId(1, 1), WriteId(1, 2), WriteId(1, 4),
                                             WriteId(2, 1)};
  const std::vector<std::int64_t> acked = Acked({WriteId(1, 1)});
  CheckResult r = Compare(present, acked);
  EXPECT_EQ(r.lost, 0U);
  EXPECT_EQ(r.unacknowledged, 3U);
  EXPECT_EQ(r.gaps, 1U);
  EXPECT_THAT(r.gap_ids, ElementsAre(WriteId(1, 3)));
  EXPECT_FALSE(r.lossless());
}

TEST(TortureCheckTest, AcknowledgementsMergeInOrderOnce) {
  AckedWrites acked;
  for (std::int64_t id : {5, 1, 3}) acked.Add(id);
  acked.Merge();
  for (std::int64_t id : {4, 3, 2}) acked.Add(id);
  acked.Merge();
  EXPECT_THAT(std::vector<std::int64_t>(acked.ids().begin(), acked.ids().end()),
              ElementsAre(1, 2, 3, 4, 5));
  EXPECT_THAT(Compare({}, {}).lost_ids, IsEmpty());
}

// An index that no longer matches its table (its definition rewritten
// under it) is what integrity_check reports as damage.
TEST(TortureCheckTest, ADamagedIndexFailsIntegrityCheck) {
  TempDir dir;
  const std::string db = MakeDatabase(dir, {WriteId(1, 1), WriteId(1, 2), WriteId(1, 3)});
  testing::RawQuery(db,
                    "PRAGMA writable_schema = ON;"
                    "UPDATE sqlite_schema SET sql = 'CREATE INDEX torture_writes_id ON "
                    "torture_writes(at_us)' WHERE name = 'torture_writes_id';");
  auto r = CheckDatabase(db, Acked({WriteId(1, 1), WriteId(1, 2), WriteId(1, 3)}));
  ASSERT_TRUE(r.has_value()) << testing::Describe(r);
  EXPECT_FALSE(r->integrity_ok()) << r->integrity.front();
  EXPECT_FALSE(r->sound());
}

}  // namespace
}  // namespace sqlsteward::cli::torture
