// Whole-file reads with a size bound, and crash-safe writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fedtl {

// Reads the file at path; throws IoError if it is missing, unreadable or above maxBytes.
std::vector<std::uint8_t> readFile(const std::string& path, std::size_t maxBytes);

// Reads a gzip-compressed file (or a plain one: zlib passes those through) into memory,
// throwing DataError when the decompressed size would exceed maxBytes or the stream is corrupt.
std::vector<std::uint8_t> readMaybeGzipFile(const std::string& path, std::size_t maxBytes);

// Writes bytes to path atomically: a temporary file in the same folder, fsync, rename.
// A crash leaves either the old file or the new one, never a torn one.
void writeFileAtomic(const std::string& path, const void* data, std::size_t size);

inline void writeFileAtomic(const std::string& path, const std::string& text) {
  writeFileAtomic(path, text.data(), text.size());
}

}  // namespace fedtl
