#include "common/summary_json.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "common/file_io.h"

namespace fedtl {

void SummaryJson::set(const std::string& key, Value value) {
  for (auto& [k, v] : fields_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  fields_.emplace_back(key, std::move(value));
}

std::string SummaryJson::toString() const {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  for (const auto& [key, value] : fields_) {
    writer.Key(key.c_str(), static_cast<rapidjson::SizeType>(key.size()));
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, double>) writer.Double(v);
          else if constexpr (std::is_same_v<T, long long>) writer.Int64(v);
          else if constexpr (std::is_same_v<T, bool>) writer.Bool(v);
          else writer.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
        },
        value);
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

void SummaryJson::write(const std::string& path) const { writeFileAtomic(path, toString()); }

}  // namespace fedtl
