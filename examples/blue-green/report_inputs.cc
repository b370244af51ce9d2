#include "report_inputs.h"

#include <sqlite3.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>

namespace orders {
namespace {

std::vector<std::string> Split(const std::string& line, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(line);
  while (std::getline(in, part, sep)) parts.push_back(part);
  if (!line.empty() && line.back() == sep) parts.emplace_back();
  return parts;
}

bool ToInt(const std::string& text, std::int64_t* out) {
  try {
    std::size_t used = 0;
    *out = std::stoll(text, &used);
    return used == text.size();
  } catch (...) {
    return false;
  }
}

// Calls parse(fields) for every non-empty line of `path`; false with `error`
// naming the file and line when parse rejects one.
template <typename Parse>
bool ForEachLine(const std::string& path, char sep, bool required, std::string* error,
                 Parse parse) {
  std::ifstream in(path);
  if (!in) {
    if (!required) return true;
    *error = "cannot read " + path;
    return false;
  }
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    if (!parse(Split(line, sep))) {
      *error = path + ":" + std::to_string(number) + ": malformed line: " + line.substr(0, 120);
      return false;
    }
  }
  return true;
}

bool ParseEvent(const std::vector<std::string>& f, std::vector<Event>* out) {
  if (f.size() < 2) return false;
  Event e;
  if (!ToInt(f[0], &e.unix_us)) return false;
  e.name = f[1];
  if (f.size() > 2) {
    for (const std::string& kv : Split(f[2], ' ')) {
      auto eq = kv.find('=');
      if (eq != std::string::npos) e.fields[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  out->push_back(std::move(e));
  return true;
}

bool ParseAck(const std::vector<std::string>& f, std::vector<AckRecord>* out) {
  if (f.size() != 8 || f[6].size() != 1) return false;
  AckRecord a;
  std::int64_t attempts = 0;
  std::int64_t replayed = 0;
  a.key = f[0];
  a.served_by = f[2];
  a.kind = f[6][0];
  if (!ToInt(f[1], &a.id) || !ToInt(f[3], &a.start_us) || !ToInt(f[4], &a.end_us) ||
      !ToInt(f[5], &attempts) || !ToInt(f[7], &replayed)) {
    return false;
  }
  a.attempts = static_cast<int>(attempts);
  a.replayed = replayed != 0;
  out->push_back(std::move(a));
  return true;
}

bool ParseFailure(const std::vector<std::string>& f, std::vector<FailureRecord>* out) {
  if (f.size() < 6) return false;
  FailureRecord r;
  std::int64_t status = 0;
  std::int64_t final = 0;
  r.key = f[0];
  r.served_by = f[4] == "-" ? "" : f[4];
  if (!ToInt(f[1], &r.start_us) || !ToInt(f[2], &r.end_us) || !ToInt(f[3], &status) ||
      !ToInt(f[5], &final)) {
    return false;
  }
  r.http_status = static_cast<int>(status);
  r.final = final != 0;
  r.detail = f.size() > 6 ? f[6] : "";
  out->push_back(std::move(r));
  return true;
}

bool ParseProxy(const std::vector<std::string>& f, std::vector<ProxyRecord>* out) {
  if (f.size() < 6) return false;
  ProxyRecord r;
  std::int64_t status = 0;
  try {
    r.unix_us = std::llround(std::stod(f[0]) * 1e6);
  } catch (...) {
    return false;
  }
  if (!ToInt(f[1], &status)) return false;
  r.status = static_cast<int>(status);
  r.method = f[2];
  r.uri = f[3];
  r.upstream_status = f[5];
  out->push_back(std::move(r));
  return true;
}

struct ConnCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

bool ReadDatabase(const std::string& path, DbContent* out, std::string* error) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, ConnCloser> db(raw);
  if (rc != SQLITE_OK) {
    *error = "cannot open " + path + " read-only: " + (raw ? sqlite3_errmsg(raw) : "no memory");
    return false;
  }
  sqlite3_busy_timeout(db.get(), 5000);
  auto query = [&](const char* sql, auto on_row) -> bool {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db.get(), sql, -1, &stmt, nullptr) != SQLITE_OK) {
      *error = std::string(sql) + ": " + sqlite3_errmsg(db.get());
      return false;
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) on_row(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) *error = std::string(sql) + ": " + sqlite3_errmsg(db.get());
    return rc == SQLITE_DONE;
  };
  auto text = [](sqlite3_stmt* stmt, int col) {
    const unsigned char* t = sqlite3_column_text(stmt, col);
    return t == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(t));
  };
  out->integrity.clear();
  if (!query("PRAGMA integrity_check", [&](sqlite3_stmt* stmt) {
        if (!out->integrity.empty()) out->integrity += "; ";
        out->integrity += text(stmt, 0);
      })) {
    return false;
  }
  return query("SELECT idempotency_key, id, created_by FROM orders ORDER BY id",
               [&](sqlite3_stmt* stmt) {
                 out->rows.push_back(
                     {text(stmt, 0), sqlite3_column_int64(stmt, 1), text(stmt, 2)});
               });
}

}  // namespace

bool ReadRunInputs(const std::string& dir, RunInputs* out, std::string* error) {
  out->dir = dir;
  bool ok = ForEachLine(dir + "/meta", '=', true, error, [&](const std::vector<std::string>& f) {
    if (f.size() != 2) return false;
    out->meta[f[0]] = f[1];
    return true;
  });
  ok = ok && ForEachLine(dir + "/events.tsv", '\t', true, error,
                         [&](const auto& f) { return ParseEvent(f, &out->events); });
  ok = ok && ForEachLine(dir + "/acks.tsv", '\t', true, error,
                         [&](const auto& f) { return ParseAck(f, &out->acks); });
  ok = ok && ForEachLine(dir + "/errors.tsv", '\t', true, error,
                         [&](const auto& f) { return ParseFailure(f, &out->failures); });
  ok = ok && ForEachLine(dir + "/nginx/access.log", '|', true, error,
                         [&](const auto& f) { return ParseProxy(f, &out->proxy); });
  return ok && ReadDatabase(dir + "/orders.db", &out->db, error);
}

}  // namespace orders
