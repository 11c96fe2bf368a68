// Rényi-DP accounting for the distributed discrete Gaussian on a secure-aggregation sum, and its
// conversion to (ε, δ).
//
// Mechanism of one round: each of n participants adds independent N_Z(0, σ²) noise (σ = the
// local σ, in quantisation levels) to its encoded update, and only the ring sum is revealed.
// Kairouz, Liu, Steinke 2021, "The Distributed Discrete Gaussian Mechanism for Federated
// Learning with Secure Aggregation" (ICML 2021, arXiv:2102.06387), Theorem 1 and Proposition 14
// (the forms the authors' code evaluates: google-research/federated,
// distributed_dp/accounting_utils.py, compute_rdp_dgaussian): for the sum Z of n such noise
// vectors and any shift Δ ∈ Z^d with ‖Δ‖₂ <= Δ₂ and ‖Δ‖₁ <= Δ₁,
//
//   D_α(Z + Δ ‖ Z) <= min( α/2 · Δ₂²/(nσ²) + τ·d,
//                          α/2 · (Δ₂²/(nσ²) + 2·τ·Δ₁/(√n·σ) + τ²·d) ),
//   τ = 10 · Σ_{k=1}^{n−1} exp(−2π²σ²·k/(k+1)).
//
// τ is what makes a sum of discrete Gaussians differ from one discrete Gaussian; it is
// negligible once σ >= 2 (τ < 10^−15·n) and grows fast below σ = 1. Δ₁ <= min(√d·Δ₂, Δ₂²),
// the second because Δ is an integer vector (|x| <= x² on the integers). (The paper's third
// form, α/2·(Δ₂/(√n σ) + τ√d)², is never below the second one given Δ₁ <= √d·Δ₂.)
//
// Composition: RDP of rounds adds up at each order α (Mironov 2017, "Rényi Differential
// Privacy", Proposition 1). Conversion: ε(δ) = min over α of
//   rdp(α) + log((α − 1)/α) − (log δ + log α)/(α − 1)
// (Canonne, Kamath, Steinke 2020, Proposition 12; Balle et al. 2020, "Hypothesis Testing
// Interpretations and Renyi Differential Privacy", Theorem 21), over a fixed grid of orders as
// Opacus and TF Privacy do, which can only overstate ε.
//
// No amplification by subsampling is claimed: the reported ε holds for every participant who
// took part in each counted round, whatever fraction of the population was selected.
#pragma once

#include <cstddef>
#include <vector>

#include "common/span.h"

namespace fedtl::dp {

// One revealed sum, in integer (quantisation-level) units.
struct DdgRound {
  double l2Sensitivity = 0;   // Δ₂: the most one participant's encoded contribution moves the sum, in L2
  double localSigma = 0;      // σ of each participant's N_Z(0, σ²) noise
  std::size_t summands = 1;   // n: participants whose noise is in the sum
  std::size_t dimension = 1;  // d: coordinates that carry noise
};

// τ = 10 · Σ_{k=1}^{n−1} exp(−2π²σ²·k/(k+1)) (0 for n = 1).
double ddgTau(double localSigma, std::size_t summands);

// The RDP of one round at order α > 1 (the bound above). ConfigError on parameters out of
// range (α <= 1, σ < 1/2, n or d = 0, negative or non-finite Δ₂).
double ddgRdp(double order, const DdgRound& round);

// The RDP of the continuous Gaussian mechanism with σ = noiseMultiplier·Δ: α/(2z²).
double gaussianRdp(double order, double noiseMultiplier);

// The smallest ε over the orders (see above) for the accumulated `rdp` at `orders` (> 1), never
// negative; infinite if every order's RDP is. When `bestOrder` is given, it receives the α that
// attains it. ConfigError unless 0 < δ < 1 and the spans match.
double rdpToEpsilon(Span<const double> orders, Span<const double> rdp, double delta, double* bestOrder = nullptr);

// 1.1, 1.2, ..., 10.9, 12, 13, ..., 63 (Opacus's default orders), then 128, 256, 512, 1024 for small ε.
std::vector<double> defaultRdpOrders();

class RdpAccountant {
 public:
  RdpAccountant();  // over defaultRdpOrders()
  explicit RdpAccountant(std::vector<double> orders);

  // `count` more revealed sums of the distributed discrete Gaussian, each as `round`.
  void addRounds(const DdgRound& round, std::size_t count = 1);
  // `count` rounds of the continuous Gaussian mechanism (for comparisons and tests).
  void addGaussianRounds(double noiseMultiplier, std::size_t count = 1);

  // ε of everything added so far at δ (0 < δ < 1); 0 before any round.
  double epsilon(double delta) const;
  // The order that attains epsilon(delta).
  double bestOrder(double delta) const;

  std::size_t rounds() const { return rounds_; }
  Span<const double> orders() const { return orders_; }
  Span<const double> rdp() const { return rdp_; }

 private:
  std::vector<double> orders_;
  std::vector<double> rdp_;
  std::size_t rounds_ = 0;
};

}  // namespace fedtl::dp
