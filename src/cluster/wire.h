// The dqlite wire protocol, version 1: the one codec for its messages.
//
// Layout (dqlite's documented protocol; every number little-endian):
//   handshake   the client's first 8 bytes: the protocol version, 1.
//   message     an 8-byte header, then the body:
//                 bytes 0..3  body size in 8-byte words
//                 byte  4     message type      byte 5  schema revision
//                 bytes 6..7  unused
//   uint64/int64  one word.  uint32  four bytes (two of them fill a word).
//   text        UTF-8, NUL-terminated, zero-padded to a word boundary.
//   blob        a uint64 length, the bytes, zero-padded to a word boundary.
//   parameters  (requests, schema 0) absent when there are none; else one
//               byte count, one type byte per value, zero-padded to a word,
//               then the values.
//   rows        (ROWS response) a uint64 column count and the column names
//               (text); then per row a header of 4-bit type codes (first
//               column in the low nibble), padded to a word, then the values;
//               then one marker word: 0xff.. (DONE, the result is complete)
//               or 0xee.. (PART, another ROWS message follows unasked).
//   value types 1 integer, 2 float, 3 text, 4 blob, 5 null (a zero word),
//               9 unix time (int64), 10 ISO-8601 (text), 11 boolean (uint64).
//
// Invariants. The decoder never trusts the network: every length and count
// is checked against the bytes that are actually there before anything is
// read or allocated, so a truncated, hostile or garbage message yields an
// error (kUnavailable: the stream cannot be trusted any more), never a read
// past the buffer or a huge allocation. Header::words is bounded by
// kMaxBodyWords. The encoder refuses what the server would misread (a text
// with a NUL in it, more than 255 parameters).
//
// Thread safety: pure functions and values.
#ifndef SQLSTEWARD_CLUSTER_WIRE_H_
#define SQLSTEWARD_CLUSTER_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/client.h"
#include "sqlsteward/status.h"

namespace sqlsteward::cluster::wire {

inline constexpr std::uint64_t kProtocolVersion = 1;
inline constexpr std::size_t kWord = 8;
inline constexpr std::size_t kHeaderSize = 8;
// 512 MiB: far above any reply of a database dqlite holds in memory, and a
// bound on what a garbage header can make us wait for.
inline constexpr std::uint32_t kMaxBodyWords = (512u << 20) / kWord;
inline constexpr std::uint64_t kRowsDone = 0xffffffffffffffffull;
inline constexpr std::uint64_t kRowsPart = 0xeeeeeeeeeeeeeeeeull;

enum class Request : std::uint8_t {
  kLeader = 0,
  kClient = 1,
  kOpen = 3,
  kPrepare = 4,
  kExec = 5,
  kQuery = 6,
  kFinalize = 7,
  kExecSql = 8,
  kQuerySql = 9,
  kInterrupt = 10,
  kAdd = 12,
  kAssign = 13,
  kRemove = 14,
  kDump = 15,
  kCluster = 16,
  kTransfer = 17,
};

enum class Response : std::uint8_t {
  kFailure = 0,
  kServer = 1,
  kWelcome = 2,
  kServers = 3,
  kDb = 4,
  kStmt = 5,
  kResult = 6,
  kRows = 7,
  kEmpty = 8,
  kFiles = 9,
};

enum class ValueType : std::uint8_t {
  kInteger = 1,
  kFloat = 2,
  kText = 3,
  kBlob = 4,
  kNull = 5,
  kUnixTime = 9,
  kIso8601 = 10,
  kBoolean = 11,
};

struct Header {
  std::uint32_t words = 0;
  std::uint8_t type = 0;
  std::uint8_t revision = 0;
};

// The 8 handshake bytes.
std::string Handshake();
// kUnavailable when `bytes` is not 8 bytes or announces a body above
// kMaxBodyWords.
Result<Header> DecodeHeader(std::span<const std::byte> bytes);

// Builds one request message.
class Encoder {
 public:
  void PutUint64(std::uint64_t v);
  void PutUint32Pair(std::uint32_t a, std::uint32_t b);
  // kInvalidArgument when `s` holds a NUL byte.
  Status PutText(std::string_view s);
  // kInvalidArgument for a text with a NUL or more than 255 values.
  Status PutParams(std::span<const Value> params);
  // Header + body; the Encoder is empty afterwards.
  std::string Finish(Request type, std::uint8_t revision = 0);

 private:
  void PutBytes(const void* data, std::size_t n);
  void Pad();
  std::string body_;
};

// Reads the fields of one message body, checking every length.
class Decoder {
 public:
  explicit Decoder(std::span<const std::byte> body) : body_(body) {}
  Result<std::uint64_t> Uint64();
  Result<std::uint32_t> Uint32();
  Result<std::string> Text();
  Result<std::vector<std::byte>> Blob();
  // A value of wire type `type` into `out`.
  Status ReadValue(std::uint8_t type, Value& out);
  std::size_t remaining() const { return body_.size() - pos_; }
  std::size_t position() const { return pos_; }

 private:
  Status Short(std::string_view what) const;
  std::span<const std::byte> body_;
  std::size_t pos_ = 0;
};

// A malformed message: kUnavailable naming `what`.
Status Malformed(std::string_view what);

struct Failure {
  std::uint64_t code = 0;
  std::string message;
};
struct StmtInfo {
  std::uint32_t db = 0;
  std::uint32_t id = 0;
  std::uint64_t params = 0;
};
struct RowsBatch {
  std::vector<std::string> columns;
  std::vector<std::vector<Value>> rows;
  bool more = false;  // PART: another batch follows
};

Result<Failure> DecodeFailure(std::span<const std::byte> body);
// SERVER (reply to LEADER): id 0 and an empty address mean "no leader".
Result<NodeInfo> DecodeServer(std::span<const std::byte> body);
// SERVERS (reply to CLUSTER with format 1: id, address, role per node).
Result<std::vector<NodeInfo>> DecodeServers(std::span<const std::byte> body);
Result<std::uint32_t> DecodeDb(std::span<const std::byte> body);
Result<StmtInfo> DecodeStmt(std::span<const std::byte> body);
Result<ExecResult> DecodeResult(std::span<const std::byte> body);
Result<RowsBatch> DecodeRows(std::span<const std::byte> body);
Result<std::vector<DumpFile>> DecodeFiles(std::span<const std::byte> body);
// One message, header and body.
struct Message {
  Header header;
  std::vector<std::byte> body;
};
// Splits header and body of one complete message (kUnavailable when the
// sizes disagree).
Result<Message> SplitMessage(std::span<const std::byte> bytes);

}  // namespace sqlsteward::cluster::wire

#endif  // SQLSTEWARD_CLUSTER_WIRE_H_
