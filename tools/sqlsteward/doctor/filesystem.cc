// The "filesystem" section: what the library's probe (sqlsteward/probe.h)
// finds in the database's directory, and the journal policy it implies.
#include <string>
#include <utility>

#include <fmt/core.h>

#include "common/json_output.h"
#include "doctor/checks.h"
#include "doctor/text.h"
#include "probe/mounts.h"

namespace sqlsteward::cli::doctor {
namespace {

using nlohmann::json;

json EmptyFilesystemJson(const std::string& dir) {
  return {{"directory", dir},
          {"probed", false},
          {"error", nullptr},
          {"mount_point", nullptr},
          {"fs_type", nullptr},
          {"source", nullptr},
          {"mount_options", nullptr},
          {"super_options", nullptr},
          {"kind", nullptr},
          {"nfs_local_lock", nullptr},
          {"posix_locks_visible", nullptr},
          {"ofd_locks_visible", nullptr},
          {"shared_memory_coherent", nullptr},
          {"reasons", json::array()},
          {"policy", nullptr}};
}

void FillFilesystemJson(json& out, const ProbeReport& p, const JournalPolicy& policy) {
  out["directory"] = p.directory;
  out["probed"] = true;
  out["mount_point"] = p.mount.mount_point;
  out["fs_type"] = probe_internal::FullMountType(p.mount);
  out["source"] = p.mount.source;
  out["mount_options"] = p.mount.mount_options;
  out["super_options"] = p.mount.super_options;
  out["kind"] = FsKindName(p.kind);
  out["nfs_local_lock"] = p.nfs_local_lock.empty() ? json(nullptr) : json(p.nfs_local_lock);
  out["posix_locks_visible"] = p.posix_locks_visible;
  out["ofd_locks_visible"] = p.ofd_locks_visible;
  out["shared_memory_coherent"] = p.shared_memory_coherent;
  out["reasons"] = p.reasons;
  out["policy"] = {{"allow_wal", policy.allow_wal},
                   {"allow_rollback", policy.allow_rollback},
                   {"allow_multi_process", policy.allow_multi_process},
                   {"recommended_journal_mode", policy.allow_wal ? "wal" : "delete"},
                   {"reason", policy.reason}};
}

}  // namespace

FsFacts ProbeFilesystem(Report& r) {
  FsFacts facts;
  r.filesystem = EmptyFilesystemJson(r.dir);
  Result<ProbeReport> probed = ProbeDirectoryCached(r.dir);
  if (!probed.has_value()) {
    const Status& st = probed.error();
    r.filesystem["error"] = StatusToJson(st);
    std::string hint = st.code() == StatusCode::kPermissionDenied
                           ? "run doctor as the user that owns the database: the probe creates and "
                             "removes a small file in its directory"
                           : std::string(st.hint());
    r.Add("filesystem.probe", Severity::kWarning,
          fmt::format("could not probe {}: {}", r.dir, st.message()), std::move(hint));
    return facts;
  }
  const ProbeReport& p = *probed;
  facts.probe = p;
  facts.policy = ChoosePolicy(p);
  if (!p.mount.mount_point.empty()) facts.mount_point = p.mount.mount_point;
  FillFilesystemJson(r.filesystem, p, *facts.policy);

  const std::string fs_type = probe_internal::FullMountType(p.mount);
  const std::string_view kind = FsKindName(p.kind);
  std::string where = p.mount.mount_point.empty()
                          ? std::string("(mount point unknown; from statfs)")
                          : fmt::format("mounted at {}", p.mount.mount_point);
  Finding& f = r.Add("filesystem.probe", Severity::kOk,
                     fmt::format("{}: {} ({}), {}, source {}, options {}", p.directory,
                                 fs_type.empty() ? std::string(kind) : fs_type, kind, where,
                                 p.mount.source.empty() ? "?" : p.mount.source,
                                 p.mount.mount_options.empty() ? "?" : p.mount.mount_options));
  f.details = p.reasons;
  return facts;
}

void CheckFilesystem(Report& r, const FsFacts& fs, std::optional<bool> db_is_wal) {
  if (!fs.probe) return;
  const ProbeReport& p = *fs.probe;
  const JournalPolicy& policy = *fs.policy;

  if (p.posix_locks_visible && p.ofd_locks_visible) {
    r.Add("filesystem.locks", Severity::kOk,
          "POSIX and OFD locks taken by one process are visible to another (the probe sees "
          "this host only)");
  } else {
    std::string which = !p.posix_locks_visible && !p.ofd_locks_visible ? "POSIX and OFD locks"
                        : !p.posix_locks_visible                       ? "POSIX locks"
                                                                       : "OFD locks";
    r.Add("filesystem.locks", Severity::kProblem,
          which +
              " taken by one process are not visible to another here: nothing stops two "
              "processes from writing at once, which corrupts the database or loses commits",
          "move the database to a local filesystem (for a container: a named volume, not a bind "
          "mount); until then let only one process open it");
  }

  r.Add("filesystem.shared_memory", Severity::kOk,
        p.shared_memory_coherent
            ? "two processes mapping one file MAP_SHARED see each other's writes: WAL's "
              "shared-memory index works here"
            : "two processes mapping one file MAP_SHARED did not see each other's writes: WAL's "
              "shared-memory index would diverge here (a rollback journal is required)");

  std::string recommendation = fmt::format(
      "recommended journal mode: {}; {}", policy.allow_wal ? "WAL" : "rollback journal (DELETE)",
      policy.allow_multi_process ? "several processes may share the database"
                                 : "only one process may use the database");
  Severity severity = Severity::kOk;
  std::string message = recommendation;
  std::string hint;
  if (db_is_wal.value_or(false) && !policy.allow_wal) {
    severity = Severity::kProblem;
    message =
        "the database is in WAL mode, but WAL is unsafe on this filesystem; " + recommendation;
    hint = fmt::format(
        "stop every process that uses it, then switch it to a rollback journal: open it with "
        "sqlsteward (JournalMode::kAuto does it) or run sqlite3 {} 'PRAGMA journal_mode=DELETE'; "
        "or move it to a local filesystem",
        ShellQuote(r.path));
  } else if (!policy.allow_multi_process) {
    severity = Severity::kWarning;
    hint =
        "only an exclusive instance may open it here; to share it, move it to a local "
        "filesystem";
  }
  Finding& f = r.Add("filesystem.policy", severity, std::move(message), std::move(hint));
  f.details.push_back(policy.reason);
}

}  // namespace sqlsteward::cli::doctor
