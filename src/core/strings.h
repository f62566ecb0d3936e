// Small string helpers shared by the config loader and the command line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace asl {

// Levenshtein distance (insertions, deletions, substitutions of bytes).
std::size_t edit_distance(std::string_view a, std::string_view b);

// Splits on every occurrence of `sep`; empty fields are kept.
std::vector<std::string> split(std::string_view text, char sep);

std::string join(const std::vector<std::string>& parts, std::string_view sep);

// An integer with thousands separators: 222065422 -> "222,065,422".
std::string with_commas(int64_t n);

// Collapses a message onto one line (errors are printed as one line).
std::string one_line(std::string_view text);

}  // namespace asl
