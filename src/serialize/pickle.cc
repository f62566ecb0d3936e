#include "serialize/pickle.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "core/error.h"

namespace asl::serialize {
namespace {

constexpr const char* kResaveFix =
    "re-save it in Python with torch.save(obj, path) (zip format, PyTorch 1.6 or newer)";

uint64_t le(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

using Ref = std::shared_ptr<PyValue>;

// Every value the running unpickle made (see unpickle(): cycles and deep nests).
thread_local std::vector<std::weak_ptr<PyValue>>* t_made = nullptr;

Ref make(PyValue::Kind kind) {
  auto v = std::make_shared<PyValue>();
  v->kind = kind;
  if (t_made) t_made->push_back(v);
  return v;
}

// Deeper nests than this are refused: torch.save's are a few levels deep, and destroying
// a value recurses once per level.
constexpr int kMaxDepth = 1000;

// The deepest nesting under any of `roots`, or -1 when some value contains itself.
// Iterative, so that a hostile nest cannot overflow the stack here; one visit per value.
int depth_or_cycle(const std::vector<const PyValue*>& roots) {
  enum : char { kOpen = 1, kDone = 2 };
  std::unordered_map<const PyValue*, char> state;
  struct Frame {
    const PyValue* value;
    size_t next;
  };
  int deepest = 0;
  for (const PyValue* root : roots) {
    if (!root || state[root] == kDone) continue;
    std::vector<Frame> stack{{root, 0}};
    state[root] = kOpen;
    deepest = std::max(deepest, 1);
    while (!stack.empty()) {
      Frame& f = stack.back();
      const size_t n_items = f.value->items.size(), total = n_items + 2 * f.value->entries.size();
      if (f.next == total) {
        state[f.value] = kDone;
        stack.pop_back();
        continue;
      }
      const size_t i = f.next++;
      const size_t e = (i - n_items) / 2;
      const PyValue* child = i < n_items ? f.value->items[i].get()
                             : (i - n_items) % 2 == 0 ? f.value->entries[e].first.get()
                                                      : f.value->entries[e].second.get();
      if (!child) continue;
      const char seen = state[child];
      if (seen == kOpen) return -1;
      if (seen == kDone) continue;
      state[child] = kOpen;
      stack.push_back({child, 0});
      deepest = std::max(deepest, static_cast<int>(stack.size()));
      if (deepest > kMaxDepth) return deepest;
    }
  }
  return deepest;
}

// Takes every value apart (their children first lose their parents, then all are freed one
// by one): frees cycles, and deep nests without recursion.
void dismantle(std::vector<std::weak_ptr<PyValue>>& made) {
  std::vector<Ref> alive;
  for (auto& w : made)
    if (Ref v = w.lock()) alive.push_back(std::move(v));
  for (Ref& v : alive) {
    v->items.clear();
    v->entries.clear();
  }
  made.clear();
}

ElementType storage_type(const std::string& storage_class, bool* known) {
  static const std::unordered_map<std::string, ElementType> types = {
      {"torch.FloatStorage", ElementType::kFloat},
      {"torch.DoubleStorage", ElementType::kDouble},
      {"torch.HalfStorage", ElementType::kHalf},
      {"torch.BFloat16Storage", ElementType::kBFloat16},
      {"torch.LongStorage", ElementType::kLong},
      {"torch.IntStorage", ElementType::kInt},
      {"torch.ShortStorage", ElementType::kShort},
      {"torch.CharStorage", ElementType::kChar},
      {"torch.ByteStorage", ElementType::kByte},
      {"torch.UntypedStorage", ElementType::kByte},
      {"torch.BoolStorage", ElementType::kBool},
      {"torch.ComplexFloatStorage", ElementType::kComplexFloat},
      {"torch.ComplexDoubleStorage", ElementType::kComplexDouble},
  };
  const auto it = types.find(storage_class);
  *known = it != types.end();
  return *known ? it->second : ElementType::kByte;
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
    const ElementType type = storage_type(pid.items[1]->text, &known);
    if (!known) fail("storage of unknown type " + pid.items[1]->text, at);
    Ref v = make(PyValue::Kind::kStorage);
    v->tensor = std::make_shared<TensorRef>();
    v->tensor->storage = "data/" + pid.items[2]->text;
    v->tensor->type = type;
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

}  // namespace

int64_t element_size(ElementType type) {
  switch (type) {
    case ElementType::kFloat: case ElementType::kInt: return 4;
    case ElementType::kDouble: case ElementType::kLong: case ElementType::kComplexFloat: return 8;
    case ElementType::kHalf: case ElementType::kBFloat16: case ElementType::kShort: return 2;
    case ElementType::kChar: case ElementType::kByte: case ElementType::kBool: return 1;
    case ElementType::kComplexDouble: return 16;
  }
  return 1;
}

std::string type_name(ElementType type) {
  switch (type) {
    case ElementType::kFloat: return "torch.float32";
    case ElementType::kDouble: return "torch.float64";
    case ElementType::kHalf: return "torch.float16";
    case ElementType::kBFloat16: return "torch.bfloat16";
    case ElementType::kLong: return "torch.int64";
    case ElementType::kInt: return "torch.int32";
    case ElementType::kShort: return "torch.int16";
    case ElementType::kChar: return "torch.int8";
    case ElementType::kByte: return "torch.uint8";
    case ElementType::kBool: return "torch.bool";
    case ElementType::kComplexFloat: return "torch.complex64";
    case ElementType::kComplexDouble: return "torch.complex128";
  }
  return "torch.?";
}

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

std::shared_ptr<PyValue> unpickle(const std::string& data, const std::string& path) {
  std::vector<std::weak_ptr<PyValue>> made;
  t_made = &made;
  Ref root;
  try {
    root = Unpickler(data, path).run();
  } catch (...) {
    t_made = nullptr;
    dismantle(made);  // a malformed stream may have left values that refer to each other
    throw;
  }
  t_made = nullptr;
  // Every value still alive, not only those under the root: a cycle among values the
  // result does not hold would otherwise leak (found by tests/fuzz/fuzz_pickle.cc).
  std::vector<Ref> alive;
  for (auto& w : made)
    if (Ref v = w.lock()) alive.push_back(std::move(v));
  std::vector<const PyValue*> roots;
  for (const Ref& v : alive) roots.push_back(v.get());
  const int depth = depth_or_cycle(roots);
  alive.clear();
  if (depth < 0 || depth > kMaxDepth) {
    root.reset();
    dismantle(made);
    throw Error(path, depth < 0 ? "the pickle's values contain themselves (a reference cycle)"
                                : "the pickle nests values more than " +
                                      std::to_string(kMaxDepth) + " deep",
                "not a file torch.save writes; check where it came from");
  }
  return root;
}

}  // namespace asl::serialize
