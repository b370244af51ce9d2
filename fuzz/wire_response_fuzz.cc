// The dqlite response decoder (src/cluster/wire.h): the bytes a node, or
// anything listening on its port, sends to our client.
//
// The input is one message, header and body. Properties:
//   - every decoder either succeeds or fails with kUnavailable (malformed);
//     none reads past the body (ASan) or allocates what the input claims;
//   - every decoded row has one value per column;
//   - a decoded text has no NUL byte, a decoded file no more bytes than
//     the body.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "cluster/wire.h"
#include "fuzz_check.h"

using namespace sqlsteward;
using namespace sqlsteward::cluster;

namespace {

template <typename T>
void CheckFailure(const Result<T>& r) {
  if (!r.has_value()) FUZZ_CHECK(r.error().code() == StatusCode::kUnavailable);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto message = wire::SplitMessage(bytes);
  CheckFailure(message);
  // Whatever the header says, try every decoder on the rest: a confused
  // peer can send any body under any type.
  const std::span<const std::byte> body =
      size >= wire::kHeaderSize ? bytes.subspan(wire::kHeaderSize) : bytes;
  auto failure = wire::DecodeFailure(body);
  CheckFailure(failure);
  if (failure.has_value()) {
    FUZZ_CHECK(failure->message.find('\0') == std::string::npos);
  }
  CheckFailure(wire::DecodeServer(body));
  CheckFailure(wire::DecodeServers(body));
  CheckFailure(wire::DecodeDb(body));
  CheckFailure(wire::DecodeStmt(body));
  CheckFailure(wire::DecodeResult(body));
  auto rows = wire::DecodeRows(body);
  CheckFailure(rows);
  if (rows.has_value()) {
    for (const auto& row : rows->rows) FUZZ_CHECK(row.size() == rows->columns.size());
  }
  auto files = wire::DecodeFiles(body);
  CheckFailure(files);
  if (files.has_value()) {
    for (const auto& f : *files) FUZZ_CHECK(f.data.size() <= body.size());
  }
  return 0;
}
