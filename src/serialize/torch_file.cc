#include "serialize/torch_file.h"

#include <cstring>

#include "core/error.h"
#include "core/strings.h"
#include "serialize/zip_writer.h"

namespace asl::serialize {
namespace {

constexpr const char* kResaveFix =
    "re-save it in Python with torch.save(obj, path) (zip format, PyTorch 1.6 or newer)";

// The pickle opcodes torch_save_bytes writes (protocol 2).
void put_int(std::string& p, int64_t v) {
  if (v >= 0 && v < 256) {
    p += 'K';
    p += static_cast<char>(v);
  } else if (v >= 0 && v < 65536) {
    p += 'M';
    p += static_cast<char>(v & 0xFF);
    p += static_cast<char>(v >> 8);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    p += 'J';
    for (int i = 0; i < 4; ++i) p += static_cast<char>((static_cast<uint32_t>(v) >> (8 * i)) & 0xFF);
  } else {
    p += '\x8a';  // LONG1, 8 bytes little-endian two's complement
    p += '\x08';
    for (int i = 0; i < 8; ++i) p += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF);
  }
}

void put_string(std::string& p, const std::string& s) {
  p += 'X';  // BINUNICODE
  for (int i = 0; i < 4; ++i) p += static_cast<char>((s.size() >> (8 * i)) & 0xFF);
  p += s;
}

void put_int_tuple(std::string& p, const std::vector<int64_t>& values) {
  p += '(';
  for (int64_t v : values) put_int(p, v);
  p += 't';
}

std::string storage_class(ElementType type) {
  switch (type) {
    case ElementType::kFloat: return "FloatStorage";
    case ElementType::kDouble: return "DoubleStorage";
    case ElementType::kHalf: return "HalfStorage";
    case ElementType::kBFloat16: return "BFloat16Storage";
    case ElementType::kLong: return "LongStorage";
    case ElementType::kInt: return "IntStorage";
    case ElementType::kShort: return "ShortStorage";
    case ElementType::kChar: return "CharStorage";
    case ElementType::kByte: return "ByteStorage";
    case ElementType::kBool: return "BoolStorage";
    case ElementType::kComplexFloat: return "ComplexFloatStorage";
    case ElementType::kComplexDouble: return "ComplexDoubleStorage";
  }
  return "ByteStorage";
}

// Copies the strided view at `src` (element `offset` of a storage) to `dst` row-major.
void gather(const char* storage, const TensorRef& ref, int64_t item, char* dst) {
  const size_t dims = ref.sizes.size();
  if (ref.numel() == 0) return;
  std::vector<int64_t> index(dims, 0);
  const int64_t inner = dims ? ref.sizes.back() : 1;
  const int64_t inner_stride = dims ? ref.strides.back() : 1;
  int64_t base = ref.offset;
  while (true) {
    if (inner_stride == 1) {
      std::memcpy(dst, storage + base * item, static_cast<size_t>(inner * item));
      dst += inner * item;
    } else {
      for (int64_t i = 0; i < inner; ++i, dst += item) {
        std::memcpy(dst, storage + (base + i * inner_stride) * item, static_cast<size_t>(item));
      }
    }
    // Next index of the outer dimensions (an odometer), moving `base` along.
    size_t d = dims > 0 ? dims - 1 : 0;
    while (d-- > 0) {
      base += ref.strides[d];
      if (++index[d] < ref.sizes[d]) break;
      base -= ref.strides[d] * ref.sizes[d];
      index[d] = 0;
    }
    if (d == static_cast<size_t>(-1)) return;
  }
}

}  // namespace

TorchFile::TorchFile(const std::string& path) : zip_(path) {
  if (!zip_.has("data.pkl")) {
    throw Error(path, "is a zip file without data.pkl, not a torch.save file (a TorchScript module?)",
                kResaveFix);
  }
  if (zip_.has("byteorder")) {
    const std::string order = zip_.read("byteorder");
    if (order != "little") {
      throw Error(path, "stores tensors in " + order + "-endian byte order", kResaveFix);
    }
  }
  root_ = unpickle(zip_.read("data.pkl"), path);
}

void TorchFile::read_contiguous(const TensorRef& ref, const std::string& what, void* dst) const {
  bool fits = ref.offset >= 0 && ref.storage_numel >= 0 && ref.sizes.size() == ref.strides.size();
  int64_t last = ref.offset;  // highest element index reached
  for (size_t i = 0; i < ref.sizes.size() && fits; ++i) {
    if (ref.sizes[i] < 0 || ref.strides[i] < 0) fits = false;
    else if (ref.sizes[i] == 0) last = -1;
    else if (last >= 0) last += (ref.sizes[i] - 1) * ref.strides[i];
  }
  if (!fits || last >= ref.storage_numel) {
    throw Error(path(), what + ": the tensor's offset, sizes " + shape_text(ref.sizes) +
                            " and strides reach past its storage (corrupted)",
                "re-create the file");
  }
  const int64_t item = element_size(ref.type);
  const uint64_t storage_bytes = static_cast<uint64_t>(ref.storage_numel * item);
  bool contiguous = ref.offset == 0 && ref.numel() == ref.storage_numel;
  for (int64_t expect = 1, d = static_cast<int64_t>(ref.sizes.size()) - 1; d >= 0 && contiguous; --d) {
    if (ref.sizes[d] != 1 && ref.strides[d] != expect) contiguous = false;
    expect *= ref.sizes[d];
  }
  if (contiguous) {
    zip_.read(ref.storage, dst, storage_bytes);
    return;
  }
  std::string storage(storage_bytes, '\0');
  zip_.read(ref.storage, storage.data(), storage_bytes);
  gather(storage.data(), ref, item, static_cast<char*>(dst));
}

std::string torch_save_bytes(ElementType type, const std::vector<int64_t>& sizes, const void* data) {
  int64_t numel = 1;
  for (int64_t s : sizes) numel *= s;
  std::vector<int64_t> strides(sizes.size());
  for (int64_t expect = 1, d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    strides[d] = expect;
    expect *= sizes[d];
  }
  // torch._utils._rebuild_tensor_v2(storage, offset, sizes, strides, requires_grad, hooks)
  // with the storage a persistent id ('storage', torch.<Type>Storage, '0', 'cpu', numel).
  std::string p = "\x80\x02";
  p += "ctorch._utils\n_rebuild_tensor_v2\n";
  p += "((";
  put_string(p, "storage");
  p += "ctorch\n" + storage_class(type) + "\n";
  put_string(p, "0");
  put_string(p, "cpu");
  put_int(p, numel);
  p += "tQ";  // TUPLE, BINPERSID
  put_int(p, 0);
  put_int_tuple(p, sizes);
  put_int_tuple(p, strides);
  p += '\x89';  // NEWFALSE: requires_grad
  p += "ccollections\nOrderedDict\n)R";
  p += "tR.";
  ZipWriter zip("archive");
  zip.add("data.pkl", p);
  zip.add("byteorder", "little");
  zip.add("data/0", data, static_cast<size_t>(numel * element_size(type)));
  zip.add("version", "3\n");
  return zip.finish();
}

}  // namespace asl::serialize
