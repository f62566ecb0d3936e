// The torch.save reader (model/state_dict.h) and `asl import` (model/import.h), on files made
// by Python (tests/model/golden/, see make_golden.py) and variants written here with
// torch::pickle_save (the same zip/pickle format).
#include <gtest/gtest.h>

#include "common/test_util.h"
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "model/import.h"
#include "model/native_checkpoint.h"

namespace asl::model {
namespace {

using asl::testing::error_of;

const std::string kGolden = std::string(ASL_SOURCE_DIR) + "/tests/model/golden/";

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "asl_import_" + name;
}

// The message of the asl::Error `fn` throws ("" if none).
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(),
                                                                static_cast<std::streamsize>(bytes.size()));
}

// The reference checkpoint's `section`, read ("module." names, file order).
NamedTensors reference_section(const std::string& section) {
  const TorchFile file(kGolden + "reference.pth.tar");
  NamedTensors out;
  for (const auto& [name, ref] : tensor_entries(file, *file.root().get(section), section)) {
    out.emplace_back(name, load_tensor(file, *ref, name));
  }
  return out;
}

std::map<std::string, at::Tensor> as_map(const NamedTensors& v) {
  return std::map<std::string, at::Tensor>(v.begin(), v.end());
}

c10::Dict<std::string, at::Tensor> to_dict(const NamedTensors& v) {
  c10::Dict<std::string, at::Tensor> d;
  for (const auto& [name, t] : v) d.insert(name, t);
  return d;
}

// torch.save({'epoch': 7, section: state, ...}) written from C++.
void write_checkpoint(const std::string& path,
                      const std::vector<std::pair<std::string, NamedTensors>>& sections) {
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert("epoch", int64_t{7});
  for (const auto& [name, state] : sections) root.insert(name, to_dict(state));
  const std::vector<char> bytes = torch::pickle_save(root);
  write_bytes(path, std::string(bytes.begin(), bytes.end()));
}

config::Config golden_config() { return config::load_config(kGolden + "config.yaml"); }

// Names of the parameters that receive a gradient in the reference (golden.pt's grad.*).
std::set<std::string> reference_live_names() {
  std::set<std::string> live;
  for (const auto& [name, t] : read_tensor_dict(kGolden + "golden.pt")) {
    if (name.rfind("grad.", 0) == 0) live.insert(name.substr(5));
  }
  return live;
}

// ---------------------------------------------------------------------------------------
// Reading torch.save files
// ---------------------------------------------------------------------------------------

TEST(TorchFile, ReadsAFlatTensorDict) {
  const auto g = as_map(read_tensor_dict(kGolden + "golden.pt"));
  const at::Tensor feats = g.at("input.feats");
  EXPECT_EQ(feats.sizes(), (std::vector<int64_t>{2, 20, 64}));
  EXPECT_EQ(feats.scalar_type(), at::kFloat);
  const at::Tensor lengths = g.at("input.lengths");
  ASSERT_EQ(lengths.scalar_type(), at::kLong);
  EXPECT_EQ(lengths[0].item<int64_t>(), 64);
  EXPECT_EQ(lengths[1].item<int64_t>(), 45);
  // The stored mask is t < length, and the padding of the features is zero.
  const at::Tensor masks = g.at("input.masks");
  ASSERT_EQ(masks.scalar_type(), at::kBool);
  EXPECT_TRUE(masks.equal(at::arange(64).unsqueeze(0) < lengths.unsqueeze(1)));
  EXPECT_EQ(feats.index({1, at::indexing::Slice(), at::indexing::Slice(45)}).abs().sum().item<float>(), 0.f);
  // A Python float saved as float64: 0.9 * 100 + 0.1 * num_pos.
  const at::Tensor norm = g.at("loss.normalizer");
  EXPECT_EQ(norm.scalar_type(), at::kDouble);
  EXPECT_EQ(norm.dim(), 0);
  EXPECT_DOUBLE_EQ(norm.item<double>(), 0.9 * 100 + 0.1 * static_cast<double>(g.at("loss.num_pos").item<int64_t>()));
}

