#include "cluster/wire.h"

#include <bit>
#include <cstring>
#include <utility>

#include "base/status_builders.h"

namespace sqlsteward::cluster::wire {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the dqlite codec assumes a little-endian host");

std::size_t Padded(std::size_t n) { return (n + kWord - 1) / kWord * kWord; }

bool AllZero(std::span<const std::byte> bytes) {
  for (std::byte b : bytes) {
    if (b != std::byte{0}) return false;
  }
  return true;
}

}  // namespace

Status Malformed(std::string_view what) {
  return Unavailable("malformed dqlite message: " + std::string(what),
                     "the peer is not a dqlite 1.x node or the stream is damaged; the connection "
                     "was closed, connect again");
}

std::string Handshake() {
  std::string out(kWord, '\0');
  const std::uint64_t v = kProtocolVersion;
  std::memcpy(out.data(), &v, sizeof v);
  return out;
}

Result<Header> DecodeHeader(std::span<const std::byte> bytes) {
  if (bytes.size() != kHeaderSize) return Malformed("a header is 8 bytes");
  Header h;
  std::memcpy(&h.words, bytes.data(), 4);
  h.type = static_cast<std::uint8_t>(bytes[4]);
  h.revision = static_cast<std::uint8_t>(bytes[5]);
  if (h.words > kMaxBodyWords) {
    return Malformed("body of " + std::to_string(h.words) + " words is above the limit");
  }
  return h;
}

// Encoder

void Encoder::PutBytes(const void* data, std::size_t n) {
  body_.append(static_cast<const char*>(data), n);
}

void Encoder::Pad() { body_.resize(Padded(body_.size()), '\0'); }

void Encoder::PutUint64(std::uint64_t v) { PutBytes(&v, sizeof v); }

void Encoder::PutUint32Pair(std::uint32_t a, std::uint32_t b) {
  PutBytes(&a, sizeof a);
  PutBytes(&b, sizeof b);
}

Status Encoder::PutText(std::string_view s) {
  if (s.find('\0') != std::string_view::npos) {
    return InvalidArgument("a text sent to dqlite holds a NUL byte",
                           "dqlite's protocol ends texts at NUL; bind the value as a blob");
  }
  PutBytes(s.data(), s.size());
  body_.push_back('\0');
  Pad();
  return Status();
}

Status Encoder::PutParams(std::span<const Value> params) {
  if (params.empty()) return Status();
  if (params.size() > 255) {
    return InvalidArgument(
        "more than 255 parameters for one dqlite statement",
        "split the statement, or pass the values through a table or a JSON text");
  }
  body_.push_back(static_cast<char>(params.size()));
  for (const Value& v : params) {
    ValueType t = ValueType::kNull;
    switch (v.index()) {
      case 0: t = ValueType::kNull; break;
      case 1: t = ValueType::kInteger; break;
      case 2: t = ValueType::kFloat; break;
      case 3: t = ValueType::kText; break;
      case 4: t = ValueType::kBlob; break;
    }
    body_.push_back(static_cast<char>(t));
  }
  Pad();
  for (const Value& v : params) {
    if (std::holds_alternative<std::nullptr_t>(v)) {
      PutUint64(0);
    } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
      PutUint64(static_cast<std::uint64_t>(*i));
    } else if (const auto* d = std::get_if<double>(&v)) {
      PutBytes(d, sizeof *d);
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      SQLSTEWARD_RETURN_IF_ERROR(PutText(*s));
    } else if (const auto* b = std::get_if<std::vector<std::byte>>(&v)) {
      PutUint64(b->size());
      PutBytes(b->data(), b->size());
      Pad();
    }
  }
  return Status();
}

std::string Encoder::Finish(Request type, std::uint8_t revision) {
  // A body is never empty: requests without fields carry an unused word.
  if (body_.empty()) PutUint64(0);
  std::string out(kHeaderSize, '\0');
  const auto words = static_cast<std::uint32_t>(body_.size() / kWord);
  std::memcpy(out.data(), &words, 4);
  out[4] = static_cast<char>(type);
  out[5] = static_cast<char>(revision);
  out += body_;
  body_.clear();
  return out;
}

// Decoder

Status Decoder::Short(std::string_view what) const {
  return Malformed(std::string(what) + " runs past the end of the body (at byte " +
                   std::to_string(pos_) + " of " + std::to_string(body_.size()) + ")");
}

Result<std::uint64_t> Decoder::Uint64() {
  if (remaining() < 8) return Short("a uint64");
  std::uint64_t v;
  std::memcpy(&v, body_.data() + pos_, 8);
  pos_ += 8;
  return v;
}

Result<std::uint32_t> Decoder::Uint32() {
  if (remaining() < 4) return Short("a uint32");
  std::uint32_t v;
  std::memcpy(&v, body_.data() + pos_, 4);
  pos_ += 4;
  return v;
}

