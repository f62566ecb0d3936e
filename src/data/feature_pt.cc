// PyTorch .pt feature files, the only LibTorch code of the feature readers.
//
// Python's torch.save (zip format, the default since PyTorch 1.6) writes a zip archive
// holding a pickle (data.pkl) whose tensors point at storage records (data/0, ...).
// torch::pickle_load / torch::pickle_save (torch/serialize.h) read and write exactly that
// container from bytes, in LibTorch 1.x and 2.x alike; they rebuild a tensor with its
// storage offset, sizes and strides, so saved views come back as views. When loading
// fails, caffe2::serialize::PyTorchStreamReader (also in both) tells a broken zip from a
// pickle that is not a tensor. Record CRCs are checked here, since LibTorch does not.
#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "data/feature_io.h"

namespace asl::data {
namespace {

constexpr const char* kResave =
    "re-save it in Python: torch.save(t.contiguous().float(), path) with t a T x D tensor";

// The first line of a LibTorch message (the rest is a C++ stack trace or source context).
std::string first_line(const char* text) {
  std::string s(text);
  const size_t nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  return s;
}

std::string dtype_text(c10::ScalarType t) {
  switch (t) {
    case c10::ScalarType::Double: return "torch.float64";
    case c10::ScalarType::BFloat16: return "torch.bfloat16";
    case c10::ScalarType::Long: return "torch.int64";
    case c10::ScalarType::Int: return "torch.int32";
    case c10::ScalarType::Short: return "torch.int16";
    case c10::ScalarType::Char: return "torch.int8";
    case c10::ScalarType::Byte: return "torch.uint8";
    case c10::ScalarType::Bool: return "torch.bool";
    default: return std::string("torch ") + c10::toString(t);
  }
}

std::string sizes_text(c10::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

// What a non-tensor file holds, for the error message.
std::string describe(const c10::IValue& v) {
  if (v.isGenericDict()) {
    std::string keys;
    int shown = 0;
    for (const auto& item : v.toGenericDict()) {
      if (!item.key().isString()) continue;
      if (shown++ == 4) {
        keys += ", ...";
        break;
      }
      keys += (keys.empty() ? "'" : ", '") + item.key().toStringRef() + "'";
    }
    return keys.empty() ? "a dict" : "a dict (keys " + keys + ")";
  }
  if (v.isList()) return "a list";
  if (v.isTuple()) return "a tuple";
  if (v.isNone()) return "None";
  if (v.isObject()) return "an object of class " + v.type()->str();
  return "a " + std::string(v.tagKind());
}

// Every element of a rebuilt view must lie inside its storage: a corrupted pickle could
// otherwise make the copy below read past the end of the storage.
bool view_fits_storage(const at::Tensor& t) {
  if (t.numel() == 0) return true;
  int64_t last = t.storage_offset();
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.stride(d) < 0) return false;
    last += (t.size(d) - 1) * t.stride(d);
  }
  const auto capacity = static_cast<int64_t>(t.storage().nbytes() / t.element_size());
  return t.storage_offset() >= 0 && last < capacity;
}

uint32_t le(const std::string& b, size_t at, int width) {
  uint32_t v = 0;
  for (int i = 0; i < width; ++i)
    v |= static_cast<uint32_t>(static_cast<uint8_t>(b[at + i])) << (8 * i);
  return v;
}

uint32_t crc32(const char* data, size_t size) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < size; ++i)
    c = table[(c ^ static_cast<uint8_t>(data[i])) & 0xffu] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