TEST(TorchFile, ReadsThePickleOfNestedPythonValues) {
  const TorchFile f(kGolden + "pickle_cases.pt");
  const PyValue& root = f.root();
  ASSERT_EQ(root.kind, PyValue::Kind::kDict);

  // A view into a shared storage keeps its offset and strides.
  const PyValue* base = root.get("base");
  const PyValue* view = root.get("view");
  ASSERT_TRUE(base && view && view->kind == PyValue::Kind::kTensor);
  EXPECT_EQ(view->tensor->storage, base->tensor->storage);
  EXPECT_EQ(view->tensor->offset, 4);
  EXPECT_EQ(view->tensor->strides, (std::vector<int64_t>{4, 2}));
  EXPECT_TRUE(load_tensor(f, *base->tensor, "base").equal(at::arange(12, at::kFloat).view({3, 4})));
  const at::Tensor v = load_tensor(f, *view->tensor, "view");
  EXPECT_TRUE(v.equal(at::tensor({4.f, 6.f, 8.f, 10.f}).view({2, 2})));
  EXPECT_TRUE(v.is_contiguous());
  EXPECT_EQ(v.storage().nbytes(), 4 * sizeof(float));  // owns only its own elements

  // A one-key dict (SETITEM).
  const PyValue* one = root.get("one_key");
  ASSERT_TRUE(one && one->entries.size() == 1);
  EXPECT_TRUE(load_tensor(f, *one->get("only")->tensor, "only").equal(at::tensor({1.5f})));

  // A state_dict: OrderedDict with _metadata (BUILD); the metadata is not an entry.
  const NamedTensorRefs state = tensor_entries(f, *root.get("state"), "state");
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].first, "weight");
  EXPECT_TRUE(load_tensor(f, *state[0].second, "w").equal(at::arange(6, at::kFloat).view({3, 2}) / 4));
  EXPECT_TRUE(load_tensor(f, *state[1].second, "b").equal(at::tensor({-1.f, 0.f, 1.f})));

  const PyValue* numbers = root.get("numbers");
  ASSERT_TRUE(numbers && numbers->kind == PyValue::Kind::kList);
  ASSERT_EQ(numbers->items.size(), 12u);
  const std::vector<int64_t> ints = {0, -1, 255, 65535, 65536, -(int64_t{1} << 40), int64_t{1} << 62};
  for (size_t i = 0; i < ints.size(); ++i) {
    EXPECT_EQ(numbers->items[i]->kind, PyValue::Kind::kInt) << i;
    EXPECT_EQ(numbers->items[i]->integer, ints[i]) << i;
  }
  EXPECT_EQ(numbers->items[7]->number, 1.25);
  EXPECT_EQ(numbers->items[8]->number, -0.5);
  EXPECT_TRUE(numbers->items[9]->boolean);
  EXPECT_EQ(numbers->items[10]->kind, PyValue::Kind::kBool);
  EXPECT_FALSE(numbers->items[10]->boolean);
  EXPECT_EQ(numbers->items[11]->kind, PyValue::Kind::kNone);

  const PyValue* c = root.get("containers");
  ASSERT_TRUE(c && c->kind == PyValue::Kind::kTuple && c->items.size() == 5);
  EXPECT_EQ(c->items[0]->text, "text");
  EXPECT_EQ(c->items[1]->items.size(), 2u);
  EXPECT_EQ(c->items[2]->kind, PyValue::Kind::kList);  // a set, kept as a list
  EXPECT_EQ(c->items[2]->items.at(0)->integer, 3);
  EXPECT_EQ(c->items[3]->items.at(0)->kind, PyValue::Kind::kList);
  EXPECT_EQ(c->items[4]->kind, PyValue::Kind::kDict);

  // An object of a class the reader does not model stays an opaque object.
  EXPECT_EQ(root.get("object")->describe(), "an object of class torch.device");

  EXPECT_TRUE(load_tensor(f, *root.get("half")->tensor, "half").equal(at::tensor({1.f, -2.f}).to(at::kHalf)));
  EXPECT_EQ(load_tensor(f, *root.get("empty")->tensor, "empty").sizes(), (std::vector<int64_t>{0, 3}));
  const at::Tensor l = load_tensor(f, *root.get("long")->tensor, "long");
  EXPECT_EQ(l[0].item<int64_t>(), -3);
  EXPECT_EQ(l[1].item<int64_t>(), int64_t{1} << 40);

  const std::string e = error_of([&] { tensor_entries(f, *root.get("numbers"), "numbers"); });
  EXPECT_NE(e.find("numbers is a list, not a dict of tensors"), std::string::npos) << e;
}

