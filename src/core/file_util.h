// Small file helpers: read a whole file, check existence. Thread-safe (no shared state).
#pragma once

#include <string>

#include "core/status.h"

namespace lpx {

// Reads the whole file; errors name the path.
Result<std::string> read_file(const std::string& path);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
// Joins two path pieces with a single '/'.
std::string path_join(const std::string& a, const std::string& b);

}  // namespace lpx
