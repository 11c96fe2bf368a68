// Final metrics of a command as a flat JSON object (--summary-json PATH), written atomically.
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace fedtl {

class SummaryJson {
 public:
  using Value = std::variant<double, long long, std::string, bool>;

  void set(const std::string& key, Value value);
  std::string toString() const;
  void write(const std::string& path) const;

 private:
  std::vector<std::pair<std::string, Value>> fields_;  // insertion order kept
};

}  // namespace fedtl
