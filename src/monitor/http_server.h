// A minimal HTTP/1.0 server for one read-only page: GET /metrics answers with the text
// that `body` returns, on its own thread, one connection at a time.
//
// Why not prometheus-cpp's Exposer: its civetweb server starts threads with a fixed
// 100 KiB stack, and LibTorch's static thread-local storage alone is larger, so in the
// `asl` process those threads cannot be created. This thread gets the default stack.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace asl::monitor {

class HttpServer {
 public:
  // Binds ADDRESS:PORT (IPv4 or IPv6) and starts serving. Throws std::runtime_error with
  // the system's reason when the address cannot be bound.
  HttpServer(const std::string& address, int port, std::function<std::string()> body);
  ~HttpServer();  // stops within milliseconds
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

 private:
  void serve();
  void answer(int client);

  std::function<std::string()> body_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // a pipe: writing to it ends serve()
  std::thread thread_;
};

}  // namespace asl::monitor
