// StagedDump: a cluster database's files (Engine::Dump: the main file and
// its WAL as the leader holds them) written as a local database in a
// private directory, so that a snapshot of a cluster goes through the same
// copy, manifest, checksum, integrity check and retention as a snapshot of
// a local file (snapshot.cc). The directory (0700, files 0600) sits in the
// snapshot's destination, on its filesystem, and is removed with the
// object.
//
// Thread safety: one thread.
#ifndef SQLSTEWARD_SNAPSHOT_STAGED_DUMP_H_
#define SQLSTEWARD_SNAPSHOT_STAGED_DUMP_H_

#include <chrono>
#include <memory>
#include <string>

#include "core/engine.h"
#include "sqlsteward/status.h"

namespace sqlsteward::internal {

class StagedDump {
 public:
  static Result<std::unique_ptr<StagedDump>> Create(Engine& engine, const std::string& dest_dir,
                                                    std::chrono::steady_clock::time_point deadline);
  ~StagedDump();
  StagedDump(const StagedDump&) = delete;
  StagedDump& operator=(const StagedDump&) = delete;

  // The staged database file.
  const std::string& path() const { return path_; }

 private:
  explicit StagedDump(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
  std::string path_;
};

}  // namespace sqlsteward::internal

#endif  // SQLSTEWARD_SNAPSHOT_STAGED_DUMP_H_
