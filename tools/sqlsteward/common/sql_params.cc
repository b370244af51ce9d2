#include "common/sql_params.h"

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include <CLI/CLI.hpp>

#include "sqlsteward/transaction.h"

namespace sqlsteward::cli {
namespace {

constexpr const char* kParamOption = "--param";
constexpr const char* kTextParamOption = "--text-param";
constexpr const char* kNullParamOption = "--null-param";

// The canonical decimal form only: "007" and "+5" stay text, so an
// identifier that looks numeric keeps its spelling.
std::optional<std::int64_t> CanonicalInteger(std::string_view text) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, err] = std::from_chars(text.data(), end, value);
  if (err != std::errc() || ptr != end || text.empty()) return std::nullopt;
  if (std::to_string(value) != text) return std::nullopt;
  return value;
}

}  // namespace

void AddSqlParamOptions(CLI::App* cmd) {
  // No variables behind these: SqlParamsInOrder reads the results in the
  // order parse_order() recorded, which is the order on the command line.
  cmd->add_option(kParamOption, CLI::callback_t(),
                  "Bind the next parameter: an integer if V is one (42, -7), else text")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false)
      ->type_name("V");
  cmd->add_option(kTextParamOption, CLI::callback_t(), "Bind the next parameter as text, always")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false)
      ->type_name("V");
  const std::string null_help = "Bind the next parameter as NULL";
  cmd->add_flag(kNullParamOption, null_help)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

std::vector<SqlParam> SqlParamsInOrder(const CLI::App& cmd) {
  const CLI::Option* auto_typed = cmd.get_option(kParamOption);
  const CLI::Option* text = cmd.get_option(kTextParamOption);
  const CLI::Option* null = cmd.get_option(kNullParamOption);
  std::size_t next_auto = 0;
  std::size_t next_text = 0;
  std::vector<SqlParam> out;
  for (const CLI::Option* opt : cmd.parse_order()) {
    SqlParam param;
    if (opt == auto_typed && next_auto < opt->results().size()) {
      param.text = opt->results()[next_auto++];
      param.kind = CanonicalInteger(param.text) ? SqlParam::kInteger : SqlParam::kText;
      if (param.kind == SqlParam::kInteger) param.integer = *CanonicalInteger(param.text);
    } else if (opt == text && next_text < opt->results().size()) {
      param.text = opt->results()[next_text++];
      param.kind = SqlParam::kText;
    } else if (opt == null) {
      param.kind = SqlParam::kNull;
    } else {
      continue;
    }
    out.push_back(std::move(param));
  }
  return out;
}

void BindSqlParams(Statement& stmt, const std::vector<SqlParam>& params) {
  int index = 0;
  for (const SqlParam& p : params) {
    ++index;
    switch (p.kind) {
      case SqlParam::kInteger: stmt.Bind(index, p.integer); break;
      case SqlParam::kText: stmt.Bind(index, std::string_view(p.text)); break;
      case SqlParam::kNull: stmt.Bind(index, nullptr); break;
    }
  }
}

nlohmann::json SqlParamsToJson(const std::vector<SqlParam>& params) {
  nlohmann::json out = nlohmann::json::array();
  for (const SqlParam& p : params) {
    switch (p.kind) {
      case SqlParam::kInteger: out.push_back(p.integer); break;
      case SqlParam::kText: out.push_back(p.text); break;
      case SqlParam::kNull: out.push_back(nullptr); break;
    }
  }
  return out;
}

}  // namespace sqlsteward::cli