TEST(TorchFile, ReadsWhatLibTorchWrites) {
  const at::Tensor base = at::arange(20, at::kFloat).view({4, 5});
  const NamedTensors state = {{"a", base}, {"b.c", base.narrow(1, 1, 3)}, {"d", at::ones({2}, at::kDouble)}};
  const std::string path = temp_path("libtorch.pt");
  write_checkpoint(path, {{"state_dict", state}});
  const TorchFile f(path);
  EXPECT_EQ(f.root().get("epoch")->integer, 7);
  const NamedTensorRefs refs = tensor_entries(f, *f.root().get("state_dict"), "state_dict");
  ASSERT_EQ(refs.size(), 3u);
  for (size_t i = 0; i < refs.size(); ++i) {
    EXPECT_EQ(refs[i].first, state[i].first);
    EXPECT_TRUE(load_tensor(f, *refs[i].second, refs[i].first).equal(state[i].second)) << refs[i].first;
  }
}

// Files over 4 GB keep their directory's size and place only in the zip64 end record
// (checked by hand on a 4.6 GB checkpoint, docs/parity.md); here the 32-bit fields of a
// small file are saturated the same way, leaving the zip64 record the only source.
TEST(TorchFile, ReadsTheZip64EndRecord) {
  std::string bytes = read_file(kGolden + "reference.pth.tar");
  const size_t eocd = bytes.rfind(std::string("PK\x05\x06", 4));
  ASSERT_NE(eocd, std::string::npos);
  ASSERT_NE(bytes.rfind(std::string("PK\x06\x06", 4)), std::string::npos);  // torch writes one
  for (size_t i = 8; i < 20; ++i) bytes[eocd + i] = '\xff';
  const std::string path = temp_path("zip64.pth.tar");
  write_bytes(path, bytes);
  const TorchFile f(path);
  const NamedTensorRefs refs = tensor_entries(f, *f.root().get("state_dict"), "state_dict");
  const NamedTensors expected = reference_section("state_dict");
  ASSERT_EQ(refs.size(), expected.size());
  EXPECT_TRUE(load_tensor(f, *refs.back().second, "last").equal(expected.back().second));
}

TEST(TorchFile, BadFilesNameThePathAndTheProblem) {
  const std::string missing = temp_path("missing.pt");
  EXPECT_NE(error_of([&] { TorchFile f(missing); }).find(missing + ": cannot open"), std::string::npos);

  const std::string empty = temp_path("empty.pt");
  write_bytes(empty, "");
  EXPECT_NE(error_of([&] { TorchFile f(empty); }).find("truncated"), std::string::npos);

  const std::string text = temp_path("text.pt");
  write_bytes(text, "epoch: 7\n");
  EXPECT_NE(error_of([&] { TorchFile f(text); }).find("not a PyTorch file written by torch.save"),
            std::string::npos);

  const std::string legacy = temp_path("legacy.pt");
  write_bytes(legacy, std::string("\x80\x02}q\x00.", 6));  // pickle protocol 2, no zip
  EXPECT_NE(error_of([&] { TorchFile f(legacy); }).find("legacy (pre-1.6"), std::string::npos);

  const std::string golden = read_file(kGolden + "golden.pt");
  const std::string truncated = temp_path("truncated.pt");
  write_bytes(truncated, golden.substr(0, golden.size() / 2));
  const std::string e1 = error_of([&] { read_tensor_dict(truncated); });
  EXPECT_EQ(e1.rfind(truncated + ": is truncated or corrupted", 0), 0u) << e1;

  // One flipped byte in the tensor data: caught by the record's CRC-32.
  const TorchFile intact(kGolden + "golden.pt");
  const TensorRef& feats = *intact.root().get("input.feats")->tensor;
  std::string flipped = golden;
  const size_t at = golden.find(std::string(static_cast<const char*>(load_tensor(intact, feats, "f").data_ptr()), 64));
  ASSERT_NE(at, std::string::npos);
  flipped[at + 10] = static_cast<char>(flipped[at + 10] ^ 0x40);
  const std::string corrupted = temp_path("corrupted.pt");
  write_bytes(corrupted, flipped);
  const std::string e2 = error_of([&] { read_tensor_dict(corrupted); });
  EXPECT_NE(e2.find(corrupted + ": is corrupted: the data of its zip record golden/data/"), std::string::npos) << e2;
  EXPECT_NE(e2.find("CRC-32"), std::string::npos) << e2;
}

