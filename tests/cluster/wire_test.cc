// The dqlite codec (src/cluster/wire.h) and the client's pure rules
// (addresses, statement kinds, failure mapping), without a node: round
// trips of every value type, and garbage a network can deliver.
#include "cluster/wire.h"

#include <cstring>
#include <string>
#include <vector>

#include "cluster/failure.h"
#include "cluster/statement_kind.h"
#include "support/testing.h"

namespace sqlsteward::cluster {
namespace {

using ::sqlsteward::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<std::byte> Bytes(std::string_view s) {
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

// A little builder for hand-made response bodies.
struct Body {
  std::string b;
  Body& U64(std::uint64_t v) {
    b.append(reinterpret_cast<const char*>(&v), 8);
    return *this;
  }
  Body& Raw(std::string_view s) {
    b.append(s);
    return *this;
  }
  Body& Text(std::string_view s) {
    b.append(s);
    b.push_back('\0');
    while (b.size() % 8 != 0) b.push_back('\0');
    return *this;
  }
  std::vector<std::byte> bytes() const { return Bytes(b); }
};

TEST(ClusterWireTest, ParamsRoundTripEveryType) {
  const std::vector<std::byte> blob = {std::byte{0}, std::byte{0xff}, std::byte{7}};
  const std::vector<Value> params = {nullptr, std::int64_t{-42}, 2.5, std::string("héllo"), blob};
  wire::Encoder e;
  SQLSTEWARD_ASSERT_OK(e.PutParams(params));
  const std::string msg = e.Finish(wire::Request::kExec);
  auto m = wire::SplitMessage(Bytes(msg));
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->header.type, static_cast<std::uint8_t>(wire::Request::kExec));
  ASSERT_EQ(m->body.size() % 8, 0u);
  // Header word: count, then one type byte per value.
  ASSERT_EQ(static_cast<int>(m->body[0]), 5);
  const int types[] = {5, 1, 2, 3, 4};
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(static_cast<int>(m->body[1 + i]), types[i]);
  wire::Decoder d(std::span<const std::byte>(m->body).subspan(8));
  std::vector<Value> back(5);
  for (std::size_t i = 0; i < 5; ++i) {
    SQLSTEWARD_ASSERT_OK(d.ReadValue(static_cast<std::uint8_t>(types[i]), back[i]));
  }
  EXPECT_EQ(back, params);
  EXPECT_EQ(d.remaining(), 0u);
}

TEST(ClusterWireTest, EncoderRefusesWhatTheServerWouldMisread) {
  wire::Encoder e;
  EXPECT_THAT(e.PutText(std::string("a\0b", 3)), StatusIs(StatusCode::kInvalidArgument));
  std::vector<Value> many(256, std::int64_t{1});
  Status s = e.PutParams(many);
  EXPECT_THAT(s, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(s.message()), HasSubstr("255"));
  EXPECT_FALSE(s.hint().empty());
}

TEST(ClusterWireTest, RowsOfEveryTypeAndBothMarkers) {
  // Two columns; row 1: integer, text; row 2: null, float; then PART.
  Body b;
  b.U64(2).Text("a").Text("b");
  b.U64(0x31).U64(7).Text("x");    // types 1 (low nibble), 3
  b.U64(0x25).U64(0).U64(0x4008000000000000ull);  // types 5, 2 (3.0)
  b.U64(wire::kRowsPart);
  auto rows = wire::DecodeRows(b.bytes());
  ASSERT_TRUE(rows.has_value()) << rows.error().ToString();
  EXPECT_EQ(rows->columns, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(rows->rows.size(), 2u);
  EXPECT_EQ(rows->rows[0][0], Value(std::int64_t{7}));
  EXPECT_EQ(rows->rows[0][1], Value(std::string("x")));
  EXPECT_EQ(rows->rows[1][0], Value(nullptr));
  EXPECT_EQ(rows->rows[1][1], Value(3.0));
  EXPECT_TRUE(rows->more);

  Body done;
  done.U64(1).Text("n").U64(wire::kRowsDone);
  auto empty = wire::DecodeRows(done.bytes());
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->rows.empty());
  EXPECT_FALSE(empty->more);
}

TEST(ClusterWireTest, TruncatedHeaderIsRejected) {
  auto m = wire::SplitMessage(Bytes(std::string(5, '\0')));
  EXPECT_THAT(m, StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(std::string(m.error().message()), HasSubstr("header"));
}

TEST(ClusterWireTest, LengthBeyondTheBufferIsRejected) {
  Body header;
  header.U64(0x0000000800000010ull);  // 16 words announced, type 8
  auto m = wire::SplitMessage(Bytes(header.b + std::string(8, '\0')));
  EXPECT_THAT(m, StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(std::string(m.error().message()), HasSubstr("128 body bytes"));
  // A header announcing more than the limit fails before any body is read.
  Body huge;
  huge.U64(0x00000007ffffffffull);
  EXPECT_THAT(wire::DecodeHeader(huge.bytes()), StatusIs(StatusCode::kUnavailable));
}

TEST(ClusterWireTest, BadStringPaddingIsRejected) {
  Body b;
  b.U64(1).Raw(std::string("abc\0xyzq", 8));  // non-zero bytes after the NUL
  auto f = wire::DecodeFailure(b.bytes());
  EXPECT_THAT(f, StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(std::string(f.error().message()), HasSubstr("padded"));
  Body no_nul;
  no_nul.U64(1).Raw("abcdefgh");
  EXPECT_THAT(wire::DecodeFailure(no_nul.bytes()), StatusIs(StatusCode::kUnavailable));
  Body short_pad;
  short_pad.U64(1).Raw(std::string("abc\0", 4));  // body ends inside the padding
  EXPECT_THAT(wire::DecodeFailure(short_pad.bytes()), StatusIs(StatusCode::kUnavailable));
}

TEST(ClusterWireTest, GarbageCountsAndLengthsAreRejected) {
  Body many_nodes;
  many_nodes.U64(1ull << 60);
  EXPECT_THAT(wire::DecodeServers(many_nodes.bytes()), StatusIs(StatusCode::kUnavailable));
  Body many_columns;
  many_columns.U64(1ull << 40).U64(wire::kRowsDone);
  EXPECT_THAT(wire::DecodeRows(many_columns.bytes()), StatusIs(StatusCode::kUnavailable));
  Body no_marker;
  no_marker.U64(1).Text("a").U64(0x1).U64(5);
  EXPECT_THAT(wire::DecodeRows(no_marker.bytes()), StatusIs(StatusCode::kUnavailable));
  Body bad_type;
  bad_type.U64(1).Text("a").U64(0x7).U64(0).U64(wire::kRowsDone);
  EXPECT_THAT(wire::DecodeRows(bad_type.bytes()), StatusIs(StatusCode::kUnavailable));
  Body long_blob;
  long_blob.U64(1).Text("a").U64(0x4).U64(1000).U64(wire::kRowsDone);
  EXPECT_THAT(wire::DecodeRows(long_blob.bytes()), StatusIs(StatusCode::kUnavailable));
  Body big_file;
  big_file.U64(1).Text("db").U64(1ull << 50);
  EXPECT_THAT(wire::DecodeFiles(big_file.bytes()), StatusIs(StatusCode::kUnavailable));
  Body bad_role;
  bad_role.U64(1).U64(1).Text("127.0.0.1:1").U64(9);
  EXPECT_THAT(wire::DecodeServers(bad_role.bytes()), StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(wire::DecodeResult(Body().U64(1).bytes()), StatusIs(StatusCode::kUnavailable));
}

TEST(ClusterWireTest, ServersAndFilesDecode) {
  Body s;
  s.U64(2).U64(1).Text("127.0.0.1:9001").U64(0).U64(2).Text("127.0.0.1:9002").U64(2);
  auto nodes = wire::DecodeServers(s.bytes());
  ASSERT_TRUE(nodes.has_value()) << nodes.error().ToString();
  ASSERT_EQ(nodes->size(), 2u);
  EXPECT_EQ((*nodes)[1].address, "127.0.0.1:9002");
  EXPECT_EQ((*nodes)[1].role, Role::kSpare);
  Body f;
  f.U64(2).Text("app.db").U64(8).Raw("ABCDEFGH").Text("app.db-wal").U64(0);
  auto files = wire::DecodeFiles(f.bytes());
  ASSERT_TRUE(files.has_value()) << files.error().ToString();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].data, "ABCDEFGH");
  EXPECT_EQ((*files)[1].name, "app.db-wal");
}

TEST(ClusterAddressTest, ParsesAndRejectsWithHints) {
  auto a = ParseAddress("dqlite://10.0.0.1:9001,10.0.0.2:9002/app.db");
  ASSERT_TRUE(a.has_value()) << a.error().ToString();
  EXPECT_EQ(a->nodes, (std::vector<std::string>{"10.0.0.1:9001", "10.0.0.2:9002"}));
  EXPECT_EQ(a->database, "app.db");
  for (const char* bad : {"sqlite://h:1/x", "dqlite://h:1", "dqlite://h:1/", "dqlite://h/x",
                          "dqlite://h:0/x", "dqlite://h:99999/x", "dqlite://:1/x",
                          "dqlite://h:1,/x", "dqlite://h:1/a/b"}) {
    auto r = ParseAddress(bad);
    EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument)) << bad;
    if (!r.has_value()) {
      EXPECT_FALSE(r.error().hint().empty()) << bad;
    }
  }
}

TEST(ClusterStatementKindTest, RefusesVacuumAndAttach) {
  Status v = CheckAllowed("  /* c */ vacuum");
  EXPECT_THAT(v, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(v.hint()), HasSubstr("1.11.1"));
  EXPECT_THAT(CheckAllowed("SELECT 1; ATTACH 'x.db' AS x"),
              StatusIs(StatusCode::kFailedPrecondition));
  SQLSTEWARD_EXPECT_OK(CheckAllowed("INSERT INTO t VALUES ('vacuum; attach')"));
}

TEST(ClusterStatementKindTest, TellsWhatMayCommit) {
  EXPECT_TRUE(MayCommit("INSERT INTO t VALUES (1)", false));
  EXPECT_FALSE(MayCommit("INSERT INTO t VALUES (1)", true));
  EXPECT_TRUE(MayCommit("COMMIT", true));
  EXPECT_TRUE(MayCommit("end transaction", true));
  EXPECT_FALSE(MayCommit("SELECT * FROM t", false));
  EXPECT_FALSE(MayCommit("BEGIN; INSERT INTO t VALUES (1)", false));
  EXPECT_TRUE(MayCommit("BEGIN; INSERT INTO t VALUES (1); COMMIT", false));
  EXPECT_FALSE(MayCommit("ROLLBACK", true));
  EXPECT_FALSE(MayCommit("ROLLBACK TO sp", true));
  EXPECT_TRUE(MayCommit("-- note\nUPDATE t SET x = 1", false));
}

TEST(ClusterFailureTest, MapsLeadershipAndSqliteCodes) {
  const wire::Failure not_leader{kIoErrNotLeader, "not leader"};
  EXPECT_THAT(FailureStatus(not_leader, "n", "EXEC", true), StatusIs(StatusCode::kUnavailable));
  const wire::Failure lost{kIoErrLeadershipLost, "leadership lost"};
  Status unknown = FailureStatus(lost, "n", "EXEC", true);
  EXPECT_THAT(unknown, StatusIs(StatusCode::kUnknownOutcome));
  EXPECT_THAT(std::string(unknown.hint()), HasSubstr("may or may not"));
  EXPECT_EQ(unknown.sqlite_code(), kIoErrLeadershipLost);
  EXPECT_THAT(FailureStatus(lost, "n", "QUERY", false), StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(FailureStatus({2067, "UNIQUE constraint failed"}, "n", "EXEC", true),
              StatusIs(StatusCode::kConstraint));
  EXPECT_THAT(FailureStatus({1, "syntax error"}, "n", "EXEC", true),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(FailureStatus({5, "busy"}, "n", "EXEC", true), StatusIs(StatusCode::kTimeout));
  // A node shutting down mid-commit answers SQLITE_ABORT: unknown for a
  // statement that can commit, a plain abort otherwise.
  EXPECT_THAT(FailureStatus({4, "abort"}, "n", "EXEC", true), StatusIs(StatusCode::kUnknownOutcome));
  EXPECT_THAT(FailureStatus({4, "abort"}, "n", "QUERY", false), StatusIs(StatusCode::kAborted));
  EXPECT_THAT(LostReplyStatus(Status(StatusCode::kUnavailable, "lost"), "EXEC", true, true),
              StatusIs(StatusCode::kUnknownOutcome));
  EXPECT_THAT(LostReplyStatus(Status(StatusCode::kUnavailable, "lost"), "EXEC", true, false),
              StatusIs(StatusCode::kUnavailable));
}

}  // namespace
}  // namespace sqlsteward::cluster
