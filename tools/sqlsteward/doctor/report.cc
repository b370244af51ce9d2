#include "doctor/report.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>

#include <fmt/core.h>

#include "common/cli.h"

namespace sqlsteward::cli::doctor {
namespace {

using nlohmann::json;

struct Section {
  std::string_view key;
  std::string_view title;
};
constexpr std::array<Section, 7> kSections = {{
    {"filesystem", "Filesystem and mount"},
    {"sqlite", "SQLite library"},
    {"database", "Database"},
    {"files", "Files, permissions and ownership"},
    {"sidecar", "Sidecar (<db>-steward)"},
    {"instances", "Registered instances"},
    {"schema", "Schema"},
}};

std::size_t SectionIndex(std::string_view key) {
  for (std::size_t i = 0; i < kSections.size(); ++i) {
    if (kSections[i].key == key) return i;
  }
  return kSections.size();
}

// Findings by section, in check order within one.
std::vector<const Finding*> Ordered(const Report& r) {
  std::vector<const Finding*> ordered;
  for (const Finding& f : r.findings) ordered.push_back(&f);
  std::stable_sort(ordered.begin(), ordered.end(), [](const Finding* a, const Finding* b) {
    return SectionIndex(a->section()) < SectionIndex(b->section());
  });
  return ordered;
}

json ReportJson(const Report& r, const std::vector<const Finding*>& ordered) {
  const int exit_code = r.ExitCode();
  json findings = json::array();
  json summary = {{"ok", 0}, {"warning", 0}, {"problem", 0}};
  for (const Finding* f : ordered) {
    findings.push_back({{"id", f->id},
                        {"section", f->section()},
                        {"severity", SeverityName(f->severity)},
                        {"message", f->message},
                        {"hint", f->hint}});
    summary[std::string(SeverityName(f->severity))] =
        summary[std::string(SeverityName(f->severity))].get<int>() + 1;
  }
  return {{"path", r.path},
          {"healthy", exit_code == 0},
          {"exit_code", exit_code},
          {"sqlsteward_version", ToolVersion()},
          {"sqlite_version", sqlite3_libversion()},
          {"summary", summary},
          {"findings", findings},
          {"filesystem", r.filesystem},
          {"database", r.database},
          {"files", r.files},
          {"sidecar", r.sidecar},
          {"instances", r.instances},
          {"schema", r.schema}};
}

void PrintHuman(const Report& r, const std::vector<const Finding*>& ordered) {
  const bool color = IsTerminal(stdout) && std::getenv("NO_COLOR") == nullptr;
  auto marker = [color](Severity s) {
    std::string_view text = s == Severity::kOk        ? "[ok]     "
                            : s == Severity::kWarning ? "[warning]"
                                                      : "[problem]";
    if (!color) return std::string(text);
    std::string_view code = s == Severity::kOk ? "32" : s == Severity::kWarning ? "33" : "31;1";
    return fmt::format("\033[{}m{}\033[0m", code, text);
  };
  constexpr std::string_view kIndent = "            ";  // under the message

  fmt::print("sqlsteward doctor {}\n", Printable(r.path));
  int counts[3] = {0, 0, 0};
  for (const Section& section : kSections) {
    bool header = false;
    for (const Finding* f : ordered) {
      if (f->section() != section.key) continue;
      if (!header) {
        fmt::print("\n{}\n", section.title);
        header = true;
      }
      ++counts[static_cast<int>(f->severity)];
      fmt::print("  {} {}  ({})\n", marker(f->severity), Printable(f->message), f->id);
      for (const std::string& line : f->details) {
        fmt::print("{}- {}\n", kIndent, Printable(line));
      }
      if (!f->hint.empty()) fmt::print("{}hint: {}\n", kIndent, Printable(f->hint));
    }
  }
  const int exit_code = r.ExitCode();
  fmt::print("\n{}: {} ok, {} warning{}, {} problem{} (exit {})\n",
             exit_code == 0   ? "Healthy"
             : exit_code == 1 ? "Warnings"
                              : "Problems found",
             counts[0], counts[1], counts[1] == 1 ? "" : "s", counts[2], counts[2] == 1 ? "" : "s",
             exit_code);
  std::fflush(stdout);
}

}  // namespace

std::string_view SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kOk:
      return "ok";
    case Severity::kWarning:
      return "warning";
    case Severity::kProblem:
      return "problem";
  }
  return "problem";
}

int Report::ExitCode() const {
  int worst = 0;
  for (const Finding& f : findings) worst = std::max(worst, static_cast<int>(f.severity));
  return worst;
}

void PrintReport(const Report& report, bool json) {
  const std::vector<const Finding*> ordered = Ordered(report);
  if (json) {
    PrintJson(ReportJson(report, ordered));
  } else {
    PrintHuman(report, ordered);
  }
}

}  // namespace sqlsteward::cli::doctor
