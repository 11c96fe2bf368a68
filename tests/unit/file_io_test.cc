#include "common/file_io.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/summary_json.h"
#include "tests/unit/test_util.h"

namespace fedtl {
namespace {

TEST(FileIo, AtomicWriteReplacesAndLeavesNoTemporary) {
  testing::TempDir dir;
  auto path = dir.file("sub/out.txt");
  writeFileAtomic(path, std::string("first"));
  writeFileAtomic(path, std::string("second"));
  auto bytes = readFile(path, 100);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "second");
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir.file("sub"))) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(FileIo, ReadBoundsAndMissingFiles) {
  testing::TempDir dir;
  writeFileAtomic(dir.file("f"), std::string(100, 'x'));
  EXPECT_THROW(readFile(dir.file("f"), 99), IoError);
  EXPECT_THROW(readFile(dir.file("missing"), 99), IoError);
  EXPECT_THROW(readMaybeGzipFile(dir.file("f"), 50), DataError);
  EXPECT_EQ(readMaybeGzipFile(dir.file("f"), 100).size(), 100u);  // plain files pass through
}

TEST(SummaryJson, WritesFlatObjectInOrder) {
  SummaryJson s;
  s.set("test_accuracy", 0.5);
  s.set("name", std::string("x\"y"));
  s.set("steps", 3LL);
  s.set("test_accuracy", 0.75);
  auto text = s.toString();
  EXPECT_NE(text.find("\"test_accuracy\": 0.75"), std::string::npos) << text;
  EXPECT_NE(text.find("\"name\": \"x\\\"y\""), std::string::npos) << text;
  EXPECT_LT(text.find("test_accuracy"), text.find("steps"));
}

}  // namespace
}  // namespace fedtl