// ---------------------------------------------------------------------------------------
// asl import
// ---------------------------------------------------------------------------------------

TEST(Import, DeadKeyGroups) {
  EXPECT_EQ(dead_key_group("backbone_m.stem.0.ln1.weight", true), "backbone_m.*");
  EXPECT_EQ(dead_key_group("neck_m.fpn_norms.0.bias", true), "neck_m.*");
  EXPECT_EQ(dead_key_group("seg_conv.cls_head.conv.weight", true), "seg_conv.*");
  EXPECT_EQ(dead_key_group("backbone.branch.3.channel_attn.attn.qkv.weight", true),
            "backbone.branch.*.channel_attn.*");
  EXPECT_EQ(dead_key_group("backbone.stem.1.channel_attn.norm1.bias", true), "*.channel_attn.norm1.*");
  EXPECT_EQ(dead_key_group("backbone.downsample_conv.conv.weight", true), "backbone.downsample_conv.*");
  EXPECT_EQ(dead_key_group("backbone.xlnet.word_embedding.weight", true), "backbone.xlnet.word_embedding.*");
  EXPECT_EQ(dead_key_group("backbone.xlnet.mask_emb", true), "backbone.xlnet.mask_emb");
  EXPECT_EQ(dead_key_group("backbone.xlnet.layer.0.rel_attn.r_s_bias", true),
            "backbone.xlnet.layer.*.rel_attn.r_s_bias");
  EXPECT_EQ(dead_key_group("backbone.xlnet.layer.0.rel_attn.seg_embed", true),
            "backbone.xlnet.layer.*.rel_attn.seg_embed");
  // live
  EXPECT_EQ(dead_key_group("backbone.stem.1.channel_attn.norm2.bias", true), "");
  EXPECT_EQ(dead_key_group("backbone.stem.0.channel_attn.attn.qkv.weight", true), "");
  EXPECT_EQ(dead_key_group("backbone.xlnet.layer.0.rel_attn.r_r_bias", true), "");
  EXPECT_EQ(dead_key_group("mu", true), "");
  // without XLNet the whole layer is dead
  EXPECT_EQ(dead_key_group("backbone.xlnet.layer.0.rel_attn.q", false), "backbone.xlnet.* (use_xl false)");
}

