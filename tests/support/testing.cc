#include "support/testing.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sqlsteward::testing {

TempDir::TempDir() {
  const char* base = std::getenv("SQLSTEWARD_TEST_TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/sqlsteward-test-XXXXXX";
  char* made = ::mkdtemp(tmpl.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp(" << tmpl << "): " << std::strerror(errno);
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string HelperPath() { return SQLSTEWARD_TEST_HELPER; }

Child::Child(const std::string& program, const std::vector<std::string>& args)
    : program_(program) {
  if (int error = process_.Start(program, args); error != 0) {
    ADD_FAILURE() << "start " << program << ": " << std::strerror(error);
  }
}

std::string Child::ReadLine(std::chrono::milliseconds timeout) {
  std::string line;
  switch (process_.ReadLine(subprocess::Clock::now() + timeout, &line)) {
    case subprocess::ChildProcess::ReadStatus::kLine:
      return line;
    case subprocess::ChildProcess::ReadStatus::kEof:
      return "";
    case subprocess::ChildProcess::ReadStatus::kTimeout:
      break;
  }
  ADD_FAILURE() << program_ << " (pid " << pid() << ") printed no line within "
                << timeout.count() << " ms";
  return "";
}

void Child::Send(const std::string& text) {
  if (!process_.Send(text)) {
    ADD_FAILURE() << "write to " << program_ << " (pid " << pid() << "): " << std::strerror(errno);
  }
}

int Child::Wait(std::chrono::milliseconds timeout) {
  std::optional<subprocess::ExitStatus> status =
      process_.WaitUntil(subprocess::Clock::now() + timeout);
  if (!status.has_value()) {
    ADD_FAILURE() << program_ << " (pid " << pid() << ") still runs after " << timeout.count()
                  << " ms; killed";
    process_.Kill();
    status = process_.Wait();
  }
  return status->ShellCode();
}

int RunInChild(const std::function<int()>& fn) {
  subprocess::ExitStatus status = subprocess::RunForked(fn);
  if (!status.started()) ADD_FAILURE() << "fork: " << std::strerror(errno);
  return status.ShellCode();
}

int RunProgram(const std::vector<std::string>& args) {
  if (args.empty()) return -1;
  subprocess::SpawnOptions options;
  options.in = subprocess::Stream::kNull;
  options.out = subprocess::Stream::kInherit;
  options.err = subprocess::Stream::kInherit;
  subprocess::RunResult run =
      subprocess::Run(args[0], std::vector<std::string>(args.begin() + 1, args.end()),
                      subprocess::Clock::now() + kChildTimeout, options);
  return run.status.exited() ? run.status.exit_code() : -1;
}

BindfsMount::BindfsMount(const std::string& source, const std::string& target)
    : target_(target) {
  const std::string need =
      " (the FUSE tests need bindfs and /dev/fuse: apt-get install bindfs fuse3, and permission "
      "to mount)";
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    error_ = "/dev/fuse is missing or not accessible: " + std::string(std::strerror(errno)) + need;
    return;
  }
  int status = RunProgram({"bindfs", source, target});
  if (status != 0) {
    error_ = "`bindfs " + source + " " + target + "` failed (exit " + std::to_string(status) +
             "; -1: bindfs is not installed)" + need;
    return;
  }
  mounted_ = true;
  struct statfs fs;
  constexpr long kFuseMagic = 0x65735546;
  if (::statfs(target.c_str(), &fs) != 0 || static_cast<long>(fs.f_type) != kFuseMagic) {
    error_ = target + " is not a FUSE mount after bindfs" + need;
  }
}

BindfsMount::~BindfsMount() {
  if (!mounted_) return;
  if (RunProgram({"fusermount", "-u", target_}) != 0) RunProgram({"umount", "-l", target_});
}

namespace {

std::string FirstColumn(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string err = sqlite3_errmsg(db);
    sqlite3_close(db);
    return "open failed: " + err;
  }
  sqlite3_busy_timeout(db, 10'000);
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    out = std::string("prepare failed: ") + sqlite3_errmsg(db);
  } else if (sqlite3_step(stmt) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    out = text != nullptr ? reinterpret_cast<const char*>(text) : "";
  } else {
    out = std::string("step failed: ") + sqlite3_errmsg(db);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

}  // namespace

std::string RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    ADD_FAILURE() << "open " << path << ": " << sqlite3_errmsg(db);
    sqlite3_close(db);
    return out;
  }
  sqlite3_busy_timeout(db, 5000);
  const char* tail = sql.c_str();
  while (tail != nullptr && *tail != '\0') {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, tail, -1, &stmt, &tail) != SQLITE_OK) {
      ADD_FAILURE() << "prepare " << sql << ": " << sqlite3_errmsg(db);
      break;
    }
    if (stmt == nullptr) break;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        if (c > 0) out += "|";
        const unsigned char* text = sqlite3_column_text(stmt, c);
        out += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
      }
      out += "\n";
    }
    if (rc != SQLITE_DONE) ADD_FAILURE() << "step " << sql << ": " << sqlite3_errmsg(db);
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return out;
}

std::string DumpDatabase(const std::string& path) {
  std::string out = RawQuery(path, "PRAGMA user_version");
  std::string tables =
      RawQuery(path,
               "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY "
               "type, name");
  out += tables;
  std::istringstream lines(
      RawQuery(path,
               "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
               "ORDER BY name"));
  for (std::string table; std::getline(lines, table);) {
    out += "-- " + table + "\n" + RawQuery(path, "SELECT * FROM \"" + table + "\" ORDER BY 1");
  }
  return out;
}

long long CountRows(const std::string& db_path, const std::string& table) {
  std::string value = FirstColumn(db_path, "SELECT count(*) FROM " + table);
  char* end = nullptr;
  long long n = std::strtoll(value.c_str(), &end, 10);
  if (end == value.c_str()) {
    ADD_FAILURE() << "count(*) of " << table << ": " << value;
    return -1;
  }
  return n;
}

std::string IntegrityCheck(const std::string& db_path) {
  return FirstColumn(db_path, "PRAGMA integrity_check");
}

bool KernelQueuesAWaiterOn(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  char id[64];
  std::snprintf(id, sizeof id, " %02x:%02x:%llu ", major(st.st_dev), minor(st.st_dev),
                static_cast<unsigned long long>(st.st_ino));
  std::ifstream locks("/proc/locks");
  for (std::string line; std::getline(locks, line);) {
    if (line.find(" -> ") != std::string::npos && line.find(id) != std::string::npos) return true;
  }
  return false;
}

}  // namespace sqlsteward::testing
