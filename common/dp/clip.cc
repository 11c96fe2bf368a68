#include "common/dp/clip.h"

#include <cmath>

#include "common/error.h"

namespace fedtl::dp {

double l2Norm(Span<const float> values) {
  double sumOfSquares = 0;
  for (const float v : values) sumOfSquares += static_cast<double>(v) * v;
  return std::sqrt(sumOfSquares);
}

double l2Clip(Span<float> update, double bound) {
  FEDTL_ENFORCE(std::isfinite(bound) && bound > 0, ConfigError, "L2 clip bound must be a positive number, got ", bound);
  const double norm = l2Norm(update);
  FEDTL_ENFORCE(std::isfinite(norm), DataError,
                "L2 clip: the update holds a NaN or infinite value (the training diverged)");
  if (norm <= bound) return norm;
  // Rounding each scaled value to float moves the norm by at most a relative 2^-24; one shrink
  // by 2^-23 undoes that. The candidate factor is checked on the float values it would produce
  // before any is written, so the loop is the proof rather than the argument.
  auto scaledNorm = [&](double factor) {
    double sumOfSquares = 0;
    for (const float v : update) {
      const double scaled = static_cast<float>(v * factor);
      sumOfSquares += scaled * scaled;
    }
    return std::sqrt(sumOfSquares);
  };
  double factor = bound / norm;
  while (scaledNorm(factor) > bound) factor *= 1 - std::ldexp(1.0, -23);
  for (auto& v : update) v = static_cast<float>(v * factor);
  return norm;
}

}  // namespace fedtl::dp
