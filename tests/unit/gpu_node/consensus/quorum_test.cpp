#include <catch2/catch.hpp>

#include "consensus/tally.h"

TEST_CASE("quorum math table for n = 1..10", "[consensus][quorum]") {
  struct Row {
    std::size_t n, f, q;
  };
  // q = floor((n+f)/2)+1: 2f+1 whenever n = 3f+1 (n = 1, 4, 7, 10).
  const Row table[] = {{1, 0, 1}, {2, 0, 2}, {3, 0, 2}, {4, 1, 3},  {5, 1, 4},
                       {6, 1, 4}, {7, 2, 5}, {8, 2, 6}, {9, 2, 6}, {10, 3, 7}};
  for (const Row& r : table) {
    INFO("n = " << r.n);
    const consensus::QuorumMath m = consensus::QuorumFor(r.n);
    CHECK(m.members == r.n);
    CHECK(m.faulty == r.f);
    CHECK(m.quorum == r.q);
  }
  CHECK(consensus::QuorumFor(0).quorum == 0);
}

TEST_CASE("quorums intersect in an honest member and stay reachable", "[consensus][quorum]") {
  for (std::size_t n = 1; n <= 200; ++n) {
    INFO("n = " << n);
    const consensus::QuorumMath m = consensus::QuorumFor(n);
    CHECK(3 * m.faulty + 1 <= n);                 // f is the largest tolerable
    CHECK(3 * (m.faulty + 1) + 1 > n);
    CHECK(2 * m.quorum >= n + m.faulty + 1);      // two quorums share >= f+1 members
    CHECK(m.quorum <= n - m.faulty);              // the honest members alone form a quorum
    CHECK(m.quorum >= 2 * m.faulty + 1);
    if (n % 3 == 1) CHECK(m.quorum == 2 * m.faulty + 1);
  }
}
