#include "sidecar/shared_header.h"

#include <sys/mman.h>

#include <cstring>

namespace sqlsteward::internal {

std::unique_ptr<SharedHeader> SharedHeader::Map(posix::Env* env, int fd, bool coherent) {
  if (!coherent) return nullptr;
  void* base = env->MapShared(fd, kSidecarHeaderSize, 0);
  if (base == MAP_FAILED) return nullptr;
  return std::unique_ptr<SharedHeader>(new SharedHeader(env, base));
}

SharedHeader::~SharedHeader() { env_->Unmap(base_, kSidecarHeaderSize); }

std::uint32_t* SharedHeader::Word32(off_t offset) const {
  return reinterpret_cast<std::uint32_t*>(base_ + offset);
}

std::uint64_t* SharedHeader::Word64(off_t offset) const {
  return reinterpret_cast<std::uint64_t*>(base_ + offset);
}

void SharedHeader::WriteHolder(const HolderRecord& record) const {
  std::memcpy(base_ + kHolderOffset, &record, sizeof record);
}

}  // namespace sqlsteward::internal
