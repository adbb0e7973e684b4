#include "scheduler/constraint.h"

#include <catch2/catch.hpp>

#include "scheduler/quantity.h"
#include "scheduler/types.h"

using scheduler::Constraint;
using scheduler::ParseConstraint;

TEST_CASE("constraint: the seed's forms parse to a canonical text", "[scheduler][constraint]") {
  auto a = ParseConstraint("node.type == rpi");
  REQUIRE(a.ok());
  CHECK(a->field == Constraint::Field::kType);
  CHECK(a->equals);
  CHECK(a->value == "rpi");
  CHECK(a->text == "node.type == rpi");

  auto b = ParseConstraint("node.name==rpi-1");
  REQUIRE(b.ok());
  CHECK(b->field == Constraint::Field::kName);
  CHECK(b->text == "node.name == rpi-1");

  auto c = ParseConstraint("  node.labels.zone != 'east' ");
  REQUIRE(c.ok());
  CHECK(c->field == Constraint::Field::kLabel);
  CHECK_FALSE(c->equals);
  CHECK(c->label_key == "zone");
  CHECK(c->text == "node.labels.zone != east");

  auto d = ParseConstraint("node.platform.arch==aarch64");
  REQUIRE(d.ok());
  CHECK(d->field == Constraint::Field::kArch);
  CHECK(d->text == "node.arch == aarch64");
}

TEST_CASE("constraint: malformed ones are InvalidArgument naming them", "[scheduler][constraint]") {
  for (const char* bad :
       {"node.type = rpi", "node.type == arm", "node.color == red", "node.labels. == x",
        "node.name ==", "node.name == a == b", "node.name == has space", ""}) {
    auto r = ParseConstraint(bad);
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == mesh::StatusCode::kInvalidArgument);
    CHECK(r.status().message().find(std::string("constraint '")) == 0);
  }
  CHECK(ParseConstraint("node.type == arm").status().message() ==
        "constraint 'node.type == arm': unknown node type 'arm' (expected gpu, rpi or x86)");
}

TEST_CASE("constraint: matching nodes, a missing label satisfies !=", "[scheduler][constraint]") {
  scheduler::NodeInfo n;
  n.name = "rpi-1";
  n.type = scheduler::NodeType::kRpi;
  n.arch = "aarch64";
  n.labels["zone"] = "east";
  auto m = [&](const char* text) { return scheduler::Matches(*ParseConstraint(text), n); };
  CHECK(m("node.type == rpi"));
  CHECK_FALSE(m("node.type != rpi"));
  CHECK(m("node.name == rpi-1"));
  CHECK(m("node.arch != x86_64"));
  CHECK(m("node.labels.zone == east"));
  CHECK_FALSE(m("node.labels.rack == 1"));
  CHECK(m("node.labels.rack != 1"));
}

TEST_CASE("quantity: memory and cpu as users write them", "[scheduler][quantity]") {
  const std::uint64_t mib = 1024 * 1024;
  CHECK(*scheduler::ParseMemory("256MB") == 256 * mib);
  CHECK(*scheduler::ParseMemory("4GB") == 4096 * mib);
  CHECK(*scheduler::ParseMemory("128M") == 128 * mib);
  CHECK(*scheduler::ParseMemory("512Mi") == 512 * mib);
  CHECK(*scheduler::ParseMemory("1.5 GiB") == 1536 * mib);
  CHECK(*scheduler::ParseMemory("100") == 100);
  CHECK(*scheduler::ParseMemory("2kb") == 2048);
  for (const char* bad : {"", "GB", "-1GB", "4XB", "1.2.3GB", "4 G B", "99999999999999TB"}) {
    INFO(bad);
    CHECK_FALSE(scheduler::ParseMemory(bad).ok());
  }
  CHECK(scheduler::ParseMemory("4XB").status().message() ==
        "memory '4XB': unknown unit 'XB' (use B, K, M, G or T, optionally with B or iB)");
  CHECK(scheduler::ParseMemory("-1GB").status().message() == "memory '-1GB': must not be negative");

  CHECK(*scheduler::ParseCpu("1.0") == 1000);
  CHECK(*scheduler::ParseCpu("0.5") == 500);
  CHECK(*scheduler::ParseCpu("250m") == 250);
  CHECK(*scheduler::ParseCpu("2") == 2000);
  CHECK_FALSE(scheduler::ParseCpu("-1").ok());
  CHECK_FALSE(scheduler::ParseCpu("2 cores").ok());

  CHECK(scheduler::FormatMemory(256 * mib) == "256MiB");
  CHECK(scheduler::FormatMemory(1536 * mib) == "1.5GiB");
  CHECK(scheduler::FormatCpu(1500) == "1.5");
  CHECK(scheduler::FormatCpu(125) == "0.125");
  CHECK(scheduler::FormatCpu(3000) == "3");
}
