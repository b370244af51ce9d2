// deploy_report: the deploy demo's verdict. Reads one or more run
// directories (report_inputs.h) and prints, side by side, what each run did
// to the orders: acknowledged against present in the database (each once),
// client-visible errors, requests nginx retried, latency overall and inside
// the switchover windows, the handover pause and, for kills, the downtime.
//
// Definitions (docs/deploying.md repeats them):
// - switchover window: from the deploy script's deploy_begin to deploy_end
//   (first reload .. old version stopped); kill window: SIGKILL .. the new
//   version healthy and in the proxy.
// - handover pause: the longest stretch inside a switchover window in which
//   no order was acknowledged (by the clients' clock, so it includes nginx's
//   retry). "steady gap" is the same measure over the steady stretch
//   before each window (from the previous window's end), the noise floor of
//   the machine under this load.
// - downtime (kill): SIGKILL until the first order acknowledged by the new
//   version.
//
// Guarantees, checked for every run: nothing lost, nothing twice, the rows
// exactly the acknowledged orders, integrity ok, no client-visible error
// outside kill windows (while nothing listens after a SIGKILL, nginx can only
// answer 502; clients retry with their key), no order given up.
// Exit status: 0 when every sqlsteward run kept them (the naive control run
// is reported, never judged); 1 when one did not; 2 on bad arguments or
// unreadable inputs.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "report_inputs.h"

