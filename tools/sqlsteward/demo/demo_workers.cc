#include "demo/demo_workers.h"

#include <cstdio>
#include <string>

#include <fmt/core.h>

#include "demo/demo_protocol.h"

namespace sqlsteward::cli::demo {

void Worker::HandleEvent(const subprocess::Event& event) {
  if (event.verb == kProgress) {
    unsigned long long a = 0;
    unsigned long long e = 0;
    if (std::sscanf(std::string(event.rest).c_str(), "%llu %llu", &a, &e) == 2) {
      acked = a;
      errors = e;
    }
  } else if (event.verb == kDone) {
    nlohmann::json j = nlohmann::json::parse(event.rest, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      protocol_error = fmt::format("unreadable line from worker: {} {}", event.verb, event.rest);
    } else {
      acked = j.value("acked", std::uint64_t{0});
      done = std::move(j);
    }
  }
}

std::uint64_t Acked(const std::vector<Worker>& workers) {
  std::uint64_t sum = 0;
  for (const Worker& w : workers) sum += w.acked;
  return sum;
}

}  // namespace sqlsteward::cli::demo
