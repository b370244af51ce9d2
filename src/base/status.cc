#include "sqlsteward/status.h"

namespace sqlsteward {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kPermissionDenied:
      return "permission_denied";
    case StatusCode::kFailedPrecondition:
      return "failed_precondition";
    case StatusCode::kTimeout:
      return "timeout";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kAborted:
      return "aborted";
    case StatusCode::kConstraint:
      return "constraint";
    case StatusCode::kResourceExhausted:
      return "resource_exhausted";
    case StatusCode::kCorruption:
      return "corruption";
    case StatusCode::kIOError:
      return "io_error";
    case StatusCode::kInternal:
      return "internal";
    case StatusCode::kUnknownOutcome:
      return "unknown_outcome";
  }
  return "unknown";
}

Status::Status(StatusCode code, std::string message, std::string hint, int sqlite_code,
               int sys_errno) {
  if (code == StatusCode::kOk) return;
  state_ = std::make_unique<State>(
      State{code, sqlite_code, sys_errno, std::move(message), std::move(hint)});
}

Status::Status(const Status& other)
    : state_(other.state_ ? std::make_unique<State>(*other.state_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
  return *this;
}

std::string_view Status::message() const { return ok() ? std::string_view() : state_->message; }
std::string_view Status::hint() const { return ok() ? std::string_view() : state_->hint; }

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(StatusCodeName(state_->code));
  out += ": ";
  out += state_->message;
  if (state_->sqlite_code != 0 || state_->sys_errno != 0) {
    out += " (";
    if (state_->sqlite_code != 0) out += "sqlite " + std::to_string(state_->sqlite_code);
    if (state_->sqlite_code != 0 && state_->sys_errno != 0) out += ", ";
    if (state_->sys_errno != 0) out += "errno " + std::to_string(state_->sys_errno);
    out += ")";
  }
  if (!state_->hint.empty()) {
    out += "; hint: ";
    out += state_->hint;
  }
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return Status();
  std::string message(context);
  message += ": ";
  message += state_->message;
  return Status(state_->code, std::move(message), state_->hint, state_->sqlite_code,
                state_->sys_errno);
}

}  // namespace sqlsteward
