#include "mesh/suspicion.h"

#include <catch2/catch.hpp>

using mesh::MonoTime;
using mesh::Nanos;
using mesh::Suspicion;
using mesh::SuspicionTimeout;
using std::chrono::milliseconds;

TEST_CASE("SuspicionTimeout: shrinks from max toward min as confirmations arrive",
          "[mesh][fd][suspicion]") {
  struct Row {
    int n;
    int k;
    milliseconds min;
    milliseconds max;
    double want_ms;
  };
  // want = max(min, max − (max − min) · log(n + 1) / log(k + 1))
  const Row rows[] = {
      {0, 2, milliseconds(400), milliseconds(2400), 2400.0},       // lone suspicion: max
      {1, 2, milliseconds(400), milliseconds(2400), 1138.140493},  // first confirmation cuts most
      {2, 2, milliseconds(400), milliseconds(2400), 400.0},        // k reached: min
      {5, 2, milliseconds(400), milliseconds(2400), 400.0},        // never below min
      {1, 3, milliseconds(2000), milliseconds(30000), 16000.0},    // memberlist-sized bounds
      {2, 3, milliseconds(2000), milliseconds(30000), 7810.524990},
      {3, 3, milliseconds(2000), milliseconds(30000), 2000.0},
      {0, 0, milliseconds(400), milliseconds(2400), 400.0},  // nobody can confirm: min
      {3, 0, milliseconds(400), milliseconds(2400), 400.0},
      {0, 2, milliseconds(400), milliseconds(400), 400.0},  // max == min
      {0, 2, milliseconds(400), milliseconds(100), 400.0},  // max < min: min wins
  };
  for (const Row& r : rows) {
    CAPTURE(r.n, r.k, r.min.count(), r.max.count());
    const Nanos got = SuspicionTimeout(r.n, r.k, r.min, r.max);
    CHECK(static_cast<double>(got.count()) / 1e6 == Approx(r.want_ms).margin(1e-3));
  }
}

TEST_CASE("Suspicion: counts each independent confirmer once, never the origin",
          "[mesh][fd][suspicion]") {
  const MonoTime t0(milliseconds(1000));
  Suspicion s(t0, "a", 2, milliseconds(400), milliseconds(2400));
  CHECK(s.Deadline() == t0 + milliseconds(2400));
  CHECK_FALSE(s.Confirm("a"));  // the origin's rumor echoed back
  CHECK(s.Confirm("b"));
  CHECK_FALSE(s.Confirm("b"));  // duplicate
  CHECK(s.confirmations() == 1);
  CHECK(s.Deadline() > t0 + milliseconds(1138));
  CHECK(s.Deadline() < t0 + milliseconds(1139));
  CHECK(s.Confirm("c"));
  CHECK(s.Deadline() == t0 + milliseconds(400));
  CHECK_FALSE(s.Confirm("d"));  // enough: further confirmations change nothing
  CHECK(s.confirmations() == 2);
}
