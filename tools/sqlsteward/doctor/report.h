// The report of `sqlsteward doctor`: findings with a stable id, a severity,
// a message and a hint, grouped in sections, and the facts behind them;
// printed for people or as one JSON object (docs/cli.md has the schema).
// The exit code is the worst severity: 0 all ok, 1 warnings only, 2 any
// problem.
#ifndef SQLSTEWARD_TOOLS_DOCTOR_REPORT_H_
#define SQLSTEWARD_TOOLS_DOCTOR_REPORT_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace sqlsteward::cli::doctor {

enum class Severity { kOk = 0, kWarning = 1, kProblem = 2 };

// "ok", "warning", "problem".
std::string_view SeverityName(Severity severity);

struct Finding {
  std::string id;  // "<section>.<check>", stable
  Severity severity = Severity::kOk;
  std::string message;
  std::string hint;
  // Extra lines for the human report only (the probe's reasons, quick_check
  // output); the JSON carries them in the section objects.
  std::vector<std::string> details;

  std::string_view section() const { return std::string_view(id).substr(0, id.find('.')); }
};

// Filled by the checks (checks.h), in the order they run; not thread-safe.
struct Report {
  std::string path;  // absolute
  std::string dir;
  std::vector<Finding> findings;
  // The facts of each section, as the JSON report shows them.
  nlohmann::json filesystem;
  nlohmann::json database;
  nlohmann::json files = nlohmann::json::array();
  nlohmann::json sidecar;
  nlohmann::json instances;
  nlohmann::json schema;

  // The reference is valid until the next Add: findings is a vector.
  Finding& Add(std::string id, Severity severity, std::string message, std::string hint = {}) {
    findings.push_back(Finding{std::move(id), severity, std::move(message), std::move(hint), {}});
    return findings.back();
  }
  int ExitCode() const;
};

// The report on stdout, its findings by section (in check order within
// one): human-readable, or with `json` one JSON object.
void PrintReport(const Report& report, bool json);

}  // namespace sqlsteward::cli::doctor

#endif  // SQLSTEWARD_TOOLS_DOCTOR_REPORT_H_
