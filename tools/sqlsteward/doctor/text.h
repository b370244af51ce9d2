// Text helpers of the doctor's messages and hints.
//
// Thread safety: pure functions.
#ifndef SQLSTEWARD_TOOLS_DOCTOR_TEXT_H_
#define SQLSTEWARD_TOOLS_DOCTOR_TEXT_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sqlsteward::cli::doctor {

// `s` in single quotes for a POSIX shell, so a hint can be pasted as is.
std::string ShellQuote(std::string_view s);

// "0644"
std::string ModeString(mode_t mode);

// "512 bytes", "1.5 KiB", "3.2 MiB", "1.25 GiB".
std::string FormatBytes(std::int64_t bytes);

// The last component of `path`.
std::string_view Basename(std::string_view path);

// The elements of `v` separated by `sep`.
std::string Join(const std::vector<std::string>& v, std::string_view sep);

}  // namespace sqlsteward::cli::doctor

#endif  // SQLSTEWARD_TOOLS_DOCTOR_TEXT_H_