namespace orders {
namespace {

using nlohmann::json;

constexpr double kGoalPauseP99Ms = 100;

json Summary(std::vector<double> values) {
  if (values.empty()) return {{"count", 0}, {"p50", nullptr}, {"p99", nullptr}, {"max", nullptr}};
  std::sort(values.begin(), values.end());
  auto rank = [&](double q) {
    auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
    return values[std::min(values.size() - 1, i == 0 ? 0 : i - 1)];
  };
  return {{"count", values.size()}, {"p50", rank(0.50)}, {"p99", rank(0.99)}, {"max", values.back()}};
}

struct Window {
  char kind = 'd';  // 'd' deploy, 'k' kill
  std::int64_t begin_us = 0;
  std::int64_t end_us = 0;
  std::string new_instance;  // "name/pid"
  double takeover_ms = -1;
};

std::vector<Window> Windows(const std::vector<Event>& events) {
  std::vector<Window> out;
  Window* open = nullptr;
  for (const Event& e : events) {
    if (e.name == "deploy_begin" || e.name == "kill") {
      out.push_back({e.name == "kill" ? 'k' : 'd', e.unix_us, 0, "", -1});
      open = &out.back();
    } else if (open != nullptr && e.name == "started") {
      open->new_instance = e.Field("name") + "/" + e.Field("pid");
    } else if (open != nullptr && e.name == "healthy" && !e.Field("takeover_ms").empty()) {
      open->takeover_ms = std::stod(e.Field("takeover_ms"));
    } else if (open != nullptr && (e.name == "deploy_end" || e.name == "kill_end")) {
      open->end_us = e.unix_us;
      open = nullptr;
    }
  }
  // An unfinished window (the run failed mid-deploy) is not a switchover.
  std::erase_if(out, [](const Window& w) { return w.end_us == 0; });
  return out;
}

// Longest interval within [from, to] in which no order was acknowledged.
double LongestGapMs(const std::vector<std::int64_t>& ack_times, std::int64_t from,
                    std::int64_t to) {
  auto it = std::lower_bound(ack_times.begin(), ack_times.end(), from);
  std::int64_t prev = it == ack_times.begin() ? from : *(it - 1);
  std::int64_t longest = 0;
  for (; it != ack_times.end() && prev < to; ++it) {
    longest = std::max(longest, std::min(*it, to) - std::max(prev, from));
    prev = *it;
  }
  if (prev < to) longest = std::max(longest, to - std::max(prev, from));
  return static_cast<double>(longest) / 1000.0;
}

const Window* WindowAt(const std::vector<Window>& windows, std::int64_t t) {
  for (const Window& w : windows) {
    if (t >= w.begin_us && t <= w.end_us) return &w;
  }
  return nullptr;
}

json OrdersSection(const RunInputs& in, std::vector<std::string>* broken) {
  std::map<std::string, std::int64_t> acked;
  std::map<std::int64_t, int> ids;
  int acked_twice = 0;
  int replayed = 0;
  for (const AckRecord& a : in.acks) {
    if (!acked.emplace(a.key, a.id).second) ++acked_twice;
    ++ids[a.id];
    replayed += a.replayed ? 1 : 0;
  }
  int id_shared = 0;
  for (const auto& [id, n] : ids) id_shared += n > 1 ? n - 1 : 0;
  std::map<std::string, std::int64_t> rows;
  int duplicate_rows = 0;
  for (const DbRow& r : in.db.rows) {
    if (!rows.emplace(r.key, r.id).second) ++duplicate_rows;
  }
  int lost = 0;
  int mismatched = 0;
  for (const auto& [key, id] : acked) {
    auto it = rows.find(key);
    if (it == rows.end()) {
      ++lost;
    } else if (it->second != id) {
      ++mismatched;
    }
  }
  int unacked_rows = 0;
  for (const auto& [key, id] : rows) unacked_rows += acked.count(key) == 0 ? 1 : 0;
  const int duplicates = acked_twice + id_shared + duplicate_rows;
  const auto n_acked = static_cast<int>(acked.size());
  const int present = n_acked - lost - mismatched;
  const bool exactly = present == n_acked && static_cast<int>(in.db.rows.size()) == n_acked &&
                       duplicates == 0;
  if (lost > 0) broken->push_back(std::to_string(lost) + " acknowledged orders lost");
  if (mismatched > 0) broken->push_back(std::to_string(mismatched) + " orders with another id");
  if (duplicates > 0) broken->push_back(std::to_string(duplicates) + " duplicates");
  if (!exactly) broken->push_back("orders present differ from orders acknowledged");
  return {{"acknowledged", n_acked}, {"present", present},
          {"rows", in.db.rows.size()}, {"lost", lost},
          {"mismatched", mismatched}, {"duplicates", duplicates},
          {"unacknowledged_rows", unacked_rows}, {"acknowledged_as_replay", replayed},
          {"exactly_equal", exactly}};
}

json ErrorsSection(const RunInputs& in, const std::vector<Window>& windows,
                   std::vector<std::string>* broken) {
  int in_deploys = 0;
  int in_kills = 0;
  int steady = 0;
  int gave_up = 0;
  std::map<std::string, int> by_status;
  for (const FailureRecord& f : in.failures) {
    // When the client saw it: a request in flight at a killed version fails
    // after the kill.
    const Window* w = WindowAt(windows, f.end_us);
    (w == nullptr ? steady : (w->kind == 'k' ? in_kills : in_deploys))++;
    gave_up += f.final ? 1 : 0;
    by_status[f.http_status == 0 ? "transport" : std::to_string(f.http_status)]++;
  }
  if (in_deploys + steady > 0) {
    broken->push_back(std::to_string(in_deploys + steady) +
                      " client-visible errors outside kill windows");
  }
  if (gave_up > 0) broken->push_back(std::to_string(gave_up) + " orders given up by clients");
  return {{"total", in.failures.size()}, {"deploy_windows", in_deploys},
          {"kill_windows", in_kills}, {"steady", steady},
          {"orders_given_up", gave_up}, {"by_status", by_status}};
}

json ProxySection(const RunInputs& in) {
  int requests = 0;
  int retried = 0;
  int client_5xx = 0;
  std::map<std::string, int> first_status;
  for (const ProxyRecord& r : in.proxy) {
    if (r.method != "POST" || r.uri != "/orders") continue;
    ++requests;
    client_5xx += r.status >= 500 ? 1 : 0;
    auto comma = r.upstream_status.find(',');
    if (comma == std::string::npos) continue;
    ++retried;
    first_status[r.upstream_status.substr(0, comma)]++;
  }
  return {{"requests", requests}, {"retried", retried},
          {"retried_by_first_status", first_status}, {"answered_5xx", client_5xx}};
}

// The "handover" and "kill" sections: per window, the longest stretch
// without an acknowledgement, and what the deploy script and services logged.
void SwitchoverSections(const RunInputs& in, const std::vector<Window>& windows,
                        const std::vector<std::int64_t>& ack_times, std::int64_t first_us,
                        json* run) {
  std::vector<double> takeover, pause, steady_gap, downtime, kill_gap, kill_open, window_ms;
  std::int64_t previous_end = 0;
  for (const Window& w : windows) {
    const double gap = LongestGapMs(ack_times, w.begin_us, w.end_us);
    if (w.kind == 'd') {
      pause.push_back(gap);
      window_ms.push_back(static_cast<double>(w.end_us - w.begin_us) / 1000.0);
      if (w.takeover_ms >= 0) takeover.push_back(w.takeover_ms);
      const std::int64_t steady_from = std::max(previous_end, first_us);
      if (steady_from < w.begin_us) {
        steady_gap.push_back(LongestGapMs(ack_times, steady_from, w.begin_us));
      }
    } else {
      kill_gap.push_back(gap);
      if (w.takeover_ms >= 0) kill_open.push_back(w.takeover_ms);
      std::int64_t first_new = INT64_MAX;
      for (const AckRecord& a : in.acks) {
        if (a.end_us > w.begin_us && a.served_by == w.new_instance) {
          first_new = std::min(first_new, a.end_us);
        }
      }
      if (first_new != INT64_MAX) {
        downtime.push_back(static_cast<double>(first_new - w.begin_us) / 1000.0);
      }
    }
    previous_end = w.end_us;
  }
  json pause_summary = Summary(pause);
  const bool goal_met = !pause.empty() && pause_summary["p99"].get<double>() <= kGoalPauseP99Ms;
  (*run)["handover"] = {{"takeover_ms", Summary(takeover)},
                     {"pause_ms", pause_summary},
                     {"pauses_ms", pause},
                     {"steady_gap_ms", Summary(steady_gap)},
                     {"window_ms", Summary(window_ms)},
                     {"goal_pause_p99_ms", kGoalPauseP99Ms},
                     {"goal_met", goal_met}};
  (*run)["kill"] = {{"downtime_ms", Summary(downtime)},
                 {"pause_ms", Summary(kill_gap)},
                 {"open_ms", Summary(kill_open)}};
}

json Analyse(const RunInputs& in) {
  const bool naive = in.meta.count("mode") != 0 && in.meta.at("mode") == "naive";
  std::vector<std::string> broken;
  const std::vector<Window> windows = Windows(in.events);
  json run = {{"mode", naive ? "naive" : "sqlsteward"}, {"dir", in.dir}};
  int deploys = 0;
  int kills = 0;
  for (const Window& w : windows) (w.kind == 'k' ? kills : deploys)++;
  run["deploys"] = deploys;
  run["kills"] = kills;
  for (const auto& [key, done] : {std::pair{"deploys", deploys}, std::pair{"kills", kills}}) {
    auto planned = in.meta.find(std::string("planned_") + key);
    if (planned != in.meta.end() && std::to_string(done) != planned->second) {
      broken.push_back(std::string(key) + ": " + std::to_string(done) + " of " + planned->second +
                       " completed");
    }
  }
  run["orders"] = OrdersSection(in, &broken);
  run["client_errors"] = ErrorsSection(in, windows, &broken);
  run["nginx"] = ProxySection(in);

  std::vector<double> all, in_deploys, in_kills;
  std::vector<std::int64_t> ack_times;
  std::int64_t first_us = INT64_MAX, last_us = 0;
  for (const AckRecord& a : in.acks) {
    const double ms = static_cast<double>(a.end_us - a.start_us) / 1000.0;
    all.push_back(ms);
    if (const Window* w = WindowAt(windows, a.start_us)) {
      (w->kind == 'k' ? in_kills : in_deploys).push_back(ms);
    }
    ack_times.push_back(a.end_us);
    first_us = std::min(first_us, a.start_us);
    last_us = std::max(last_us, a.end_us);
  }
  std::sort(ack_times.begin(), ack_times.end());
  run["duration_s"] = last_us > first_us ? static_cast<double>(last_us - first_us) / 1e6 : 0.0;
  run["latency_ms"] = {{"overall", Summary(all)},
                       {"deploy_windows", Summary(in_deploys)},
                       {"kill_windows", Summary(in_kills)}};

  SwitchoverSections(in, windows, ack_times, first_us, &run);
  run["integrity_check"] = in.db.integrity;
  if (in.db.integrity != "ok") broken.push_back("integrity_check: " + in.db.integrity);
  run["guarantees_met"] = broken.empty();
  run["failures"] = broken;
  return run;
}

std::string Cell(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v.get<double>());
    return buf;
  }
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "NO";
  return v.dump();
}

