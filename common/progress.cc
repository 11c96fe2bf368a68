#include "common/progress.h"

#include <unistd.h>

#include <cstdio>

namespace fedtl {
namespace {
using Clock = std::chrono::steady_clock;
}

Progress::Progress(std::string label, std::int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      tty_(::isatty(STDERR_FILENO) == 1),
      start_(Clock::now()),
      lastDraw_(start_) {}

Progress::~Progress() {
  if (!finished_ && tty_ && done_ > 0) std::fputc('\n', stderr);
}

double Progress::elapsedSeconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

void Progress::advance(std::int64_t amount, const std::string& status) {
  done_ += amount;
  if (!status.empty()) status_ = status;
  auto now = Clock::now();
  auto interval = tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000);
  if (now - lastDraw_ >= interval) {
    lastDraw_ = now;
    draw(false);
  }
}

void Progress::finish(const std::string& status) {
  if (!status.empty()) status_ = status;
  finished_ = true;
  if (elapsedSeconds() >= 1.0 || tty_) draw(true);
}

void Progress::draw(bool final) {
  double secs = elapsedSeconds();
  double rate = secs > 0 ? static_cast<double>(done_) / secs : 0.0;
  double pct = total_ > 0 ? 100.0 * static_cast<double>(done_) / static_cast<double>(total_) : 0.0;
  double eta = rate > 0 && total_ > done_ ? static_cast<double>(total_ - done_) / rate : 0.0;
  if (final) {
    std::fprintf(stderr, "%s%s: done in %.1f s (%.0f %s/s)%s%s\n", tty_ ? "\r\033[K" : "", label_.c_str(), secs, rate,
                 unit_.c_str(), status_.empty() ? "" : "  ", status_.c_str());
  } else {
    std::fprintf(stderr, "%s%s: %5.1f%%  %.0f %s/s  ETA %.0f s%s%s%s", tty_ ? "\r\033[K" : "", label_.c_str(), pct, rate,
                 unit_.c_str(), eta, status_.empty() ? "" : "  ", status_.c_str(), tty_ ? "" : "\n");
  }
  std::fflush(stderr);
}

}  // namespace fedtl
