// The "sidecar" section: the verdict the library gives on `<db>-steward`
// (InspectSidecar, sqlsteward/instances.h) and the write lock with its
// holder (ReadWriteLock). Doctor decodes nothing of the file itself, so its
// verdict is the one Database::Open acts on.
#include <cstring>
#include <string>

#include <fmt/core.h>

#include "base/time.h"
#include "common/cli.h"
#include "common/instance_output.h"
#include "doctor/checks.h"
#include "sidecar/format.h"
#include "sqlsteward/instances.h"

namespace sqlsteward::cli::doctor {
namespace {

using nlohmann::json;

std::string ErrnoText(const Status& status) {
  return status.sys_errno() != 0 ? std::string(std::strerror(status.sys_errno()))
                                 : std::string(status.message());
}

// sidecar.header from InspectSidecar. Returns whether the library accepts
// the sidecar.
bool CheckHeader(Report& r, const FileState& f, const Result<SidecarInfo>& inspected) {
  json& s = r.sidecar;
  if (inspected.has_value()) {
    s["version"] = inspected->format_version;
    r.Add("sidecar.header", Severity::kOk,
          fmt::format("sidecar format version {} (SQLSTWD1)", inspected->format_version));
    return true;
  }
  const Status& error = inspected.error();
  // A sidecar at its full size that the library rejects has no SQLSTWD1
  // magic; a shorter one, empty included, is not whole, which is what the
  // library's own message says.
  if (error.code() == StatusCode::kCorruption && f.st.st_size >= internal::kSidecarSize) {
    r.Add("sidecar.header", Severity::kProblem,
          fmt::format("{} is not a sqlsteward sidecar (no SQLSTWD1 header); sqlsteward refuses "
                      "to open the database",
                      f.path),
          std::string(error.hint()));
  } else {
    r.Add("sidecar.header", Severity::kProblem, std::string(error.message()),
          std::string(error.hint()));
  }
  return false;
}

// sidecar.write_lock: free, or held by whom, for what and how long.
void CheckWriteLock(Report& r) {
  json& s = r.sidecar;
  // ReadWriteLock queries the lock (F_OFD_GETLK) through a descriptor of
  // its own that holds nothing, so any lock it sees is someone else's.
  Result<WriteLockStatus> lock = ReadWriteLock(r.path);
  if (!lock.has_value()) {
    r.Add("sidecar.write_lock", Severity::kWarning,
          fmt::format("cannot query the write lock: {}", ErrnoText(lock.error())),
          "the filesystem may not support OFD locks; see filesystem.locks");
    return;
  }
  if (!lock->held) {
    s["write_lock"] = "free";
    r.Add("sidecar.write_lock", Severity::kOk, "write lock: free (no write in progress)");
    return;
  }
  s["write_lock"] = "held";
  if (lock->pid == 0) {
    r.Add("sidecar.write_lock", Severity::kOk, "write lock: held (holder not recorded yet)");
    return;
  }
  const std::int64_t held_ms = WallClockUnixMs() - lock->since_unix_ms;
  s["holder"] = {{"pid", lock->pid},
                 {"host", lock->host},
                 {"since_unix_ms", lock->since_unix_ms},
                 {"since", IsoUtc(lock->since_unix_ms)},
                 {"held_ms", held_ms},
                 {"purpose", lock->purpose}};
  const std::string who =
      fmt::format("{} ({} s)", DescribeWriteLockHolder(*lock), held_ms / 1000);
  if (held_ms > kStuckWriteLockMs) {
    r.Add("sidecar.write_lock", Severity::kWarning,
          "write lock: held by " + who + ", far longer than one commit: the writer may be stuck",
          fmt::format("inspect pid {} on {} (a long transaction, a stopped process); the lock is "
                      "released when its process exits",
                      lock->pid, lock->host));
  } else {
    r.Add("sidecar.write_lock", Severity::kOk,
          "write lock: held by " + who + " (a write in progress)");
  }
}

}  // namespace

bool CheckSidecar(Report& r, const FileState& f) {
  json& s = r.sidecar;
  s = {{"path", f.path},        {"present", f.exists}, {"valid", nullptr}, {"version", nullptr},
       {"write_lock", nullptr}, {"holder", nullptr},   {"error", nullptr}};
  if (f.error != 0) {
    s["present"] = nullptr;
    s["error"] = StatusToJson(ErrnoStatus(f.error, "stat " + f.path));
    r.Add("sidecar.header", Severity::kWarning,
          fmt::format("cannot stat {}: {}", f.path, std::strerror(f.error)),
          "run doctor as the user that owns the database");
    return false;
  }
  if (!f.exists) {
    r.Add("sidecar.header", Severity::kOk,
          fmt::format("no sidecar ({}): sqlsteward has not opened this database", f.path));
    return false;
  }
  if (f.is_link() || !f.is_regular()) {
    // The library refuses these too (kFailedPrecondition); the files
    // section has already said what the file is.
    s["valid"] = false;
    r.Add("sidecar.header", Severity::kProblem,
          fmt::format("{} is {}; sqlsteward refuses it", f.path,
                      f.is_link() ? "a symbolic link" : "not a regular file"),
          "if no sqlsteward process uses the database, remove it; it is recreated on the next "
          "open");
    return false;
  }
  const Result<SidecarInfo> inspected = InspectSidecar(r.path);
  const StatusCode code = inspected.has_value() ? StatusCode::kOk : inspected.error().code();
  if (code != StatusCode::kOk && code != StatusCode::kCorruption &&
      code != StatusCode::kFailedPrecondition) {
    // Not a verdict on the file: doctor could not read it.
    s["error"] = StatusToJson(inspected.error());
    r.Add("sidecar.header", Severity::kWarning,
          fmt::format("cannot read {}: {}", f.path, ErrnoText(inspected.error())),
          "run doctor as the user that owns the database");
    return true;
  }
  const bool valid = CheckHeader(r, f, inspected);
  s["valid"] = valid;
  CheckWriteLock(r);
  return valid;
}

}  // namespace sqlsteward::cli::doctor
