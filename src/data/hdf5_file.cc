#include "data/hdf5_file.h"

namespace asl::data::h5 {
namespace {

std::recursive_mutex& library_mutex() {
  static std::recursive_mutex m;
  return m;
}

// Attributes and datasets are read and written the same way; only the calls differ.
enum class Kind { kAttribute, kDataset };

Handle create_object(Kind kind, hid_t loc, const char* name, hid_t type, hid_t space) {
  if (kind == Kind::kAttribute) {
    return Handle(H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  }
  return Handle(H5Dcreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                H5Dclose);
}

// Invalid handle when the object does not exist; throws when it exists but cannot be opened.
Handle open_object(Kind kind, hid_t loc, const char* name) {
  const htri_t exists = kind == Kind::kAttribute ? H5Aexists(loc, name)
                                                 : H5Lexists(loc, name, H5P_DEFAULT);
  if (exists < 0) throw Failure(std::string("cannot look up '") + name + "': " + last_error());
  if (exists == 0) return Handle();
  Handle h = kind == Kind::kAttribute ? Handle(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose)
                                      : Handle(H5Dopen2(loc, name, H5P_DEFAULT), H5Dclose);
  if (!h.valid()) throw Failure(std::string("cannot open '") + name + "': " + last_error());
  return h;
}

Handle object_type(Kind kind, hid_t obj) {
  return Handle(kind == Kind::kAttribute ? H5Aget_type(obj) : H5Dget_type(obj), H5Tclose);
}

Handle object_space(Kind kind, hid_t obj) {
  return Handle(kind == Kind::kAttribute ? H5Aget_space(obj) : H5Dget_space(obj), H5Sclose);
}

herr_t write_object(Kind kind, hid_t obj, hid_t mem_type, const void* buf) {
  return kind == Kind::kAttribute ? H5Awrite(obj, mem_type, buf)
                                  : H5Dwrite(obj, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
}

herr_t read_object(Kind kind, hid_t obj, hid_t mem_type, void* buf) {
  return kind == Kind::kAttribute ? H5Aread(obj, mem_type, buf)
                                  : H5Dread(obj, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
}

Handle vlen_string_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

// scalar: a scalar dataspace; otherwise one dimension of `n`.
Handle make_space(bool scalar, size_t n) {
  if (scalar) return Handle(H5Screate(H5S_SCALAR), H5Sclose);
  const hsize_t dims[1] = {static_cast<hsize_t>(n)};
  return Handle(H5Screate_simple(1, dims, nullptr), H5Sclose);
}

void write_strings(Kind kind, hid_t loc, const char* name, const std::vector<std::string>& values,
                   bool scalar) {
  Handle type = vlen_string_type();
  Handle space = make_space(scalar, values.size());
  Handle obj = create_object(kind, loc, name, type.get(), space.get());
  std::vector<const char*> ptrs;
  ptrs.reserve(values.size());
  for (const auto& v : values) ptrs.push_back(v.c_str());
  if (!obj.valid() || (!ptrs.empty() && write_object(kind, obj.get(), type.get(), ptrs.data()) < 0)) {
    throw Failure(std::string("cannot write '") + name + "': " + last_error());
  }
}

void write_ints(Kind kind, hid_t loc, const char* name, const std::vector<int64_t>& values,
                bool scalar) {
  Handle space = make_space(scalar, values.size());
  Handle obj = create_object(kind, loc, name, H5T_STD_I64LE, space.get());
  if (!obj.valid() ||
      (!values.empty() && write_object(kind, obj.get(), H5T_NATIVE_INT64, values.data()) < 0)) {
    throw Failure(std::string("cannot write '") + name + "': " + last_error());
  }
}

size_t element_count(hid_t space) {
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n < 0) throw Failure("cannot read a dataspace: " + last_error());
  return static_cast<size_t>(n);
}

bool read_strings(Kind kind, hid_t loc, const char* name, std::vector<std::string>& values) {
  Handle obj = open_object(kind, loc, name);
  if (!obj.valid()) return false;
  Handle file_type = object_type(kind, obj.get());
  Handle space = object_space(kind, obj.get());
  if (H5Tget_class(file_type.get()) != H5T_STRING) {
    throw Failure(std::string("'") + name + "' is not a string");
  }
  const size_t n = element_count(space.get());
  values.assign(n, std::string());
  if (n == 0) return true;
  const auto fail = [&] { throw Failure(std::string("cannot read '") + name + "': " + last_error()); };
  if (H5Tis_variable_str(file_type.get()) > 0) {
    Handle mem = vlen_string_type();
    std::vector<char*> ptrs(n, nullptr);
    const bool read = read_object(kind, obj.get(), mem.get(), ptrs.data()) >= 0;
    if (read) {
      for (size_t i = 0; i < n; ++i) values[i] = ptrs[i] ? ptrs[i] : "";
    }
    // HDF5 allocated the strings (also those of a read that failed half-way): free them.
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
    if (!read) fail();
  } else {
    const size_t width = H5Tget_size(file_type.get());
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), width);
    std::vector<char> buf(n * width);
    if (read_object(kind, obj.get(), mem.get(), buf.data()) < 0) fail();
    for (size_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * width, width);
      s.erase(s.find_last_not_of(std::string(" \0", 2)) + 1);  // null- or space-padded
      values[i] = s;
    }
  }
  return true;
}

bool read_ints(Kind kind, hid_t loc, const char* name, std::vector<int64_t>& values) {
  Handle obj = open_object(kind, loc, name);
  if (!obj.valid()) return false;
  Handle file_type = object_type(kind, obj.get());
  Handle space = object_space(kind, obj.get());
  if (H5Tget_class(file_type.get()) != H5T_INTEGER) {
    throw Failure(std::string("'") + name + "' is not an integer");
  }
  values.assign(element_count(space.get()), 0);
  if (!values.empty() && read_object(kind, obj.get(), H5T_NATIVE_INT64, values.data()) < 0) {
    throw Failure(std::string("cannot read '") + name + "': " + last_error());
  }
  return true;
}

herr_t keep_innermost(unsigned n, const H5E_error2_t* err, void* data) {
  if (n == 0 && err->desc) *static_cast<std::string*>(data) = err->desc;
  return 0;
}

}  // namespace

