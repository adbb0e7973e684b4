// TimingTail (dashboard/timing_tail.h): follows timing.jsonl as serve
// appends to it and rotates it, in a scratch directory.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "dashboard/timing_tail.h"

namespace {

using gpu_node::dashboard::TimingTail;
using Lines = std::vector<std::string>;

struct ScratchDir {
  ScratchDir() {
    char tmpl[] = "/tmp/dashboard-tail-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
  std::string path;
};

void Append(const std::string& file, const std::string& text) {
  std::ofstream out(file, std::ios::app | std::ios::binary);
  out << text;
}

}  // namespace

TEST_CASE("TimingTail: complete lines as they are appended, a missing file is no lines",
          "[dashboard]") {
  ScratchDir dir;
  const std::string log = dir.path + "/timing.jsonl";
  TimingTail tail(log);
  CHECK(tail.ReadNew().empty());
  Append(log, "one\ntwo\n");
  CHECK(tail.ReadNew() == Lines{"one", "two"});
  CHECK(tail.ReadNew().empty());
  Append(log, "thr");  // a line still being written waits for its newline
  CHECK(tail.ReadNew().empty());
  Append(log, "ee\n\nfour\n");
  CHECK(tail.ReadNew() == Lines{"three", "four"});
}

TEST_CASE("TimingTail: a late start keeps only the last history_bytes, from a line start",
          "[dashboard]") {
  ScratchDir dir;
  const std::string log = dir.path + "/timing.jsonl";
  std::string all;
  for (int i = 0; i < 100; ++i) all += "line-" + std::to_string(i) + "\n";
  Append(log, all);
  TimingTail tail(log, 30);
  const Lines lines = tail.ReadNew();
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back() == "line-99");
  std::size_t bytes = 0;
  for (const auto& l : lines) {
    CHECK(l.rfind("line-", 0) == 0);  // no cut line
    bytes += l.size() + 1;
  }
  CHECK(bytes <= 30);
}

TEST_CASE("TimingTail: follows a rotation, reading the old file to its end first", "[dashboard]") {
  ScratchDir dir;
  const std::string log = dir.path + "/timing.jsonl";
  Append(log, "a\n");
  TimingTail tail(log);
  CHECK(tail.ReadNew() == Lines{"a"});
  Append(log, "b\n");  // written just before the rotation, not yet read
  std::filesystem::rename(log, log + ".1");
  Append(log, "c\n");
  CHECK(tail.ReadNew() == Lines{"b", "c"});
  Append(log, "d\n");
  CHECK(tail.ReadNew() == Lines{"d"});
}

TEST_CASE("TimingTail: a file truncated in place is read again from its start", "[dashboard]") {
  ScratchDir dir;
  const std::string log = dir.path + "/timing.jsonl";
  Append(log, "first line\nsecond line\n");
  TimingTail tail(log);
  CHECK(tail.ReadNew().size() == 2);
  REQUIRE(truncate(log.c_str(), 0) == 0);
  Append(log, "x\n");
  CHECK(tail.ReadNew() == Lines{"x"});
}