Result<std::string> Decoder::Text() {
  if (pos_ % kWord != 0) return Malformed("a text that does not start on a word");
  const std::byte* begin = body_.data() + pos_;
  const void* nul = std::memchr(begin, 0, remaining());
  if (nul == nullptr) return Short("a text without its NUL");
  const std::size_t len = static_cast<std::size_t>(static_cast<const std::byte*>(nul) - begin);
  const std::size_t total = Padded(len + 1);
  if (total > remaining()) return Short("a text's padding");
  if (!AllZero(body_.subspan(pos_ + len + 1, total - len - 1))) {
    return Malformed("a text padded with non-zero bytes");
  }
  std::string s(reinterpret_cast<const char*>(begin), len);
  pos_ += total;
  return s;
}

Result<std::vector<std::byte>> Decoder::Blob() {
  SQLSTEWARD_ASSIGN_OR_RETURN(std::uint64_t len, Uint64());
  if (len > remaining()) return Short("a blob");
  const std::size_t total = Padded(static_cast<std::size_t>(len));
  if (total > remaining()) return Short("a blob's padding");
  std::vector<std::byte> b(body_.begin() + static_cast<std::ptrdiff_t>(pos_),
                           body_.begin() + static_cast<std::ptrdiff_t>(pos_ + len));
  pos_ += total;
  return b;
}

Status Decoder::ReadValue(std::uint8_t type, Value& out) {
  // Assigns into `out`: GCC 12 reports a false free-nonheap-object for
  // Value temporaries returned through Result.
  switch (static_cast<ValueType>(type)) {
    case ValueType::kInteger:
    case ValueType::kUnixTime:
    case ValueType::kBoolean: {
      SQLSTEWARD_ASSIGN_OR_RETURN(std::uint64_t v, Uint64());
      out.emplace<std::int64_t>(static_cast<std::int64_t>(v));
      return Status();
    }
    case ValueType::kFloat: {
      SQLSTEWARD_ASSIGN_OR_RETURN(std::uint64_t v, Uint64());
      out.emplace<double>(std::bit_cast<double>(v));
      return Status();
    }
    case ValueType::kText:
    case ValueType::kIso8601: {
      SQLSTEWARD_ASSIGN_OR_RETURN(std::string s, Text());
      out.emplace<std::string>(std::move(s));
      return Status();
    }
    case ValueType::kBlob: {
      SQLSTEWARD_ASSIGN_OR_RETURN(std::vector<std::byte> b, Blob());
      out.emplace<std::vector<std::byte>>(std::move(b));
      return Status();
    }
    case ValueType::kNull: {
      SQLSTEWARD_ASSIGN_OR_RETURN(std::uint64_t v, Uint64());
      (void)v;
      out.emplace<std::nullptr_t>(nullptr);
      return Status();
    }
  }
  return Malformed("unknown value type " + std::to_string(type));
}

// Responses

Result<Failure> DecodeFailure(std::span<const std::byte> body) {
  Decoder d(body);
  Failure f;
  SQLSTEWARD_ASSIGN_OR_RETURN(f.code, d.Uint64());
  SQLSTEWARD_ASSIGN_OR_RETURN(f.message, d.Text());
  return f;
}

Result<NodeInfo> DecodeServer(std::span<const std::byte> body) {
  Decoder d(body);
  NodeInfo n;
  SQLSTEWARD_ASSIGN_OR_RETURN(n.id, d.Uint64());
  SQLSTEWARD_ASSIGN_OR_RETURN(n.address, d.Text());
  return n;
}

Result<std::vector<NodeInfo>> DecodeServers(std::span<const std::byte> body) {
  Decoder d(body);
  SQLSTEWARD_ASSIGN_OR_RETURN(std::uint64_t n, d.Uint64());
  // Each node takes at least three words: a count beyond that is garbage.
  if (n > d.remaining() / (3 * kWord)) return Malformed("node count beyond the body");
  std::vector<NodeInfo> nodes;
  nodes.reserve(static_cast<std::size_t>(n));
  for (std::uint64_t i = 0; i < n; ++i) {
    NodeInfo info;
    SQLSTEWARD_ASSIGN_OR_RETURN(info.id, d.Uint64());
    SQLSTEWARD_ASSIGN_OR_RETURN(info.address, d.Text());
    SQLSTEWARD_ASSIGN_OR_RETURN(std::uint64_t role, d.Uint64());
    if (role > static_cast<std::uint64_t>(Role::kSpare)) {
      return Malformed("unknown role " + std::to_string(role));
    }
    info.role = static_cast<Role>(role);
    nodes.push_back(std::move(info));
  }
  return nodes;
}

Result<std::uint32_t> DecodeDb(std::span<const std::byte> body) {
  Decoder d(body);
  SQLSTEWARD_ASSIGN_OR_RETURN(std::uint32_t id, d.Uint32());
  SQLSTEWARD_ASSIGN_OR_RETURN(std::uint32_t pad, d.Uint32());
  (void)pad;
  return id;
}