TEST(Import, MapsTheReferenceCheckpointOntoTheModel) {
  const std::string out = temp_path("imported.ckpt");
  const ImportReport r = import_reference_checkpoint(kGolden + "reference.pth.tar", golden_config(), out);
  EXPECT_EQ(r.sections, (std::vector<std::string>{"state_dict", "state_dict_ema"}));
  EXPECT_EQ(r.epoch, 7);

  // Live = the parameters that get a gradient in the reference; dead = every other key.
  const std::set<std::string> live = reference_live_names();
  const NamedTensors state = reference_section("state_dict");
  std::set<std::string> dead;
  for (const auto& [key, t] : state) {
    if (!live.count(key.substr(7))) dead.insert(key.substr(7));
  }
  EXPECT_EQ(r.live_tensors, static_cast<int64_t>(live.size()));
  EXPECT_EQ(std::set<std::string>(r.dead.begin(), r.dead.end()), dead);
  EXPECT_EQ(r.dead.size() + live.size(), state.size());
  EXPECT_EQ(r.imported_line(), "imported " + std::to_string(live.size()) + " live tensors (" +
                                   "120,969 values) from state_dict and state_dict_ema (epoch 7)");
  const std::string line = r.dead_line();
  EXPECT_EQ(line.find('\n'), std::string::npos);
  for (const char* group : {"backbone_m.* ", "neck_m.* ", "seg_conv.* ", "backbone.branch.*.channel_attn.* ",
                            "*.channel_attn.norm1.* 4", "backbone.downsample_conv.* 1",
                            "backbone.xlnet.word_embedding.* 1", "backbone.xlnet.mask_emb 1"}) {
    EXPECT_NE(line.find(group), std::string::npos) << group << " in " << line;
  }

  // The native checkpoint holds exactly the live tensors, bit for bit.
  const NativeWeights w = read_native_weights(out);
  EXPECT_EQ(w.epoch, 7);
  EXPECT_EQ(w.source, "asl import reference.pth.tar");
  const auto ref = as_map(state);
  const auto ref_ema = as_map(reference_section("state_dict_ema"));
  ASSERT_EQ(w.model.size(), live.size());
  ASSERT_EQ(w.model_ema.size(), live.size());
  int64_t ema_differs = 0;
  for (size_t i = 0; i < w.model.size(); ++i) {
    const std::string& name = w.model[i].first;
    ASSERT_TRUE(live.count(name)) << name;
    EXPECT_TRUE(w.model[i].second.equal(ref.at("module." + name))) << name;
    ASSERT_EQ(w.model_ema[i].first, name);
    EXPECT_TRUE(w.model_ema[i].second.equal(ref_ema.at("module." + name))) << name;
    ema_differs += !w.model_ema[i].second.equal(w.model[i].second);
  }
  EXPECT_GT(ema_differs, 0);
}

struct BadCheckpoint : ::testing::Test {
  std::string ckpt = temp_path("bad.pth.tar");
  std::string out = temp_path("bad_out.ckpt");
  NamedTensors state = reference_section("state_dict");

  void SetUp() override { std::remove(out.c_str()); }

  at::Tensor& tensor(const std::string& key) {
    for (auto& [name, t] : state) {
      if (name == key) return t;
    }
    throw std::runtime_error("no key " + key);
  }
  // Imports `state` as {'epoch', 'state_dict'}; returns the error message.
  std::string import_error() {
    write_checkpoint(ckpt, {{"state_dict", state}});
    return error_of([&] { import_reference_checkpoint(ckpt, golden_config(), out); });
  }
};

TEST_F(BadCheckpoint, ARenamedLiveKeyFailsNamingItAndWritesNothing) {
  for (auto& [name, t] : state) {
    if (name == "module.backbone.embd.0.conv.weight") name = "module.backbone.embd.0.conv.weight_renamed";
  }
  const std::string e = import_error();
  EXPECT_EQ(e.rfind(ckpt + ": state_dict does not fit the model of this config: ", 0), 0u) << e;
  EXPECT_NE(e.find("missing live key backbone.embd.0.conv.weight;"), std::string::npos) << e;
  EXPECT_NE(e.find("unexpected key backbone.embd.0.conv.weight_renamed"), std::string::npos) << e;
  EXPECT_FALSE(path_exists(out));
}

TEST_F(BadCheckpoint, AMisShapedLiveKeyFailsNamingItAndKeepsAnOldOutput) {
  write_bytes(out, "old checkpoint");
  tensor("module.cls_head.cls_head.conv.weight") = at::zeros({6, 32, 3});
  const std::string e = import_error();
  EXPECT_NE(e.find("key cls_head.cls_head.conv.weight has shape [6, 32, 3], the model expects [5, 32, 3]"),
            std::string::npos) << e;
  EXPECT_EQ(read_file(out), "old checkpoint");
}

