#include "model/state_dict.h"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "model/import.h"

namespace asl::model {
namespace {

constexpr const char* kResaveFix =
    "re-save it in Python with torch.save(obj, path) (zip format, PyTorch 1.6 or newer)";

// ---------------------------------------------------------------------------------------
// Zip container (torch.save writes stored, uncompressed records under one top folder,
// zip64 when large). Only the central directory is read up front.
// ---------------------------------------------------------------------------------------

uint64_t le(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint32_t crc32(const unsigned char* data, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

struct ZipEntry {
  uint32_t method = 0;
  uint32_t crc = 0;
  uint64_t size = 0;          // uncompressed
  uint64_t local_offset = 0;  // of the local header
};

}  // namespace

struct TorchFile::Zip {
  std::string path;
  mutable std::ifstream in;
  uint64_t file_size = 0;
  std::map<std::string, ZipEntry> entries;  // names without the archive's top folder

  explicit Zip(const std::string& p) : path(p), in(p, std::ios::binary) {
    if (!in) throw Error(path, "cannot open the file", "check the path and its permissions");
    in.seekg(0, std::ios::end);
    file_size = static_cast<uint64_t>(in.tellg());
    read_directory();
  }

  std::string read_bytes(uint64_t at, uint64_t n) const {
    if (at > file_size || n > file_size - at) truncated("a zip structure lies past its end");
    std::string b(n, '\0');
    in.clear();
    in.seekg(static_cast<std::streamoff>(at));
    in.read(b.data(), static_cast<std::streamsize>(n));
    if (!in) throw Error(path, "read error", "check the disk");
    return b;
  }

  [[noreturn]] void truncated(const std::string& detail) const {
    throw Error(path, "is truncated or corrupted (" + detail + ")",
                "copy the checkpoint again or re-create it");
  }

  void read_directory() {
    const std::string head = read_bytes(0, std::min<uint64_t>(file_size, 4));
    if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x80) {
      throw Error(path, "is in PyTorch's legacy (pre-1.6, non-zip) torch.save format",
                  "re-save it in Python: torch.save(torch.load(path), path) with PyTorch 1.6+");
    }
    if (head != std::string("PK\x03\x04", 4)) {
      if (file_size == 0) truncated("the file is empty");
      throw Error(path, "is not a file written by torch.save (no zip header)",
                  "check the path; reference checkpoints are .pth.tar files of train.py");
    }
    // End of central directory: the last 22 bytes, or up to 64 kB earlier with a comment.
    const uint64_t tail_len = std::min<uint64_t>(file_size, 22 + 65535);
    const std::string tail = read_bytes(file_size - tail_len, tail_len);
    const auto* t = reinterpret_cast<const unsigned char*>(tail.data());
    int64_t eocd = -1;
    for (int64_t at = static_cast<int64_t>(tail_len) - 22; at >= 0; --at) {
      if (le(t + at, 4) == 0x06054b50u) {
        eocd = at;
        break;
      }
    }
    if (eocd < 0) truncated("no zip central directory at the end");
    uint64_t count = le(t + eocd + 10, 2);
    uint64_t dir_size = le(t + eocd + 12, 4);
    uint64_t dir_at = le(t + eocd + 16, 4);
    if (count == 0xFFFF || dir_size == 0xFFFFFFFFu || dir_at == 0xFFFFFFFFu) {
      // zip64: the locator sits right before the end record.
      const uint64_t eocd_abs = file_size - tail_len + static_cast<uint64_t>(eocd);
      if (eocd_abs < 20) truncated("zip64 locator missing");
      const std::string loc = read_bytes(eocd_abs - 20, 20);
      const auto* l = reinterpret_cast<const unsigned char*>(loc.data());
      if (le(l, 4) != 0x07064b50u) truncated("zip64 locator missing");
      const std::string rec = read_bytes(le(l + 8, 8), 56);
      const auto* r = reinterpret_cast<const unsigned char*>(rec.data());
      if (le(r, 4) != 0x06064b50u) truncated("zip64 end record missing");
      count = le(r + 32, 8);
      dir_size = le(r + 40, 8);
      dir_at = le(r + 48, 8);
    }
    const std::string dir = read_bytes(dir_at, dir_size);
    const auto* d = reinterpret_cast<const unsigned char*>(dir.data());
    uint64_t at = 0;
    for (uint64_t i = 0; i < count; ++i) {
      if (at + 46 > dir.size() || le(d + at, 4) != 0x02014b50u) truncated("bad central directory");
      ZipEntry e;
      e.method = static_cast<uint32_t>(le(d + at + 10, 2));
      e.crc = static_cast<uint32_t>(le(d + at + 16, 4));
      uint64_t compressed = le(d + at + 20, 4);
      e.size = le(d + at + 24, 4);
      const uint64_t name_len = le(d + at + 28, 2);
      const uint64_t extra_len = le(d + at + 30, 2);
      const uint64_t comment_len = le(d + at + 32, 2);
      e.local_offset = le(d + at + 42, 4);
      if (at + 46 + name_len + extra_len > dir.size()) truncated("bad central directory");
      std::string name(dir.data() + at + 46, name_len);
      // zip64 extra field: the 64-bit values of the fields set to 0xFFFFFFFF, in order.
      for (uint64_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
        const uint64_t id = le(d + x, 2), len = le(d + x + 2, 2);
        if (id == 0x0001) {
          uint64_t f = x + 4;
          const uint64_t end = x + 4 + len;
          for (uint64_t* field : {&e.size, &compressed, &e.local_offset}) {
            if (*field == 0xFFFFFFFFu && f + 8 <= end) {
              *field = le(d + f, 8);
              f += 8;
            }
          }
        }
        x += 4 + len;
      }
      at += 46 + name_len + extra_len + comment_len;
      const size_t slash = name.find('/');
      entries[slash == std::string::npos ? name : name.substr(slash + 1)] = e;
    }
  }

  bool has(const std::string& record) const { return entries.count(record) > 0; }

  // The record's bytes into `dst` (exactly `n` bytes), CRC-checked.
  void read_record(const std::string& record, void* dst, uint64_t n) const {
    const auto it = entries.find(record);
    if (it == entries.end()) {
      throw Error(path, "has no zip record " + record + " (a tensor's data is missing)",
                  "copy the checkpoint again or re-create it");
    }
    const ZipEntry& e = it->second;
    if (e.method != 0) {
      throw Error(path, "zip record " + record + " is compressed; torch.save never compresses",
                  kResaveFix);
    }
    if (e.size != n) {
      throw Error(path, "zip record " + record + " holds " + std::to_string(e.size) +
                            " bytes where its tensor needs " + std::to_string(n),
                  "re-create the file");
    }
    const std::string local = read_bytes(e.local_offset, 30);
    const auto* l = reinterpret_cast<const unsigned char*>(local.data());
    if (le(l, 4) != 0x04034b50u) truncated("bad local header of " + record);
    const uint64_t data_at = e.local_offset + 30 + le(l + 26, 2) + le(l + 28, 2);
    if (data_at > file_size || n > file_size - data_at) truncated("record " + record + " cut off");
    in.clear();
    in.seekg(static_cast<std::streamoff>(data_at));
    in.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (!in) throw Error(path, "read error in record " + record, "check the disk");
    if (e.crc != 0 && crc32(static_cast<const unsigned char*>(dst), n) != e.crc) {
      throw Error(path,
                  "is corrupted: the data of its zip record " + record +
                      " does not match its CRC-32 checksum",
                  "copy the checkpoint again or re-create it");
    }
  }

  std::string read_record(const std::string& record) const {
    const auto it = entries.find(record);
    std::string b(it == entries.end() ? 0 : it->second.size, '\0');
    read_record(record, b.data(), b.size());
    return b;
  }
};

namespace {

using Ref = std::shared_ptr<PyValue>;

Ref make(PyValue::Kind kind) {
  auto v = std::make_shared<PyValue>();
  v->kind = kind;
  return v;
}

c10::ScalarType storage_dtype(const std::string& storage_class, bool* known) {
  static const std::unordered_map<std::string, c10::ScalarType> types = {
      {"torch.FloatStorage", c10::ScalarType::Float},
      {"torch.DoubleStorage", c10::ScalarType::Double},
      {"torch.HalfStorage", c10::ScalarType::Half},
      {"torch.BFloat16Storage", c10::ScalarType::BFloat16},
      {"torch.LongStorage", c10::ScalarType::Long},
      {"torch.IntStorage", c10::ScalarType::Int},
      {"torch.ShortStorage", c10::ScalarType::Short},
      {"torch.CharStorage", c10::ScalarType::Char},
      {"torch.ByteStorage", c10::ScalarType::Byte},
      {"torch.UntypedStorage", c10::ScalarType::Byte},
      {"torch.BoolStorage", c10::ScalarType::Bool},
      {"torch.ComplexFloatStorage", c10::ScalarType::ComplexFloat},
      {"torch.ComplexDoubleStorage", c10::ScalarType::ComplexDouble},
  };
  const auto it = types.find(storage_class);
  *known = it != types.end();
  return *known ? it->second : c10::ScalarType::Byte;
}

// The pickle virtual machine, for the opcodes of protocols 0-5 that torch.save and
// torch::pickle_save produce (and the common others). Classes are not imported: a call
// of a known torch or collections callable is interpreted, any other call becomes an
// opaque object holding its arguments.
class Unpickler {
 public:
  Unpickler(const std::string& data, const std::string& path) : d_(data), path_(path) {}

