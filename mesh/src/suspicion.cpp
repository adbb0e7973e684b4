#include "mesh/suspicion.h"

#include <cmath>
#include <utility>

namespace mesh {

Nanos SuspicionTimeout(int confirmations, int wanted, Nanos min, Nanos max) {
  if (max <= min || wanted <= 0) return min;
  if (confirmations <= 0) return max;
  const double frac = std::log(confirmations + 1.0) / std::log(wanted + 1.0);
  const double span = static_cast<double>((max - min).count());
  const auto cut = static_cast<Nanos::rep>(std::floor(frac * span));
  const Nanos timeout = max - Nanos(cut);
  return timeout < min ? min : timeout;
}

Suspicion::Suspicion(MonoTime start, std::string origin, int wanted, Nanos min, Nanos max)
    : start_(start), wanted_(wanted), min_(min), max_(max) {
  seen_.insert(std::move(origin));
}

bool Suspicion::Confirm(const std::string& from) {
  // Remember every confirmer even past k, so HasHeardFrom() stays truthful.
  if (!seen_.insert(from).second) return false;
  if (confirmations_ >= wanted_) return false;
  ++confirmations_;
  return true;
}

}  // namespace mesh
