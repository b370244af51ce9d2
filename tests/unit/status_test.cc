#include "sqlsteward/status.h"

#include <set>

#include "support/testing.h"

namespace sqlsteward {
namespace {

using testing::StatusIs;

TEST(StatusTest, DefaultIsOkAndCarriesNothing) {
  Status st;
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kOk);
  EXPECT_EQ(st.message(), "");
  EXPECT_EQ(st.hint(), "");
  EXPECT_EQ(st.ToString(), "ok");
}

TEST(StatusTest, ErrorKeepsEveryField) {
  Status st(StatusCode::kTimeout, "lock wait", "retry", 5, 11);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st, StatusIs(StatusCode::kTimeout));
  EXPECT_EQ(st.message(), "lock wait");
  EXPECT_EQ(st.hint(), "retry");
  EXPECT_EQ(st.sqlite_code(), 5);
  EXPECT_EQ(st.sys_errno(), 11);
  EXPECT_EQ(st.ToString(), "timeout: lock wait (sqlite 5, errno 11); hint: retry");
}

TEST(StatusTest, OkCodeWithMessageIsStillOk) {
  Status st(StatusCode::kOk, "ignored");
  EXPECT_TRUE(st.ok());
}

TEST(StatusTest, CopyIsDeepAndContextPrefixes) {
  Status a(StatusCode::kIOError, "fsync failed", "check the disk");
  Status b = a;
  Status c = b.WithContext("commit");
  EXPECT_EQ(b.message(), "fsync failed");
  EXPECT_EQ(c.message(), "commit: fsync failed");
  EXPECT_EQ(c.hint(), "check the disk");
  EXPECT_THAT(c, StatusIs(StatusCode::kIOError));
  EXPECT_TRUE(Status().WithContext("x").ok());
}

TEST(StatusTest, EveryCodeHasADistinctName) {
  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(StatusCode::kUnknownOutcome); ++i) {
    names.insert(StatusCodeName(static_cast<StatusCode>(i)));
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(StatusCode::kUnknownOutcome) + 1);
  EXPECT_EQ(StatusCodeName(StatusCode::kConstraint), "constraint");
}

Result<int> Half(int x) {
  if (x % 2 != 0) return Status(StatusCode::kInvalidArgument, "odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  SQLSTEWARD_ASSIGN_OR_RETURN(int half, Half(x));
  return Half(half);
}

TEST(ResultTest, HoldsValueOrError) {
  Result<int> ok = Half(8);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, 4);
  EXPECT_TRUE(ok.status().ok());
  EXPECT_THAT(Half(3), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(Half(3).error().message(), "odd");
}

TEST(ResultTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_THAT(Quarter(6), StatusIs(StatusCode::kInvalidArgument));  // 6 -> 3 -> odd
  EXPECT_THAT(Quarter(5), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace sqlsteward