  Ref run() {
    while (true) {
      const size_t op_at = at_;
      const unsigned char op = byte();
      switch (op) {
        case 0x80: byte(); break;          // PROTO
        case 0x95: bytes(8); break;        // FRAME
        case '.':                          // STOP
          if (stack_.size() != 1) fail("stack holds " + std::to_string(stack_.size()) + " values at STOP", op_at);
          return stack_.back();
        case '(': marks_.push_back(stack_.size()); break;
        case '0': pop(); break;
        case '1': pop_mark(); break;
        case '2': push(top()); break;
        case 'N': push(make(PyValue::Kind::kNone)); break;
        case 0x88: push(boolean(true)); break;
        case 0x89: push(boolean(false)); break;
        case 'J': push(integer(static_cast<int32_t>(le_n(4)))); break;
        case 'K': push(integer(static_cast<int64_t>(le_n(1)))); break;
        case 'M': push(integer(static_cast<int64_t>(le_n(2)))); break;
        case 0x8a: push(integer(long_bytes(le_n(1), op_at))); break;
        case 0x8b: push(integer(long_bytes(le_n(4), op_at))); break;
        case 'I': push(text_int(line(), op_at)); break;
        case 'L': {
          std::string s = line();
          if (!s.empty() && s.back() == 'L') s.pop_back();
          push(integer(parse_int(s, op_at)));
          break;
        }
        case 'G': {
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | byte();  // big-endian
          double x;
          std::memcpy(&x, &bits, 8);
          push(number(x));
          break;
        }
        case 'F': push(number(std::strtod(line().c_str(), nullptr))); break;
        case 'X': push(string(bytes(le_n(4)))); break;
        case 0x8c: push(string(bytes(le_n(1)))); break;
        case 0x8d: push(string(bytes(le_n(8)))); break;
        case 'T': push(string(bytes(le_n(4)))); break;
        case 'U': push(string(bytes(le_n(1)))); break;
        case 'B': push(raw_bytes(bytes(le_n(4)))); break;
        case 'C': push(raw_bytes(bytes(le_n(1)))); break;
        case 0x8e: push(raw_bytes(bytes(le_n(8)))); break;
        case 'V': push(string(line())); break;  // raw-unicode-escape, ASCII in practice
        case ')': push(make(PyValue::Kind::kTuple)); break;
        case 't': push(sequence(PyValue::Kind::kTuple, pop_mark())); break;
        case 0x85: case 0x86: case 0x87: {
          std::vector<Ref> items(op - 0x84);
          for (size_t i = items.size(); i-- > 0;) items[i] = pop();
          push(sequence(PyValue::Kind::kTuple, std::move(items)));
          break;
        }
        case ']': push(make(PyValue::Kind::kList)); break;
        case 'l': push(sequence(PyValue::Kind::kList, pop_mark())); break;
        case 0x8f: push(make(PyValue::Kind::kList)); break;  // EMPTY_SET, kept as a list
        case 0x91: push(sequence(PyValue::Kind::kList, pop_mark())); break;  // FROZENSET
        case 'a': {
          Ref v = pop();
          append_to(top(), {v}, op_at);
          break;
        }
        case 'e': case 0x90: {  // APPENDS, ADDITEMS
          std::vector<Ref> items = pop_mark();
          append_to(top(), items, op_at);
          break;
        }
        case '}': push(make(PyValue::Kind::kDict)); break;
        case 'd': {
          std::vector<Ref> items = pop_mark();
          Ref dict = make(PyValue::Kind::kDict);
          set_items(dict, items, op_at);
          push(dict);
          break;
        }
        case 's': {
          Ref value = pop();
          Ref key = pop();
          set_items(top(), {key, value}, op_at);
          break;
        }
        case 'u': {
          std::vector<Ref> items = pop_mark();
          set_items(top(), items, op_at);
          break;
        }
        case 'q': memo_[le_n(1)] = top(); break;
        case 'r': memo_[le_n(4)] = top(); break;
        case 'p': memo_[static_cast<uint64_t>(parse_int(line(), op_at))] = top(); break;
        case 0x94: memo_[memo_.size()] = top(); break;  // MEMOIZE
        case 'h': push(memo(le_n(1), op_at)); break;
        case 'j': push(memo(le_n(4), op_at)); break;
        case 'g': push(memo(static_cast<uint64_t>(parse_int(line(), op_at)), op_at)); break;
        case 'c': {
          const std::string module = line();
          const std::string name = line();
          push(global(module + "." + name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Ref name = pop();
          Ref module = pop();
          push(global(module->text + "." + name->text));
          break;
        }
        case 'R': {
          Ref args = pop();
          Ref callable = pop();
          push(call(*callable, *args, op_at));
          break;
        }
        case 0x81: {  // NEWOBJ
          Ref args = pop();
          Ref cls = pop();
          push(call(*cls, *args, op_at));
          break;
        }
        case 0x92: {  // NEWOBJ_EX
          pop();  // kwargs
          Ref args = pop();
          Ref cls = pop();
          push(call(*cls, *args, op_at));
          break;
        }
        case 'b': {  // BUILD: an object's state. OrderedDict's (state_dict's _metadata) is dropped.
          Ref state = pop();
          Ref obj = top();
          if (obj->kind == PyValue::Kind::kObject) obj->items.push_back(state);
          break;
        }
        case 'Q': push(persistent_load(*pop(), op_at)); break;
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          fail(std::string("unsupported pickle opcode ") + hex, op_at);
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what, size_t at) const {
    throw Error(path_, "cannot read its pickle (data.pkl): " + what + " at byte " + std::to_string(at),
                kResaveFix);
  }

  unsigned char byte() {
    if (at_ >= d_.size()) fail("unexpected end", at_);
    return static_cast<unsigned char>(d_[at_++]);
  }
  uint64_t le_n(int n) {
    if (d_.size() - at_ < static_cast<size_t>(n)) fail("unexpected end", at_);
    const uint64_t v = le(reinterpret_cast<const unsigned char*>(d_.data()) + at_, n);
    at_ += static_cast<size_t>(n);
    return v;
  }
  std::string bytes(uint64_t n) {
    if (d_.size() - at_ < n) fail("unexpected end", at_);
    std::string s = d_.substr(at_, n);
    at_ += n;
    return s;
  }
  std::string line() {
    const size_t nl = d_.find('\n', at_);
    if (nl == std::string::npos) fail("unexpected end", at_);
    std::string s = d_.substr(at_, nl - at_);
    at_ = nl + 1;
    return s;
  }
  int64_t parse_int(const std::string& s, size_t at) const {
    try {
      return std::stoll(s);
    } catch (const std::exception&) {
      fail("bad integer '" + s + "'", at);
    }
  }
  int64_t long_bytes(uint64_t n, size_t at) {
    if (n > 8) fail("integer wider than 64 bits", at);
    if (n == 0) return 0;
    uint64_t v = le_n(static_cast<int>(n));
    if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }
  Ref text_int(const std::string& s, size_t at) const {
    if (s == "01") return boolean(true);
    if (s == "00") return boolean(false);
    return integer(parse_int(s, at));
  }

  static Ref boolean(bool b) {
    Ref v = make(PyValue::Kind::kBool);
    v->boolean = b;
    return v;
  }
  static Ref integer(int64_t i) {
    Ref v = make(PyValue::Kind::kInt);
    v->integer = i;
    return v;
  }
  static Ref number(double x) {
    Ref v = make(PyValue::Kind::kFloat);
    v->number = x;
    return v;
  }
  static Ref string(std::string s) {
    Ref v = make(PyValue::Kind::kString);
    v->text = std::move(s);
    return v;
  }
  static Ref raw_bytes(std::string s) {
    Ref v = make(PyValue::Kind::kBytes);
    v->text = std::move(s);
    return v;
  }
  static Ref global(std::string name) {
    Ref v = make(PyValue::Kind::kGlobal);
    v->text = std::move(name);
    return v;
  }
  static Ref sequence(PyValue::Kind kind, std::vector<Ref> items) {
    Ref v = make(kind);
    v->items = std::move(items);
    return v;
  }

  void push(Ref v) { stack_.push_back(std::move(v)); }
  Ref pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("stack underflow", at_);
    Ref v = stack_.back();
    stack_.pop_back();
    return v;
  }
  const Ref& top() const {
    if (stack_.empty()) fail("stack underflow", at_);
    return stack_.back();
  }
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) fail("no MARK", at_);
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Ref> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  Ref memo(uint64_t key, size_t at) const {
    const auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo key " + std::to_string(key) + " not set", at);
    return it->second;
  }

  void append_to(const Ref& list, const std::vector<Ref>& items, size_t at) const {
    if (list->kind == PyValue::Kind::kObject) {  // a list subclass: keep the elements
      list->items.insert(list->items.end(), items.begin(), items.end());
      return;
    }
    if (list->kind != PyValue::Kind::kList) fail("APPEND to " + list->describe(), at);
    list->items.insert(list->items.end(), items.begin(), items.end());
  }
  void set_items(const Ref& dict, const std::vector<Ref>& kv, size_t at) const {
    if (kv.size() % 2) fail("odd number of dict items", at);
    if (dict->kind == PyValue::Kind::kObject) return;  // a dict subclass we do not model
    if (dict->kind != PyValue::Kind::kDict) fail("SETITEM on " + dict->describe(), at);
    for (size_t i = 0; i < kv.size(); i += 2) dict->entries.emplace_back(kv[i], kv[i + 1]);
  }

  Ref persistent_load(const PyValue& pid, size_t at) const {
    // ('storage', torch.<Type>Storage, key, location, numel)
    if (pid.kind != PyValue::Kind::kTuple || pid.items.size() < 5 ||
        pid.items[0]->text != "storage" || pid.items[1]->kind != PyValue::Kind::kGlobal ||
        pid.items[2]->kind != PyValue::Kind::kString || pid.items[4]->kind != PyValue::Kind::kInt) {
      fail("persistent id that is not a tensor storage", at);
    }
    bool known = false;
    const c10::ScalarType dtype = storage_dtype(pid.items[1]->text, &known);
    if (!known) fail("storage of unknown type " + pid.items[1]->text, at);
    Ref v = make(PyValue::Kind::kStorage);
    v->tensor = std::make_shared<TensorRef>();
    v->tensor->storage = "data/" + pid.items[2]->text;
    v->tensor->dtype = dtype;
    v->tensor->storage_numel = pid.items[4]->integer;
    return v;
  }

  std::vector<int64_t> int_tuple(const PyValue& v, size_t at) const {
    if (v.kind != PyValue::Kind::kTuple && v.kind != PyValue::Kind::kList) fail("tensor size is not a tuple", at);
    std::vector<int64_t> out;
    for (const Ref& i : v.items) {
      if (i->kind != PyValue::Kind::kInt) fail("tensor size holds a non-integer", at);
      out.push_back(i->integer);
    }
    return out;
  }

  Ref call(const PyValue& callable, const PyValue& args, size_t at) const {
    const std::string& name = callable.text;
    const auto& a = args.items;
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      if (a.size() < 4 || a[0]->kind != PyValue::Kind::kStorage || a[1]->kind != PyValue::Kind::kInt) {
        fail("bad arguments to " + name, at);
      }
      Ref v = make(PyValue::Kind::kTensor);
      v->tensor = std::make_shared<TensorRef>(*a[0]->tensor);
      v->tensor->offset = a[1]->integer;
      v->tensor->sizes = int_tuple(*a[2], at);
      v->tensor->strides = int_tuple(*a[3], at);
      if (v->tensor->sizes.size() != v->tensor->strides.size()) fail("sizes and strides differ in length", at);
      return v;
    }
    if (name == "torch._utils._rebuild_parameter" ||
        name == "torch._utils._rebuild_parameter_with_state" ||
        name == "torch.jit._pickle.restore_type_tag" || name.rfind("torch.jit._pickle.build_", 0) == 0) {
      if (a.empty()) fail("bad arguments to " + name, at);
      return a[0];
    }
    // Protocol 2 writes Python 2 module names (__builtin__) for the builtins.
    const bool builtin = name.rfind("builtins.", 0) == 0 || name.rfind("__builtin__.", 0) == 0;
    const std::string short_name = name.substr(name.find('.') + 1);
    if (name == "collections.OrderedDict" || (builtin && short_name == "dict")) {
      Ref d = make(PyValue::Kind::kDict);
      if (!a.empty() && (a[0]->kind == PyValue::Kind::kList || a[0]->kind == PyValue::Kind::kTuple)) {
        for (const Ref& pair : a[0]->items) {
          if (pair->items.size() == 2) d->entries.emplace_back(pair->items[0], pair->items[1]);
        }
      }
      return d;
    }
    if (builtin && (short_name == "set" || short_name == "frozenset" || short_name == "list")) {
      return a.empty() ? make(PyValue::Kind::kList) : sequence(PyValue::Kind::kList, a[0]->items);
    }
    Ref obj = make(PyValue::Kind::kObject);
    obj->text = name;
    obj->items = a;
    return obj;
  }

  const std::string& d_;
  const std::string& path_;
  size_t at_ = 0;
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Ref> memo_;
};

constexpr const char* kFormat = "asl-checkpoint";
constexpr int64_t kVersion = 1;
constexpr size_t kMaxListed = 4;  // problems of one kind named in an error message

std::string shape_text(c10::IntArrayRef s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

std::string strip_module(const std::string& key) {
  static const std::string prefix = "module.";
  return key.compare(0, prefix.size(), prefix) == 0 ? key.substr(prefix.size()) : key;
}

std::string first_line(const char* text) {
  std::string s(text);
  const size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// Joins the problems of each kind into one message: the first kMaxListed of a kind, then
// how many more of that kind there are.
std::string join_problems(const std::vector<std::pair<std::vector<std::string>, std::string>>& kinds) {
  std::string m;
  for (const auto& [problems, plural] : kinds) {
    for (size_t i = 0; i < problems.size() && i < kMaxListed; ++i) m += (m.empty() ? "" : "; ") + problems[i];
    if (problems.size() > kMaxListed) {
      m += "; and " + std::to_string(problems.size() - kMaxListed) + " more " + plural;
    }
  }
  return m;
}

bool is_floating(c10::ScalarType t) {
  return t == c10::ScalarType::Float || t == c10::ScalarType::Double ||
         t == c10::ScalarType::Half || t == c10::ScalarType::BFloat16;
}

NamedTensors archive_tensors(torch::serialize::InputArchive& archive) {
  NamedTensors out;
  for (const std::string& key : archive.keys()) {
    at::Tensor t;
    archive.read(key, t);
    out.emplace_back(key, t);
  }
  return out;
}

}  // namespace

int64_t TensorRef::numel() const {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  return n;
}

const PyValue* PyValue::get(const std::string& key) const {
  if (kind != Kind::kDict) return nullptr;
  for (const auto& [k, v] : entries) {
    if (k->kind == Kind::kString && k->text == key) return v.get();
  }
  return nullptr;
}

std::string PyValue::describe() const {
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "a bool";
    case Kind::kInt: return "an int";
    case Kind::kFloat: return "a float";
    case Kind::kString: return "a string";
    case Kind::kBytes: return "bytes";
    case Kind::kTuple: return "a tuple";
    case Kind::kList: return "a list";
    case Kind::kDict: return "a dict";
    case Kind::kTensor: return "a tensor";
    case Kind::kStorage: return "a storage";
    case Kind::kGlobal: return "the class " + text;
    case Kind::kObject: return "an object of class " + text;
  }
  return "a value";
}

TorchFile::TorchFile(const std::string& path) : path_(path), zip_(std::make_unique<Zip>(path)) {
  if (!zip_->has("data.pkl")) {
    throw Error(path_, "is a zip file without data.pkl, not a torch.save file (a TorchScript module?)",
                kResaveFix);
  }
  if (zip_->has("byteorder")) {
    const std::string order = zip_->read_record("byteorder");
    if (order != "little") {
      throw Error(path_, "stores tensors in " + order + "-endian byte order", kResaveFix);
    }
  }
  const std::string pickle = zip_->read_record("data.pkl");
  root_ = Unpickler(pickle, path_).run();
}

TorchFile::~TorchFile() = default;

at::Tensor TorchFile::load(const TensorRef& ref, const std::string& what) const {
  const int64_t item = static_cast<int64_t>(c10::elementSize(ref.dtype));
  bool fits = ref.offset >= 0 && ref.storage_numel >= 0;
  int64_t last = ref.offset;  // highest element index reached
  for (size_t i = 0; i < ref.sizes.size() && fits; ++i) {
    if (ref.sizes[i] < 0 || ref.strides[i] < 0) fits = false;
    else if (ref.sizes[i] == 0) last = -1;
    else if (last >= 0) last += (ref.sizes[i] - 1) * ref.strides[i];
  }
  if (!fits || last >= ref.storage_numel) {
    throw Error(path_, what + ": the tensor's offset, sizes " + shape_text(ref.sizes) +
                           " and strides reach past its storage (corrupted)",
                "re-create the file");
  }
  at::Tensor storage = at::empty({ref.storage_numel}, at::TensorOptions().dtype(ref.dtype));
  zip_->read_record(ref.storage, storage.data_ptr(), static_cast<uint64_t>(ref.storage_numel * item));
  at::Tensor view = storage.as_strided(ref.sizes, ref.strides, ref.offset);
  if (view.numel() == ref.storage_numel && view.is_contiguous()) return view;
  return view.clone(at::MemoryFormat::Contiguous);
}

NamedTensorRefs tensor_entries(const TorchFile& file, const PyValue& dict, const std::string& where) {
  if (dict.kind != PyValue::Kind::kDict) {
    throw Error(file.path(), where + " is " + dict.describe() + ", not a dict of tensors",
                "pass a checkpoint saved by the reference's train.py");
  }
  NamedTensorRefs out;
  out.reserve(dict.entries.size());
  for (const auto& [k, v] : dict.entries) {
    if (k->kind != PyValue::Kind::kString) {
      throw Error(file.path(), where + " has a key that is " + k->describe() + ", not a name",
                  "pass a state dict ({name: tensor})");
    }
    if (v->kind != PyValue::Kind::kTensor) {
      throw Error(file.path(), where + "." + k->text + " is " + v->describe() + ", not a tensor",
                  "pass a state dict ({name: tensor})");
    }
    out.emplace_back(k->text, v->tensor.get());
  }
  return out;
}

NamedTensors read_tensor_dict(const std::string& path) {
  const TorchFile file(path);
  NamedTensors out;
  for (const auto& [name, ref] : tensor_entries(file, file.root(), "the file's dict")) {
    out.emplace_back(name, file.load(*ref, name));
  }
  return out;
}

MappedWeights map_reference_weights(const TorchFile& file, const PyValue& dict,
                                    const std::string& section, const torch::nn::Module& model,
                                    bool use_xl) {
  const NamedTensorRefs entries = tensor_entries(file, dict, section);
  std::unordered_map<std::string, const TensorRef*> by_name;
  std::vector<std::string> missing, mismatched, unexpected;  // reported in this order
  MappedWeights mapped;

  std::set<std::string> params;
  for (const auto& p : model.named_parameters()) params.insert(p.key());

  for (const auto& [key, ref] : entries) {
    const std::string name = strip_module(key);
    if (!by_name.emplace(name, ref).second) {
      unexpected.push_back("key " + name + " appears twice (with and without `module.`)");
      continue;
    }
    if (params.count(name)) continue;
    if (!dead_key_group(name, use_xl).empty()) {
      mapped.dead.push_back(name);
      mapped.dead_values += ref->numel();
    } else {
      unexpected.push_back("unexpected key " + name +
                           " (neither a parameter of this model nor a known dead part)");
    }
  }
  for (const auto& p : model.named_parameters()) {
    const auto it = by_name.find(p.key());
    if (it == by_name.end()) {
      missing.push_back("missing live key " + p.key());
      continue;
    }
    const TensorRef& ref = *it->second;
    if (ref.sizes != p.value().sizes().vec()) {
      mismatched.push_back("key " + p.key() + " has shape " + shape_text(ref.sizes) +
                           ", the model expects " + shape_text(p.value().sizes()));
    } else if (!is_floating(ref.dtype)) {
      mismatched.push_back("key " + p.key() + " holds " + std::string(c10::toString(ref.dtype)) +
                           " values, not floating point");
    }
  }
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    throw Error(file.path(), section + " does not fit the model of this config: " +
                                 join_problems({{missing, "missing live keys"},
                                                {mismatched, "mis-shaped or mis-typed keys"},
                                                {unexpected, "unexpected keys"}}),
                "use the config the checkpoint was trained with (--config)");
  }

