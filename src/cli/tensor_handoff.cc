#include "cli/tensor_handoff.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"

namespace asl::cli {
namespace {

std::vector<std::string> g_arguments;  // argv[1..]

}  // namespace

void remember_command_line(int argc, char** argv) {
  g_arguments.assign(argv + (argc > 0 ? 1 : 0), argv + argc);
}

void hand_to_tensor_binary() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("asl", "cannot find its own executable: " + ec.message());
  const std::string tensor_binary = (self.parent_path() / "asl-torch").string();
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(tensor_binary.c_str()));
  for (std::string& a : g_arguments) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  execv(tensor_binary.c_str(), argv.data());
  throw Error(tensor_binary, std::string("cannot start it: ") + std::strerror(errno),
              "this command needs LibTorch, which asl-torch links; build it beside asl "
              "(cmake --build build --target asl-torch)");
}

}  // namespace asl::cli
