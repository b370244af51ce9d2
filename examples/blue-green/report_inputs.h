// What the deploy demo leaves in a run directory, parsed for deploy_report:
//
//   meta            mode=<sqlsteward|naive>, one key=value per line
//   events.tsv      <unix_us> TAB <event> TAB <key=value ...>, from the deploy script
//   acks.tsv        acknowledged orders, from order_load (load_generator.cc)
//   errors.tsv      failed attempts, from order_load
//   nginx/access.log  '$msec|$status|$request_method|$uri|$upstream_addr|
//                   $upstream_status|$request_time|$upstream_response_time'
//   orders.db       the database, read read-only through SQLite, never through
//                   sqlsteward, so the check is independent of the library.
#ifndef SQLSTEWARD_EXAMPLES_BLUE_GREEN_REPORT_INPUTS_H_
#define SQLSTEWARD_EXAMPLES_BLUE_GREEN_REPORT_INPUTS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace orders {

struct Event {
  std::int64_t unix_us = 0;
  std::string name;
  std::map<std::string, std::string> fields;
  std::string Field(const std::string& key) const {
    auto it = fields.find(key);
    return it == fields.end() ? "" : it->second;
  }
};

struct AckRecord {
  std::string key;
  std::int64_t id = 0;
  std::string served_by;
  std::int64_t start_us = 0;
  std::int64_t end_us = 0;
  int attempts = 0;
  char kind = 'o';
  bool replayed = false;
};

struct FailureRecord {
  std::string key;
  std::int64_t start_us = 0;
  std::int64_t end_us = 0;
  int http_status = 0;
  std::string served_by;
  bool final = false;
  std::string detail;
};

struct ProxyRecord {
  std::int64_t unix_us = 0;
  int status = 0;
  std::string method;
  std::string uri;
  std::string upstream_status;  // "201" or, retried, "503, 201"
};

struct DbRow {
  std::string key;
  std::int64_t id = 0;
  std::string created_by;
};

struct DbContent {
  std::string integrity;  // "ok", or integrity_check's messages joined by "; "
  std::vector<DbRow> rows;
};

struct RunInputs {
  std::string dir;
  std::map<std::string, std::string> meta;
  std::vector<Event> events;
  std::vector<AckRecord> acks;
  std::vector<FailureRecord> failures;
  std::vector<ProxyRecord> proxy;
  DbContent db;
};

// Reads everything above; false with `error` set when a file is missing or
// malformed (a report on half the data would be worse than none).
bool ReadRunInputs(const std::string& dir, RunInputs* out, std::string* error);

}  // namespace orders

#endif  // SQLSTEWARD_EXAMPLES_BLUE_GREEN_REPORT_INPUTS_H_
