#include "mesh/clock.h"

namespace mesh {

std::int64_t SystemClock::WallNs() const {
  return std::chrono::duration_cast<Nanos>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

SystemClock& SystemClock::Get() {
  static SystemClock clock;
  return clock;
}

}  // namespace mesh
