// The SQL parameters of `exec` and `query`, bound to ?1, ?2, ... in
// command-line order: --param V (an integer when V is a canonical decimal
// integer such as 42 or -7, text otherwise), --text-param V, --null-param.
#ifndef SQLSTEWARD_TOOLS_COMMON_SQL_PARAMS_H_
#define SQLSTEWARD_TOOLS_COMMON_SQL_PARAMS_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace CLI {
class App;
}  // namespace CLI

namespace sqlsteward {
class Statement;
}  // namespace sqlsteward

namespace sqlsteward::cli {

struct SqlParam {
  enum Kind { kInteger, kText, kNull };
  Kind kind = kText;
  std::string text;
  std::int64_t integer = 0;
};

// Adds the three options to `cmd`.
void AddSqlParamOptions(CLI::App* cmd);
// The parameters given to a parsed `cmd`, in command-line order.
std::vector<SqlParam> SqlParamsInOrder(const CLI::App& cmd);
void BindSqlParams(Statement& stmt, const std::vector<SqlParam>& params);
// [42, "007", null]
nlohmann::json SqlParamsToJson(const std::vector<SqlParam>& params);

}  // namespace sqlsteward::cli

#endif  // SQLSTEWARD_TOOLS_COMMON_SQL_PARAMS_H_