// LibTorch's zip reader does not verify the CRC-32 of records, so a flipped byte in the
// tensor data would load silently as a wrong feature value. This walks the zip's central
// directory and returns the name of the first stored record whose data does not match its
// CRC, or "" when all match. Records it cannot check (compressed, zip64, CRC left 0 by a
// writer that skipped it) are passed over: pickle_load has already read the structure.
std::string first_corrupted_record(const std::string& b) {
  constexpr size_t kEndSize = 22;
  if (b.size() < kEndSize) return "";
  size_t end = std::string::npos;
  for (size_t at = b.size() - kEndSize + 1; at-- > 0 && b.size() - at <= kEndSize + 65535;) {
    if (le(b, at, 4) == 0x06054b50u) {
      end = at;
      break;
    }
  }
  if (end == std::string::npos) return "";
  const uint32_t entries = le(b, end + 10, 2);
  size_t at = le(b, end + 16, 4);
  if (entries == 0xffffu || at == 0xffffffffu) return "";  // zip64
  for (uint32_t i = 0; i < entries; ++i) {
    if (at + 46 > b.size() || le(b, at, 4) != 0x02014b50u) return "";
    const uint32_t method = le(b, at + 10, 2);
    const uint32_t crc = le(b, at + 16, 4);
    const uint32_t size = le(b, at + 20, 4);
    const uint32_t name_len = le(b, at + 28, 2);
    const size_t next = at + 46 + name_len + le(b, at + 30, 2) + le(b, at + 32, 2);
    const std::string name = b.substr(at + 46, std::min<size_t>(name_len, b.size() - at - 46));
    const size_t local = le(b, at + 42, 4);
    at = next;
    if (method != 0 || crc == 0 || size == 0xffffffffu) continue;
    if (local + 30 > b.size() || le(b, local, 4) != 0x04034b50u) return name;
    const size_t data = local + 30 + le(b, local + 26, 2) + le(b, local + 28, 2);
    if (data > b.size() || b.size() - data < size || crc32(b.data() + data, size) != crc)
      return name;
  }
  return "";
}

struct Problem {
  std::string problem;
  std::string fix;
};

// Why torch::pickle_load failed, in words. Either the zip container is broken, or its
// pickle is not a single tensor: LibTorch's unpickler lacks some opcodes Python uses for
// containers (SETITEM, for a one-key dict), so a container can fail before it could be
// described. The first opcode after the protocol header tells which container it is.
Problem diagnose(const std::string& bytes, const std::string& failure) {
  std::string pickle;
  try {
    std::istringstream in(bytes);
    caffe2::serialize::PyTorchStreamReader reader(&in);
    if (!reader.hasRecord("data.pkl")) {
      return {"is a zip file without data.pkl, not a torch.save file (a TorchScript module?)",
              "save the feature tensor with torch.save(t, path)"};
    }
    const auto record = reader.getRecord("data.pkl");
    pickle.assign(static_cast<const char*>(std::get<0>(record).get()), std::get<1>(record));
  } catch (const c10::Error& e) {
    return {"cannot read the PyTorch file, it is truncated or corrupted: " +
                first_line(e.what_without_backtrace()),
            "re-create the file"};
  }
  size_t at = 0;
  if (pickle.size() >= 2 && static_cast<uint8_t>(pickle[0]) == 0x80) at = 2;  // PROTO n
  const char op = at < pickle.size() ? pickle[at] : '\0';
  std::string holds;
  if (op == '}') holds = "a dict";
  if (op == ']') holds = "a list";
  if (op == 'N') holds = "None";
  if (op == 'c') {  // GLOBAL "module\nname\n"
    const size_t nl1 = pickle.find('\n', at + 1);
    const size_t nl2 = nl1 == std::string::npos ? nl1 : pickle.find('\n', nl1 + 1);
    if (nl2 != std::string::npos) {
      const std::string module = pickle.substr(at + 1, nl1 - at - 1);
      const std::string name = pickle.substr(nl1 + 1, nl2 - nl1 - 1);
      if (module == "torch._utils" && name != "_rebuild_tensor_v2") {
        return {"holds a tensor that is not a plain dense tensor (saved through " + module + "." +
                    name + ": sparse, quantized or with a custom class)",
                "re-save it in Python: torch.save(t.to_dense().contiguous().float(), path)"};
      }
      if (module != "torch._utils") holds = "an object of class " + module + "." + name;
    }
  }
  if (!holds.empty()) {
    return {"holds " + holds + ", not a tensor",
            "save the T x D feature tensor itself: torch.save(t, path)"};
  }
  return {"cannot read the PyTorch file (corrupted, or not a single plain tensor): " + failure,
          "re-create it with torch.save(t, path), t a T x D tensor"};
}

}  // namespace

