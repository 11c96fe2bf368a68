// Progress for work that takes more than a few seconds: a live line on a terminal, a line
// every few seconds when stderr is a file or a pipe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace fedtl {

class Progress {
 public:
  Progress(std::string label, std::int64_t total, std::string unit = "samples");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(std::int64_t amount, const std::string& status = "");
  void finish(const std::string& status = "");
  double elapsedSeconds() const;

 private:
  void draw(bool final);

  std::string label_;
  std::string unit_;
  std::string status_;
  std::int64_t total_;
  std::int64_t done_ = 0;
  bool tty_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point lastDraw_;
};

}  // namespace fedtl
