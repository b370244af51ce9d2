// Shorthands for the Status the library returns, one per code:
// `return FailedPrecondition("...", "hint");` instead of spelling out
// FailedPrecondition(...). Internal: the public API
// keeps the Status constructor as its one way to make an error.
//
// Thread safety: pure functions.
#ifndef SQLSTEWARD_BASE_STATUS_BUILDERS_H_
#define SQLSTEWARD_BASE_STATUS_BUILDERS_H_

#include <string>
#include <utility>

#include "base/status_builders.h"
#include "sqlsteward/status.h"

namespace sqlsteward {

#define SQLSTEWARD_STATUS_BUILDER_(Name, Code)                                                    \
  inline Status Name(std::string message, std::string hint = {}, int sqlite_code = 0,             \
                     int sys_errno = 0) {                                                         \
    return Status(StatusCode::Code, std::move(message), std::move(hint), sqlite_code, sys_errno); \
  }

SQLSTEWARD_STATUS_BUILDER_(InvalidArgument, kInvalidArgument)
SQLSTEWARD_STATUS_BUILDER_(NotFound, kNotFound)
SQLSTEWARD_STATUS_BUILDER_(PermissionDenied, kPermissionDenied)
SQLSTEWARD_STATUS_BUILDER_(FailedPrecondition, kFailedPrecondition)
SQLSTEWARD_STATUS_BUILDER_(Timeout, kTimeout)
SQLSTEWARD_STATUS_BUILDER_(Unavailable, kUnavailable)
SQLSTEWARD_STATUS_BUILDER_(Aborted, kAborted)
SQLSTEWARD_STATUS_BUILDER_(ResourceExhausted, kResourceExhausted)
SQLSTEWARD_STATUS_BUILDER_(Corruption, kCorruption)
SQLSTEWARD_STATUS_BUILDER_(IOError, kIOError)
SQLSTEWARD_STATUS_BUILDER_(Internal, kInternal)
SQLSTEWARD_STATUS_BUILDER_(UnknownOutcome, kUnknownOutcome)

#undef SQLSTEWARD_STATUS_BUILDER_

}  // namespace sqlsteward

#endif  // SQLSTEWARD_BASE_STATUS_BUILDERS_H_