FeatureMatrix read_pt(const std::string& path) {
  const std::string bytes = read_file(path);
  if (bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == 0x80 && bytes[1] >= 1 &&
      bytes[1] <= 5) {
    throw Error(
        path, "is in PyTorch's legacy (pre-1.6, non-zip) format, which only Python can read",
        "re-save it in Python: torch.save(torch.load(path), path) with PyTorch 1.6 or newer");
  }
  if (bytes.size() < 4 || bytes.compare(0, 4, "PK\x03\x04") != 0) {
    throw Error(path, "not a PyTorch file written by torch.save (no zip header)",
                "check the path; .pt feature files come from torch.save(tensor, path)");
  }

  c10::IValue value;
  std::string failure;
  try {
    value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  } catch (const c10::Error& e) {
    failure = first_line(e.what_without_backtrace());
  } catch (const std::exception& e) {
    failure = first_line(e.what());
  }
  if (!failure.empty()) {
    const Problem p = diagnose(bytes, failure);
    throw Error(path, p.problem, p.fix);
  }

  const std::string corrupted = first_corrupted_record(bytes);
  if (!corrupted.empty()) {
    throw Error(path,
                "is corrupted: the data of its zip record " + corrupted +
                    " does not match its CRC-32 checksum",
                "re-create the file");
  }
  if (!value.isTensor()) {
    throw Error(path, "holds " + describe(value) + ", not a tensor",
                "save the T x D feature tensor itself: torch.save(t, path)");
  }
  at::Tensor t = value.toTensor();
  if (t.layout() != c10::kStrided) {
    throw Error(path, "holds a sparse or otherwise non-dense tensor", "save t.to_dense()");
  }
  if (t.scalar_type() != c10::ScalarType::Float && t.scalar_type() != c10::ScalarType::Half) {
    throw Error(path,
                "holds a " + dtype_text(t.scalar_type()) +
                    " tensor; feature files must be torch.float32 or torch.float16",
                kResave);
  }
  if (t.dim() != 2) {
    throw Error(path,
                "holds a tensor of shape " + sizes_text(t.sizes()) + " (" +
                    std::to_string(t.dim()) +
                    "-D); feature files must be 2-D, T x D (time steps x channels)",
                "save one clip or video per file as a T x D tensor");
  }
  if (!view_fits_storage(t)) {
    throw Error(path, "is corrupted: the tensor's offset and strides reach past its storage",
                "re-create the file");
  }

  const at::Tensor f32 = t.to(torch::kFloat).contiguous();
  FeatureMatrix m(f32.size(0), f32.size(1));
  if (!m.values.empty()) {
    std::memcpy(m.values.data(), f32.data_ptr<float>(), m.values.size() * sizeof(float));
  }
  return m;
}

void write_pt(const std::string& path, const FeatureMatrix& m, DType dtype) {
  if (m.rows < 0 || m.cols < 0 || m.values.size() != static_cast<size_t>(m.rows * m.cols)) {
    throw Error(path,
                "the matrix holds " + std::to_string(m.values.size()) + " values for " +
                    std::to_string(m.rows) + " x " + std::to_string(m.cols),
                "this is a bug in the caller");
  }
  // from_blob borrows the values; to()/clone() make a tensor that owns its own storage, so
  // the file holds exactly T x D elements.
  const at::Tensor view =
      torch::from_blob(const_cast<float*>(m.values.data()), {m.rows, m.cols}, torch::kFloat);
  const at::Tensor t = dtype == DType::F16 ? view.to(torch::kHalf) : view.clone();
  std::vector<char> bytes;
  try {
    bytes = torch::pickle_save(t);
  } catch (const c10::Error& e) {
    throw Error(path, "cannot encode the tensor: " + first_line(e.what_without_backtrace()));
  }
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace asl::data
