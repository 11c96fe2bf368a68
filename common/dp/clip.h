// Client-side L2 clipping: the step that bounds one participant's contribution, and so the
// sensitivity that differential-privacy noise is sized for (McMahan et al. 2018, "Learning
// Differentially Private Recurrent Language Models", DP-FedAvg).
#pragma once

#include "common/span.h"

namespace fedtl::dp {

// Scales `update` in place by min(1, bound/‖update‖₂) and returns the norm it had before, for
// logging and the clipped-fraction metric. The norm is accumulated in double. After scaling, the
// norm of the float result, recomputed in double, is guaranteed <= bound: should float rounding
// of the scaled values push it over, the factor is shrunk by a few float ulps until it is not.
// ConfigError unless bound is finite and > 0; DataError when a value is NaN or infinite.
double l2Clip(Span<float> update, double bound);

// ‖values‖₂, accumulated in double.
double l2Norm(Span<const float> values);

}  // namespace fedtl::dp
