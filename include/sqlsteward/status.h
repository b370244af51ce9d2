// Status and Result<T>: the only error channel of the sqlsteward API.
//
// Codes are chosen by what the caller should do next, not by where the error
// came from. The SQLite extended result code and errno, when there was one,
// ride along for diagnosis; the hint says how to recover.
//
// Thread safety: Status and Result<T> are values; distinct objects may be used
// from distinct threads, a shared one only for reading.
#ifndef SQLSTEWARD_STATUS_H_
#define SQLSTEWARD_STATUS_H_

#include <cassert>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace sqlsteward {

enum class StatusCode : int {
  kOk = 0,
  // The arguments or the SQL are wrong; calling again unchanged fails again.
  kInvalidArgument = 1,
  // A file, table or snapshot that the call names does not exist.
  kNotFound = 2,
  // The process lacks the permission it needs; fix ownership or modes.
  kPermissionDenied = 3,
  // The environment must change first (hard link, forked handle, mount whose
  // locks do not work, schema too new, journal mode refused, ...).
  kFailedPrecondition = 4,
  // A wait passed the caller's deadline. Retrying the call may succeed.
  kTimeout = 5,
  // This handle no longer accepts the call (closed, handed over). Retry on
  // another handle or instance.
  kUnavailable = 6,
  // The transaction was rolled back because of a conflict; run it again.
  kAborted = 7,
  // The data violates a constraint (UNIQUE, CHECK, FOREIGN KEY, NOT NULL).
  kConstraint = 8,
  // Disk or memory is full; free some, then retry.
  kResourceExhausted = 9,
  // The database or a file sqlsteward owns is damaged or is not what it
  // should be. Restore from a snapshot.
  kCorruption = 10,
  // The operating system reported an I/O error.
  kIOError = 11,
  // A bug in sqlsteward or an exception thrown by application code.
  kInternal = 12,
  // The write may or may not have been applied (a replicated commit whose
  // acknowledgement was lost in a leadership change or a dropped
  // connection); resolve the outcome before retrying.
  kUnknownOutcome = 13,
};

// Stable, lower-case name of a code ("timeout", "constraint", ...).
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  // OK. Costs one null pointer.
  Status() noexcept = default;
  Status(StatusCode code, std::string message, std::string hint = {},
         int sqlite_code = 0, int sys_errno = 0);

  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;
  ~Status() = default;

  static Status Ok() { return Status(); }

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return ok() ? StatusCode::kOk : state_->code; }
  // Empty when ok().
  std::string_view message() const;
  std::string_view hint() const;
  // SQLite extended result code, or 0 when SQLite was not involved.
  int sqlite_code() const { return ok() ? 0 : state_->sqlite_code; }
  // errno, or 0 when no system call failed.
  int sys_errno() const { return ok() ? 0 : state_->sys_errno; }

  // "timeout: <message> (sqlite 5: database is locked, errno 11) — hint: ..."
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context: `.
  Status WithContext(std::string_view context) const;

  // Marks a deliberate discard (best-effort cleanup whose failure changes
  // nothing for the caller).
  void IgnoreError() const {}

 private:
  struct State {
    StatusCode code;
    int sqlite_code;
    int sys_errno;
    std::string message;
    std::string hint;
  };
  std::unique_ptr<State> state_;
};

// A value of type T or a non-OK Status. The interface mirrors std::expected
// (has_value, value, error, operator*, operator->) so that a later move to
// C++23 is an alias.
template <typename T>
class [[nodiscard]] Result {
 public:
  // NOLINTNEXTLINE(google-explicit-constructor): Result is a sum type.
  Result(T value) : rep_(std::in_place_index<0>, std::move(value)) {}
  // NOLINTNEXTLINE(google-explicit-constructor)
  Result(Status status) : rep_(std::in_place_index<1>, std::move(status)) {
    assert(!std::get<1>(rep_).ok() && "Result needs a value or an error");
  }

  bool has_value() const { return rep_.index() == 0; }
  bool ok() const { return has_value(); }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(rep_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(rep_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(rep_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error; only valid when !has_value().
  const Status& error() const& {
    assert(!has_value());
    return std::get<1>(rep_);
  }
  Status&& error() && {
    assert(!has_value());
    return std::get<1>(std::move(rep_));
  }
  // OK when a value is held, the error otherwise.
  Status status() const { return has_value() ? Status() : std::get<1>(rep_); }

 private:
  std::variant<T, Status> rep_;
};

}  // namespace sqlsteward

// Returns from the enclosing function when `expr` (a Status) is not OK.
#define SQLSTEWARD_RETURN_IF_ERROR(expr)                  \
  do {                                                    \
    ::sqlsteward::Status sqlsteward_status_ = (expr);     \
    if (!sqlsteward_status_.ok()) return sqlsteward_status_; \
  } while (0)

#define SQLSTEWARD_CONCAT_INNER_(a, b) a##b
#define SQLSTEWARD_CONCAT_(a, b) SQLSTEWARD_CONCAT_INNER_(a, b)

// `SQLSTEWARD_ASSIGN_OR_RETURN(auto x, MakeX());` binds the value or returns
// the error from the enclosing function.
#define SQLSTEWARD_ASSIGN_OR_RETURN(lhs, expr) \
  SQLSTEWARD_ASSIGN_OR_RETURN_IMPL_(SQLSTEWARD_CONCAT_(sqlsteward_result_, __LINE__), lhs, expr)
#define SQLSTEWARD_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                      \
  if (!tmp.has_value()) return std::move(tmp).error();    \
  lhs = std::move(tmp).value()

#endif  // SQLSTEWARD_STATUS_H_