Result<StmtInfo> DecodeStmt(std::span<const std::byte> body) {
  Decoder d(body);
  StmtInfo s;
  SQLSTEWARD_ASSIGN_OR_RETURN(s.db, d.Uint32());
  SQLSTEWARD_ASSIGN_OR_RETURN(s.id, d.Uint32());
  SQLSTEWARD_ASSIGN_OR_RETURN(s.params, d.Uint64());
  return s;
}

Result<ExecResult> DecodeResult(std::span<const std::byte> body) {
  Decoder d(body);
  ExecResult r;
  SQLSTEWARD_ASSIGN_OR_RETURN(std::uint64_t id, d.Uint64());
  SQLSTEWARD_ASSIGN_OR_RETURN(std::uint64_t changes, d.Uint64());
  r.last_insert_id = static_cast<std::int64_t>(id);
  r.rows_affected = static_cast<std::int64_t>(changes);
  return r;
}

Result<RowsBatch> DecodeRows(std::span<const std::byte> body) {
  Decoder d(body);
  RowsBatch batch;
  SQLSTEWARD_ASSIGN_OR_RETURN(std::uint64_t ncols, d.Uint64());
  // Each column name takes at least one word.
  if (ncols > d.remaining() / kWord) return Malformed("column count beyond the body");
  batch.columns.reserve(static_cast<std::size_t>(ncols));
  for (std::uint64_t i = 0; i < ncols; ++i) {
    SQLSTEWARD_ASSIGN_OR_RETURN(std::string name, d.Text());
    batch.columns.push_back(std::move(name));
  }
  const std::size_t header_words = static_cast<std::size_t>((ncols * 4 + 63) / 64);
  for (;;) {
    if (d.remaining() < kWord) return Malformed("rows without their end marker");
    const std::size_t at = d.position();
    std::uint64_t first;
    std::memcpy(&first, body.data() + at, 8);
    if (first == kRowsDone || first == kRowsPart) {
      batch.more = first == kRowsPart;
      return batch;
    }
    if (ncols == 0) return Malformed("a row of a result without columns");
    if (header_words * kWord > d.remaining()) return Malformed("a row header past the body");
    std::vector<std::uint8_t> types(static_cast<std::size_t>(ncols));
    for (std::size_t c = 0; c < types.size(); ++c) {
      const auto byte = static_cast<std::uint8_t>(body[at + c / 2]);
      types[c] = (c % 2 == 0) ? (byte & 0x0f) : (byte >> 4);
    }
    SQLSTEWARD_ASSIGN_OR_RETURN(std::uint64_t skipped, d.Uint64());
    (void)skipped;
    for (std::size_t w = 1; w < header_words; ++w) {
      SQLSTEWARD_ASSIGN_OR_RETURN(std::uint64_t more_header, d.Uint64());
      (void)more_header;
    }
    std::vector<Value> row;
    row.reserve(types.size());
    for (std::uint8_t t : types) {
      row.emplace_back();
      SQLSTEWARD_RETURN_IF_ERROR(d.ReadValue(t, row.back()));
    }
    batch.rows.push_back(std::move(row));
  }
}

Result<std::vector<DumpFile>> DecodeFiles(std::span<const std::byte> body) {
  Decoder d(body);
  SQLSTEWARD_ASSIGN_OR_RETURN(std::uint64_t n, d.Uint64());
  if (n > d.remaining() / (2 * kWord)) return Malformed("file count beyond the body");
  std::vector<DumpFile> files;
  for (std::uint64_t i = 0; i < n; ++i) {
    DumpFile f;
    SQLSTEWARD_ASSIGN_OR_RETURN(f.name, d.Text());
    SQLSTEWARD_ASSIGN_OR_RETURN(std::uint64_t size, d.Uint64());
    if (size > d.remaining()) return Malformed("a file's content past the body");
    const std::size_t at = d.position();
    f.data.assign(reinterpret_cast<const char*>(body.data() + at), static_cast<std::size_t>(size));
    // Skip the content and its padding to the next word, if any is there.
    const std::size_t skip = std::min(Padded(static_cast<std::size_t>(size)), d.remaining());
    for (std::size_t k = 0; k + kWord <= skip; k += kWord) {
      SQLSTEWARD_ASSIGN_OR_RETURN(std::uint64_t w, d.Uint64());
      (void)w;
    }
    if (skip % kWord != 0) return Malformed("a file's content not padded to a word");
    files.push_back(std::move(f));
  }
  return files;
}

Result<Message> SplitMessage(std::span<const std::byte> bytes) {
  if (bytes.size() < kHeaderSize) return Malformed("a message shorter than its header");
  SQLSTEWARD_ASSIGN_OR_RETURN(Header h, DecodeHeader(bytes.first(kHeaderSize)));
  const std::size_t body = static_cast<std::size_t>(h.words) * kWord;
  if (bytes.size() - kHeaderSize != body) {
    return Malformed("header announces " + std::to_string(body) + " body bytes, " +
                     std::to_string(bytes.size() - kHeaderSize) + " are there");
  }
  Message m;
  m.header = h;
  m.body.assign(bytes.begin() + kHeaderSize, bytes.end());
  return m;
}

}  // namespace sqlsteward::cluster::wire