  Progress progress("import " + section, static_cast<int64_t>(params.size()), "tensors");
  for (const auto& p : model.named_parameters()) {
    progress.advance();
    at::Tensor t = file.load(*by_name.at(p.key()), section + "." + p.key());
    t = t.to(p.value().scalar_type());
    if (!t.isfinite().all().item<bool>()) {
      throw Error(file.path(), section + "." + p.key() + " holds NaN or Inf values",
                  "import a checkpoint from before training diverged");
    }
    mapped.live.emplace_back(p.key(), t);
  }
  progress.finish();
  return mapped;
}

void assign_weights(torch::nn::Module& model, const NamedTensors& weights) {
  std::unordered_map<std::string, const at::Tensor*> given;
  for (const auto& [name, t] : weights) given.emplace(name, &t);
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters()) {
    const auto it = given.find(p.key());
    if (it == given.end()) throw Error(p.key(), "no weights given for this parameter");
    if (it->second->sizes() != p.value().sizes()) {
      throw Error(p.key(), "weights of shape " + shape_text(it->second->sizes()) +
                               ", the parameter has " + shape_text(p.value().sizes()));
    }
    p.value().copy_(*it->second);
  }
  if (given.size() != model.named_parameters().size()) {
    for (const auto& [name, t] : weights) {
      if (!model.named_parameters().contains(name)) {
        throw Error(name, "weights given for a name that is not a parameter of the model");
      }
    }
  }
}

void write_weights_to(torch::serialize::OutputArchive& archive, const NativeWeights& weights) {
  archive.write("format", c10::IValue(std::string(kFormat)));
  archive.write("version", c10::IValue(kVersion));
  archive.write("epoch", c10::IValue(weights.epoch));
  archive.write("source", c10::IValue(weights.source));
  torch::serialize::OutputArchive model;
  for (const auto& [name, t] : weights.model) model.write(name, t);
  archive.write("model", model);
  if (!weights.model_ema.empty()) {
    torch::serialize::OutputArchive ema;
    for (const auto& [name, t] : weights.model_ema) ema.write(name, t);
    archive.write("model_ema", ema);
  }
}

void save_archive_atomic(const std::string& path, torch::serialize::OutputArchive& archive) {
  std::ostringstream bytes;
  try {
    archive.save_to(bytes);
  } catch (const c10::Error& e) {
    throw Error(path, "cannot serialize the checkpoint: " + first_line(e.what_without_backtrace()));
  }
  write_file_atomic(path, bytes.str());
}

void write_native_weights(const std::string& path, const NativeWeights& weights) {
  torch::serialize::OutputArchive archive;
  write_weights_to(archive, weights);
  save_archive_atomic(path, archive);
}

void load_native_archive(const std::string& path, torch::serialize::InputArchive& archive) {
  if (!path_exists(path)) throw Error(path, "no such checkpoint", "check the path");
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw Error(path, "cannot read the checkpoint (truncated or not an asl checkpoint): " +
                          first_line(e.what_without_backtrace()),
                "use another checkpoint or re-create it");
  }
  c10::IValue format, version;
  if (!archive.try_read("format", format) || !format.isString() ||
      format.toStringRef() != kFormat) {
    throw Error(path, "is not a native checkpoint of this project (no format asl-checkpoint)",
                "reference checkpoints are converted with `asl import`");
  }
  if (!archive.try_read("version", version) || !version.isInt() || version.toInt() != kVersion) {
    throw Error(path, "has checkpoint format version " +
                          (version.isInt() ? std::to_string(version.toInt()) : std::string("?")) +
                          "; this build reads version " + std::to_string(kVersion),
                "use the asl build that wrote it");
  }
}

NativeWeights read_native_weights(const std::string& path) {
  torch::serialize::InputArchive archive;
  load_native_archive(path, archive);
  NativeWeights w;
  try {
    c10::IValue epoch, source;
    if (archive.try_read("epoch", epoch) && epoch.isInt()) w.epoch = epoch.toInt();
    if (archive.try_read("source", source) && source.isString()) w.source = source.toStringRef();
    torch::serialize::InputArchive model, ema;
    archive.read("model", model);
    w.model = archive_tensors(model);
    if (archive.try_read("model_ema", ema)) w.model_ema = archive_tensors(ema);
  } catch (const c10::Error& e) {
    throw Error(path, "cannot read the checkpoint (truncated or corrupted?): " +
                          first_line(e.what_without_backtrace()),
                "re-create it");
  }
  return w;
}

}  // namespace asl::model
