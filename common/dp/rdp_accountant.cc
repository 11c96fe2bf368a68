#include "common/dp/rdp_accountant.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "common/error.h"

namespace fedtl::dp {
namespace {

constexpr double kPi = 3.14159265358979323846;

void checkOrder(double order) {
  FEDTL_ENFORCE(std::isfinite(order) && order > 1, ConfigError, "RDP order α must be a finite number > 1, got ", order);
}

}  // namespace

double ddgTau(double localSigma, std::size_t summands) {
  FEDTL_ENFORCE(std::isfinite(localSigma) && localSigma > 0, ConfigError,
                "distributed discrete Gaussian: the local σ must be a positive number, got ", localSigma);
  FEDTL_ENFORCE(summands >= 1, ConfigError, "distributed discrete Gaussian: at least one summand");
  const double exponentScale = 2 * kPi * kPi * localSigma * localSigma;
  double sum = 0;
  // Terms grow with k towards exp(−2π²σ²); summed smallest first.
  for (std::size_t k = 1; k < summands; ++k) {
    sum += std::exp(-exponentScale * static_cast<double>(k) / static_cast<double>(k + 1));
  }
  return 10 * sum;
}

double ddgRdp(double order, const DdgRound& round) {
  checkOrder(order);
  FEDTL_ENFORCE(std::isfinite(round.l2Sensitivity) && round.l2Sensitivity >= 0, ConfigError,
                "distributed discrete Gaussian: the L2 sensitivity must be a finite number >= 0, got ",
                round.l2Sensitivity);
  // Below σ = 1/2 every summand adds more than 0.8 to τ and the bound says nothing useful;
  // fedtl's checkDpConfig asks σ >= 1.
  FEDTL_ENFORCE(std::isfinite(round.localSigma) && round.localSigma >= 0.5, ConfigError,
                "distributed discrete Gaussian: the local σ must be >= 1/2 quantisation levels, got ",
                round.localSigma);
  FEDTL_ENFORCE(round.summands >= 1 && round.dimension >= 1, ConfigError,
                "distributed discrete Gaussian: summands and dimension must be >= 1, got ", round.summands, " and ",
                round.dimension);
  const double n = static_cast<double>(round.summands);
  const double d = static_cast<double>(round.dimension);
  const double tau = ddgTau(round.localSigma, round.summands);
  const double noiseScale = std::sqrt(n) * round.localSigma;  // σ of the summed noise
  const double l2Scale = round.l2Sensitivity / noiseScale;
  const double l1Sensitivity = round.l2Sensitivity * std::min(std::sqrt(d), round.l2Sensitivity);
  const double l1Scale = l1Sensitivity / noiseScale;
  const double plain = order / 2 * l2Scale * l2Scale + tau * d;
  const double withL1 = order / 2 * (l2Scale * l2Scale + 2 * l1Scale * tau + tau * tau * d);
  return std::min(plain, withL1);
}

double gaussianRdp(double order, double noiseMultiplier) {
  checkOrder(order);
  FEDTL_ENFORCE(std::isfinite(noiseMultiplier) && noiseMultiplier > 0, ConfigError,
                "Gaussian RDP: the noise multiplier must be a positive number, got ", noiseMultiplier);
  return order / (2 * noiseMultiplier * noiseMultiplier);
}

double rdpToEpsilon(Span<const double> orders, Span<const double> rdp, double delta, double* bestOrder) {
  FEDTL_ENFORCE(delta > 0 && delta < 1, ConfigError, "δ must be in (0, 1), got ", delta);
  FEDTL_ENFORCE(orders.size() == rdp.size() && !orders.empty(), ConfigError, "RDP conversion: ", orders.size(),
                " orders but ", rdp.size(), " RDP values");
  double best = std::numeric_limits<double>::infinity();
  double argBest = orders[0];
  for (std::size_t i = 0; i < orders.size(); ++i) {
    const double alpha = orders[i];
    const double r = rdp[i];
    checkOrder(alpha);
    FEDTL_ENFORCE(!(r < 0), ConfigError, "RDP conversion: negative RDP ", r, " at order ", alpha);
    double epsilon = std::numeric_limits<double>::infinity();
    if (delta * delta + std::expm1(-r) >= 0) {
      // δ >= sqrt(1 − exp(−KL)) >= the total variation distance (Bretagnolle–Huber), and
      // KL <= D_α: (0, δ)-DP, as TF Privacy's conversion also notes.
      epsilon = 0;
    } else if (std::isfinite(r)) {
      epsilon = r + std::log1p(-1 / alpha) - (std::log(delta) + std::log(alpha)) / (alpha - 1);
    }
    if (epsilon < best) {
      best = epsilon;
      argBest = alpha;
    }
  }
  if (bestOrder != nullptr) *bestOrder = argBest;
  return std::max(0.0, best);
}

std::vector<double> defaultRdpOrders() {
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1 + x / 10.0);
  for (int a = 12; a < 64; ++a) orders.push_back(a);
  for (double a : {128.0, 256.0, 512.0, 1024.0}) orders.push_back(a);
  return orders;
}

RdpAccountant::RdpAccountant() : RdpAccountant(defaultRdpOrders()) {}

RdpAccountant::RdpAccountant(std::vector<double> orders) : orders_(std::move(orders)), rdp_(orders_.size(), 0.0) {
  FEDTL_ENFORCE(!orders_.empty(), ConfigError, "RDP accountant: no orders");
  for (const double order : orders_) checkOrder(order);
}

void RdpAccountant::addRounds(const DdgRound& round, std::size_t count) {
  for (std::size_t i = 0; i < orders_.size(); ++i) rdp_[i] += static_cast<double>(count) * ddgRdp(orders_[i], round);
  rounds_ += count;
}

void RdpAccountant::addGaussianRounds(double noiseMultiplier, std::size_t count) {
  for (std::size_t i = 0; i < orders_.size(); ++i) {
    rdp_[i] += static_cast<double>(count) * gaussianRdp(orders_[i], noiseMultiplier);
  }
  rounds_ += count;
}

double RdpAccountant::epsilon(double delta) const { return rdpToEpsilon(orders_, rdp_, delta); }

double RdpAccountant::bestOrder(double delta) const {
  double order = 0;
  rdpToEpsilon(orders_, rdp_, delta, &order);
  return order;
}

}  // namespace fedtl::dp