Lock::Lock() : guard_(library_mutex()) {
  // HDF5 1.10 crashes in its exit handler (H5F__close_cb) after a failed raw-data write,
  // e.g. on a full disk, turning a clean error exit into a segfault. Every file the store
  // opens is closed explicitly, so the handler is not needed. Must precede HDF5's start.
  static const bool no_exit_handler = [] { return H5dont_atexit() >= 0; }();
  (void)no_exit_handler;
  thread_local bool silenced = false;
  if (!silenced) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    silenced = true;
  }
}

std::string last_error() {
  std::string message;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, &message);
  H5Eclear2(H5E_DEFAULT);
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';  // errors are one line
  }
  return message.empty() ? "unknown HDF5 error" : message;
}

Handle half_type(H5T_order_t order) {
  // h5py's recipe: a copy of IEEE f32 with the fields of binary16 (sign at bit 15, 5
  // exponent bits at 10, 10 mantissa bits at 0), 2 bytes, exponent bias 15.
  Handle t(H5Tcopy(H5T_IEEE_F32LE), H5Tclose);
  if (!t.valid() || H5Tset_fields(t.get(), 15, 10, 5, 0, 10) < 0 || H5Tset_size(t.get(), 2) < 0 ||
      H5Tset_ebias(t.get(), 15) < 0 || H5Tset_order(t.get(), order) < 0) {
    throw Failure("cannot build the float16 type: " + last_error());
  }
  return t;
}

void write_string_attr(hid_t obj, const char* name, const std::string& value) {
  write_strings(Kind::kAttribute, obj, name, {value}, true);
}
void write_strings_attr(hid_t obj, const char* name, const std::vector<std::string>& values) {
  write_strings(Kind::kAttribute, obj, name, values, false);
}
void write_int_attr(hid_t obj, const char* name, int64_t value) {
  write_ints(Kind::kAttribute, obj, name, {value}, true);
}
void write_ints_attr(hid_t obj, const char* name, const std::vector<int64_t>& values) {
  write_ints(Kind::kAttribute, obj, name, values, false);
}

bool read_string_attr(hid_t obj, const char* name, std::string& value) {
  std::vector<std::string> v;
  if (!read_strings(Kind::kAttribute, obj, name, v)) return false;
  if (v.size() != 1) throw Failure(std::string("'") + name + "' is not a single string");
  value = v[0];
  return true;
}
bool read_strings_attr(hid_t obj, const char* name, std::vector<std::string>& values) {
  return read_strings(Kind::kAttribute, obj, name, values);
}
bool read_int_attr(hid_t obj, const char* name, int64_t& value) {
  std::vector<int64_t> v;
  if (!read_ints(Kind::kAttribute, obj, name, v)) return false;
  if (v.size() != 1) throw Failure(std::string("'") + name + "' is not a single integer");
  value = v[0];
  return true;
}
bool read_ints_attr(hid_t obj, const char* name, std::vector<int64_t>& values) {
  return read_ints(Kind::kAttribute, obj, name, values);
}

void write_strings_dataset(hid_t loc, const char* name, const std::vector<std::string>& values) {
  write_strings(Kind::kDataset, loc, name, values, false);
}
void write_ints_dataset(hid_t loc, const char* name, const std::vector<int64_t>& values) {
  write_ints(Kind::kDataset, loc, name, values, false);
}
bool read_strings_dataset(hid_t loc, const char* name, std::vector<std::string>& values) {
  return read_strings(Kind::kDataset, loc, name, values);
}
bool read_ints_dataset(hid_t loc, const char* name, std::vector<int64_t>& values) {
  return read_ints(Kind::kDataset, loc, name, values);
}

}  // namespace asl::data::h5