std::string Dist(const json& s) {
  if (s["count"].get<int>() == 0) return "-";
  return Cell(s["p50"]) + " / " + Cell(s["p99"]) + " / " + Cell(s["max"]);
}

std::string ByStatus(const json& m) {
  std::string out;
  for (const auto& [k, v] : m.items()) out += (out.empty() ? "" : " ") + k + ":" + v.dump();
  return out.empty() ? "-" : out;
}

void PrintText(const json& runs) {
  struct Row {
    const char* label;
    std::string (*cell)(const json&);
  };
  static const Row kRows[] = {
      {"deploys / kills", [](const json& r) { return Cell(r["deploys"]) + " / " + Cell(r["kills"]); }},
      {"duration (s)", [](const json& r) { return Cell(r["duration_s"]); }},
      {"orders acknowledged", [](const json& r) { return Cell(r["orders"]["acknowledged"]); }},
      {"orders present (same id)", [](const json& r) { return Cell(r["orders"]["present"]); }},
      {"rows in the database", [](const json& r) { return Cell(r["orders"]["rows"]); }},
      {"lost / duplicates", [](const json& r) { return Cell(r["orders"]["lost"]) + " / " + Cell(r["orders"]["duplicates"]); }},
      {"exactly equal, each once", [](const json& r) { return Cell(r["orders"]["exactly_equal"]); }},
      {"client-visible errors", [](const json& r) { return Cell(r["client_errors"]["total"]); }},
      {"  in deploys / kills / steady", [](const json& r) { const json& e = r["client_errors"]; return Cell(e["deploy_windows"]) + " / " + Cell(e["kill_windows"]) + " / " + Cell(e["steady"]); }},
      {"  by status", [](const json& r) { return ByStatus(r["client_errors"]["by_status"]); }},
      {"orders given up", [](const json& r) { return Cell(r["client_errors"]["orders_given_up"]); }},
      {"nginx POSTs / retried", [](const json& r) { return Cell(r["nginx"]["requests"]) + " / " + Cell(r["nginx"]["retried"]); }},
      {"  retried after", [](const json& r) { return ByStatus(r["nginx"]["retried_by_first_status"]); }},
      {"latency ms p50/p99/max", [](const json& r) { return Dist(r["latency_ms"]["overall"]); }},
      {"  in switchover windows", [](const json& r) { return Dist(r["latency_ms"]["deploy_windows"]); }},
      {"  in kill windows", [](const json& r) { return Dist(r["latency_ms"]["kill_windows"]); }},
      {"handover pause ms p50/p99/max", [](const json& r) { return Dist(r["handover"]["pause_ms"]); }},
      {"  steady gap (between windows)", [](const json& r) { return Dist(r["handover"]["steady_gap_ms"]); }},
      {"  take-over -> owner (service)", [](const json& r) { return Dist(r["handover"]["takeover_ms"]); }},
      {"  switchover window length", [](const json& r) { return Dist(r["handover"]["window_ms"]); }},
      {"  goal p99 <= 100 ms", [](const json& r) { return r["deploys"].get<int>() == 0 ? std::string("-") : Cell(r["handover"]["goal_met"]); }},
      {"kill downtime ms p50/p99/max", [](const json& r) { return Dist(r["kill"]["downtime_ms"]); }},
      {"  new version's open (service)", [](const json& r) { return Dist(r["kill"]["open_ms"]); }},
      {"integrity_check", [](const json& r) { return Cell(r["integrity_check"]); }},
      {"guarantees met", [](const json& r) { return Cell(r["guarantees_met"]); }},
  };
  std::printf("%-32s", "");
  for (const json& r : runs) std::printf("  %-28s", r["mode"].get<std::string>().c_str());
  std::printf("\n");
  for (const Row& row : kRows) {
    std::printf("%-32s", row.label);
    for (const json& r : runs) std::printf("  %-28s", row.cell(r).c_str());
    std::printf("\n");
  }
  for (const json& r : runs) {
    for (const json& f : r["failures"]) {
      std::printf("%s: %s\n", r["mode"].get<std::string>().c_str(), f.get<std::string>().c_str());
    }
  }
}

}  // namespace
}  // namespace orders

int main(int argc, char** argv) {
  std::vector<std::string> dirs;
  bool json_out = false;
  CLI::App app("The deploy demo's report (examples/blue-green, docs/deploying.md).",
               "deploy_report");
  app.add_option("--run", dirs, "A run directory (repeat to compare runs side by side)")
      ->required();
  app.add_flag("--json", json_out, "Print one JSON object instead of the table");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  nlohmann::json runs = nlohmann::json::array();
  bool ok = true;
  for (const std::string& dir : dirs) {
    orders::RunInputs in;
    std::string error;
    if (!orders::ReadRunInputs(dir, &in, &error)) {
      std::fprintf(stderr, "error: %s\nhint: run the demo again; its logs are in %s\n",
                   error.c_str(), dir.c_str());
      return 2;
    }
    nlohmann::json run = orders::Analyse(in);
    if (run["mode"] == "sqlsteward") ok = ok && run["guarantees_met"].get<bool>();
    runs.push_back(std::move(run));
  }
  if (json_out) {
    std::cout << nlohmann::json{{"ok", ok}, {"runs", runs}}.dump(2) << "\n";
  } else {
    orders::PrintText(runs);
  }
  return ok ? 0 : 1;
}
