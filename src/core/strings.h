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

bool ends_with(std::string_view text, std::string_view suffix);

// The text up to its first newline (a LibTorch message's first line; the rest is a stack
// trace or source context).
std::string first_line(std::string_view text);

// A shape as Python prints a list: {2, 3} -> "[2, 3]".
std::string shape_text(const std::vector<int64_t>& sizes);

// An integer with thousands separators: 222065422 -> "222,065,422".
std::string with_commas(int64_t n);

// Collapses a message onto one line (errors are printed as one line).
std::string one_line(std::string_view text);

}  // namespace asl
