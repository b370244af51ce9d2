// The /proc/locks parser of `sqlsteward doctor` (instances.unprotected,
// tools/sqlsteward/doctor/proc_locks.h) on literal text: which lines name a
// POSIX lock on the given files, and which are skipped. The doctor's use of
// it on real processes is in doctor_test.cc.
#include "doctor/proc_locks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sqlsteward::cli::doctor {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The database (device 254:0, "fe:00") and its -shm.
const std::vector<LockedFileId> kFiles = {{254, 0, 10953140}, {254, 0, 10953151}};

TEST(ProcLocksTest, PosixLocksOnTheFilesNameTheirHolders) {
  const std::string text =
      "1: POSIX  ADVISORY  READ 32116 fe:00:10953151 128 128\n"
      "2: POSIX  ADVISORY  READ 32116 fe:00:10953140 1073741826 1073742335\n"
      "3: POSIX  ADVISORY  WRITE 4242 fe:00:10953140 1073741824 1073741824\n"
      "4: POSIX  ADVISORY  READ  99 08:01:10953140 0 EOF\n"   // another device
      "5: POSIX  ADVISORY  READ  98 fe:00:10953141 0 EOF\n"   // another inode
      "6: POSIX  ADVISORY  READ  97 fe:01:10953140 0 EOF\n";  // another minor
  EXPECT_THAT(PosixLockHolders(text, kFiles), ElementsAre(4242, 32116));
}

TEST(ProcLocksTest, WaitersCountAsHolders) {
  const std::string text =
      "1: POSIX  ADVISORY  WRITE 500 fe:00:10953140 1073741824 1073741824\n"
      "1: -> POSIX  ADVISORY  WRITE 501 fe:00:10953140 1073741824 1073741824\n";
  EXPECT_THAT(PosixLockHolders(text, kFiles), ElementsAre(500, 501));
}

TEST(ProcLocksTest, OfdFlockLeasesAndInvisiblePidsAreSkipped) {
  const std::string text =
      "1: OFDLCK ADVISORY  READ -1 fe:00:10953140 1073741826 1073742335\n"
      "2: FLOCK  ADVISORY  WRITE 700 fe:00:10953140 0 EOF\n"
      "3: LEASE  ACTIVE    READ 701 fe:00:10953140 0 EOF\n"
      "4: POSIX  ADVISORY  READ 0 fe:00:10953140 0 EOF\n"  // not in our pid namespace
      "5: POSIX  ADVISORY  READ -7 fe:00:10953140 0 EOF\n";
  EXPECT_THAT(PosixLockHolders(text, kFiles), IsEmpty());
}

TEST(ProcLocksTest, MalformedLinesAreSkipped) {
  const std::string text =
      "\n"
      "garbage\n"
      "POSIX  ADVISORY  READ 800 fe:00:10953140 0 EOF\n"      // no "N:"
      "1: POSIX  ADVISORY  READ 801 fe:00 0 EOF\n"            // no inode
      "2: POSIX  ADVISORY  READ 802 fe:00:10953140x 0 EOF\n"  // junk after the inode
      "3: POSIX  ADVISORY  READ 803 zz:00:10953140 0 EOF\n"   // not hex
      "4: POSIX  ADVISORY  READ 80x4 fe:00:10953140 0 EOF\n"  // not a pid
      "5: POSIX  ADVISORY  READ 805 fe:00:10953140 0\n"       // a word short
      "6: POSIX  ADVISORY  READ 806 fe:00:10953140 0 EOF extra\n"
      "7: POSIX  ADVISORY  READ 807 fe:00:109531\n"         // cut off
      "8: POSIX  ADVISORY  READ 808 fe:00:10953140 0 EOF";  // last line, no newline
  EXPECT_THAT(PosixLockHolders(text, kFiles), ElementsAre(808));
}

TEST(ProcLocksTest, EachPidOnceAscending) {
  const std::string text =
      "1: POSIX  ADVISORY  READ 900 fe:00:10953151 128 128\n"
      "2: POSIX  ADVISORY  READ 12 fe:00:10953140 1073741826 1073742335\n"
      "3: POSIX  ADVISORY  READ 900 fe:00:10953140 1073741826 1073742335\n";
  EXPECT_THAT(PosixLockHolders(text, kFiles), ElementsAre(12, 900));
  EXPECT_THAT(PosixLockHolders(text, {}), IsEmpty());
  EXPECT_THAT(PosixLockHolders("", kFiles), IsEmpty());
}

}  // namespace
}  // namespace sqlsteward::cli::doctor