TEST_F(BadCheckpoint, AnIntegerOrNonFiniteLiveKeyFails) {
  tensor("module.mu") = at::zeros({5, 1}, at::kLong);
  EXPECT_NE(import_error().find("key mu holds Long values, not floating point"), std::string::npos);
  tensor("module.mu") = at::full({5, 1}, std::nan(""));
  EXPECT_NE(import_error().find(ckpt + ": state_dict.mu holds NaN or Inf values"), std::string::npos);
  EXPECT_FALSE(path_exists(out));
}

TEST_F(BadCheckpoint, AnUnknownKeyFails) {
  state.emplace_back("module.backbone.extra.weight", at::zeros({2}));
  EXPECT_NE(import_error().find("unexpected key backbone.extra.weight (neither a parameter of this "
                                "model nor a known dead part)"),
            std::string::npos);
  EXPECT_FALSE(path_exists(out));
}

TEST_F(BadCheckpoint, TheWrongConfigFailsListingTheProblems) {
  write_checkpoint(ckpt, {{"state_dict", state}});
  const config::Config demo = config::load_config(std::string(ASL_SOURCE_DIR) + "/configs/demo.yaml");
  const std::string e = error_of([&] { import_reference_checkpoint(ckpt, demo, out); });
  EXPECT_NE(e.find("the model expects"), std::string::npos) << e;
  EXPECT_NE(e.find(" more missing live keys"), std::string::npos) << e;  // counted, not all listed
  EXPECT_NE(e.find(" more mis-shaped or mis-typed keys"), std::string::npos) << e;
  EXPECT_NE(e.find("(use the config the checkpoint was trained with (--config))"), std::string::npos) << e;
  EXPECT_FALSE(path_exists(out));
}

TEST_F(BadCheckpoint, ACheckpointWithoutWeightsFails) {
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert("epoch", int64_t{3});
  const std::vector<char> bytes = torch::pickle_save(root);
  write_bytes(ckpt, std::string(bytes.begin(), bytes.end()));
  const std::string e = error_of([&] { import_reference_checkpoint(ckpt, golden_config(), out); });
  EXPECT_NE(e.find(ckpt + ": has neither state_dict nor state_dict_ema"), std::string::npos) << e;
  EXPECT_FALSE(path_exists(out));
}

TEST_F(BadCheckpoint, EmaOnlyAndBareStateDictsImport) {
  // Only state_dict_ema: the model weights are the EMA weights.
  write_checkpoint(ckpt, {{"state_dict_ema", state}});
  ImportReport r = import_reference_checkpoint(ckpt, golden_config(), out);
  EXPECT_EQ(r.sections, (std::vector<std::string>{"state_dict_ema"}));
  NativeWeights w = read_native_weights(out);
  ASSERT_EQ(w.model.size(), w.model_ema.size());
  EXPECT_TRUE(w.model[0].second.equal(w.model_ema[0].second));

  // torch.save(model.state_dict()) without DataParallel: no prefix, no EMA.
  NamedTensors bare;
  for (const auto& [name, t] : state) bare.emplace_back(name.substr(7), t);
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(to_dict(bare)));
  write_bytes(ckpt, std::string(bytes.begin(), bytes.end()));
  r = import_reference_checkpoint(ckpt, golden_config(), out);
  EXPECT_EQ(r.epoch, -1);
  w = read_native_weights(out);
  EXPECT_TRUE(w.model_ema.empty());
  EXPECT_EQ(w.model.size(), reference_live_names().size());
}

TEST(NativeCheckpoint, RejectsOtherFiles) {
  const std::string e = error_of([] { read_native_weights(kGolden + "reference.pth.tar"); });
  EXPECT_EQ(e.rfind(kGolden + "reference.pth.tar: ", 0), 0u) << e;
  const std::string missing = temp_path("no.ckpt");
  EXPECT_NE(error_of([&] { read_native_weights(missing); }).find(missing + ": no such checkpoint"),
            std::string::npos);
}

}  // namespace
}  // namespace asl::model
