// Config loader: reference defaults, derived fields, overrides, every error kind.
#include <gtest/gtest.h>

#include "common/test_util.h"

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"

namespace asl::config {
namespace {

using asl::testing::error_of;

const std::string kConfigs = std::string(ASL_SOURCE_DIR) + "/configs/";

Config load_text(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  return load_config_text(yaml, "test.yaml", overrides);
}

// The message of the asl::Error thrown by f (fails the test if none is thrown).
// ---- defaults: ego4d_asl libs/core/config.py DEFAULTS ----

TEST(ConfigDefaults, MatchTheReferenceDefaults) {
  const Config c = load_text("dataset_name: ego4d\n");
  EXPECT_EQ(c.init_rand_seed, 765421321);
  EXPECT_EQ(c.dataset_name, "ego4d");
  EXPECT_EQ(c.devices, std::vector<std::string>{"cuda:0"});
  EXPECT_EQ(c.train_split, std::vector<std::string>{"training"});
  EXPECT_EQ(c.val_split, std::vector<std::string>{"validation"});
  EXPECT_EQ(c.model_name, "LocPointTransformer");

  EXPECT_EQ(c.dataset.feat_stride, 16);
  EXPECT_EQ(c.dataset.num_frames, 32);
  EXPECT_FALSE(c.dataset.default_fps.has_value());
  EXPECT_EQ(c.dataset.input_dim.values, std::vector<int64_t>{2304});
  EXPECT_FALSE(c.dataset.input_dim.is_list);
  EXPECT_EQ(c.dataset.num_classes, 97);
  EXPECT_EQ(c.dataset.downsample_rate, 1);
  EXPECT_EQ(c.dataset.max_seq_len, 2304);
  EXPECT_DOUBLE_EQ(c.dataset.trunc_thresh, 0.5);
  EXPECT_FALSE(c.dataset.crop_ratio.has_value());
  EXPECT_FALSE(c.dataset.force_upsampling);

  EXPECT_EQ(c.loader.batch_size, 8);
  EXPECT_EQ(c.loader.num_workers, 2);

  const ModelConfig& m = c.model;
  EXPECT_TRUE(m.use_xl);
  EXPECT_EQ(m.backbone_type, "convTransformer");
  EXPECT_EQ(m.fpn_type, "identity");
  EXPECT_EQ(m.backbone_arch, (std::vector<int64_t>{2, 2, 5}));
  EXPECT_EQ(m.scale_factor, 2);
  ASSERT_EQ(m.regression_range.size(), 6u);
  EXPECT_EQ(m.regression_range[1], (Range{4, 8}));
  EXPECT_EQ(m.regression_range[5], (Range{64, 10000}));
  EXPECT_EQ(m.n_head, 4);
  EXPECT_EQ(m.n_mha_win_size.values, std::vector<int64_t>{-1});
  EXPECT_EQ(m.embd_kernel_size, 3);
  EXPECT_EQ(m.embd_dim.values, std::vector<int64_t>{512});
  EXPECT_TRUE(m.embd_with_ln);
  EXPECT_EQ(m.fpn_dim, 512);
  EXPECT_TRUE(m.fpn_with_ln);
  EXPECT_EQ(m.fpn_start_level, 0);
  EXPECT_EQ(m.head_dim, 512);
  EXPECT_EQ(m.head_kernel_size, 3);
  EXPECT_EQ(m.head_num_layers, 3);
  EXPECT_TRUE(m.head_with_ln);
  EXPECT_DOUBLE_EQ(m.max_buffer_len_factor, 6.0);
  EXPECT_FALSE(m.use_abs_pe);
  EXPECT_FALSE(m.use_rel_pe);

  const TrainConfig& t = c.train_cfg;
  EXPECT_EQ(t.center_sample, "radius");
  EXPECT_DOUBLE_EQ(t.center_sample_radius, 1.5);
  EXPECT_DOUBLE_EQ(t.loss_weight, 1.0);
  EXPECT_DOUBLE_EQ(t.cls_prior_prob, 0.01);
  EXPECT_DOUBLE_EQ(t.init_loss_norm, 2000);
  EXPECT_DOUBLE_EQ(t.clip_grad_l2norm, -1);
  EXPECT_TRUE(t.head_empty_cls.empty());
  EXPECT_DOUBLE_EQ(t.dropout, 0.0);
  EXPECT_DOUBLE_EQ(t.droppath, 0.1);
  EXPECT_DOUBLE_EQ(t.label_smoothing, 0.0);
  EXPECT_DOUBLE_EQ(t.t_c_alpha, 0.8);
  EXPECT_FALSE(t.use_dcn);
  EXPECT_EQ(t.dcn_start_layer, -1);
  EXPECT_DOUBLE_EQ(t.al_loss_weight, 0.0);
  EXPECT_DOUBLE_EQ(t.temperature, 0.07);
  EXPECT_EQ(t.queue_size, 256);
  EXPECT_DOUBLE_EQ(t.length_theta, 0.2);
  EXPECT_EQ(t.num_bins, 16);
  EXPECT_DOUBLE_EQ(t.iou_weight_power, 1.0);

  const TestConfig& te = c.test_cfg;
  EXPECT_DOUBLE_EQ(te.pre_nms_thresh, 0.001);
  EXPECT_EQ(te.pre_nms_topk, 5000);
  EXPECT_DOUBLE_EQ(te.iou_threshold, 0.1);
  EXPECT_DOUBLE_EQ(te.min_score, 0.01);
  EXPECT_EQ(te.max_seg_num, 1000);
  EXPECT_EQ(te.nms_method, "soft");
  EXPECT_DOUBLE_EQ(te.nms_sigma, 0.5);
  EXPECT_DOUBLE_EQ(te.duration_thresh, 0.05);
  EXPECT_TRUE(te.multiclass_nms);
  EXPECT_FALSE(te.ext_score_file.has_value());
  EXPECT_DOUBLE_EQ(te.voting_thresh, 0.75);

  const OptConfig& o = c.opt;
  EXPECT_EQ(o.type, "AdamW");
  EXPECT_DOUBLE_EQ(o.momentum, 0.9);
  EXPECT_DOUBLE_EQ(o.weight_decay, 0.0);
  EXPECT_DOUBLE_EQ(o.learning_rate, 1e-3);
  EXPECT_EQ(o.epochs, 30);
  EXPECT_TRUE(o.warmup);
  EXPECT_EQ(o.warmup_epochs, 5);
  EXPECT_EQ(o.schedule_type, "cosine");
  EXPECT_TRUE(o.schedule_steps.empty());
  EXPECT_DOUBLE_EQ(o.schedule_gamma, 0.1);
}

TEST(ConfigDefaults, ProjectSectionsHaveSensibleDefaults) {
  const Config c = load_text("dataset_name: ego4d\n");
  EXPECT_FALSE(c.store.path.has_value());
  EXPECT_FALSE(c.store.in_memory);
  EXPECT_EQ(c.dist.backend, "auto");
  EXPECT_GT(c.dist.bucket_mb, 0);
  EXPECT_TRUE(c.dist.overlap);
  EXPECT_EQ(c.dist.sharding, "epoch");
  EXPECT_EQ(c.dist.device, "auto");
  EXPECT_EQ(c.monitoring.port, 0);
  EXPECT_EQ(c.checkpoint.every_epochs, 1);
  EXPECT_GE(c.checkpoint.keep, 1);
}

// ---- the shipped configs ----

TEST(ConfigFiles, BaselineIsTheReferenceEffectiveConfig) {
  // The reference's baseline config (ego4d_asl configs/baseline.yaml), effective values.
  const Config c = load_config(kConfigs + "ego4d_asl.yaml");
  EXPECT_EQ(c.dataset.input_dim.values, (std::vector<int64_t>{256, 2304, 1536, 1024}));
  EXPECT_EQ(c.dataset.max_seq_len, 1024);
  EXPECT_TRUE(c.dataset.force_upsampling);
  EXPECT_EQ(*c.dataset.crop_ratio, (Range{0.9, 1.0}));
  EXPECT_FALSE(c.dataset.file_prefix.has_value());
  EXPECT_EQ(c.dataset.num_classes, 110);
  EXPECT_TRUE(c.model.use_xl);
  EXPECT_EQ(c.model.backbone_arch, (std::vector<int64_t>{3, 3, 9}));
  EXPECT_EQ(c.model.n_embd(), 1024);
  EXPECT_EQ(c.model.n_head, 16);
  EXPECT_EQ(c.model.num_levels(), 10);
  EXPECT_EQ(c.model.fpn_strides().back(), 512);
  EXPECT_EQ(c.model.max_div_factor(), 512);
  EXPECT_EQ(*c.model.xl.n_head, 16);
  EXPECT_EQ(*c.model.xl.d_head, 64);
  EXPECT_EQ(*c.model.xl.d_inner, 2048);
  EXPECT_DOUBLE_EQ(c.model.xl.dropout, 0.1);
  EXPECT_DOUBLE_EQ(c.model.xl.layer_norm_eps, 1e-12);
  EXPECT_DOUBLE_EQ(c.model.max_buffer_len_factor, 1.0);
  EXPECT_TRUE(c.model.use_abs_pe);
  EXPECT_DOUBLE_EQ(c.train_cfg.dropout, 0.1);
  EXPECT_DOUBLE_EQ(c.train_cfg.t_c_alpha, 0.8);
  EXPECT_DOUBLE_EQ(c.train_cfg.init_loss_norm, 100);
  EXPECT_DOUBLE_EQ(c.train_cfg.al_loss_weight, 0.2);
  EXPECT_DOUBLE_EQ(c.train_cfg.clip_grad_l2norm, 1.0);
  EXPECT_DOUBLE_EQ(c.test_cfg.pre_nms_thresh, 0.001);
  EXPECT_EQ(c.test_cfg.nms_method, "soft");
  EXPECT_DOUBLE_EQ(c.test_cfg.nms_sigma, 0.99);
  EXPECT_DOUBLE_EQ(c.test_cfg.min_score, 1e-4);
  EXPECT_EQ(c.test_cfg.max_seg_num, 200);
  EXPECT_DOUBLE_EQ(c.test_cfg.duration_thresh, 0.01);
  EXPECT_DOUBLE_EQ(c.test_cfg.voting_thresh, 0.9);
  EXPECT_DOUBLE_EQ(c.opt.learning_rate, 1e-4);
  EXPECT_DOUBLE_EQ(c.opt.weight_decay, 0.05);
  EXPECT_EQ(c.opt.epochs, 10);
  EXPECT_EQ(c.opt.warmup_epochs, 5);
  EXPECT_EQ(c.loader.batch_size, 2);
  EXPECT_EQ(c.init_rand_seed, 0);
}

TEST(ConfigFiles, DemoNetworkIsExactlyAsSpecified) {
  const Config c = load_config(kConfigs + "demo.yaml");
  const ModelConfig& m = c.model;
  EXPECT_EQ(c.dataset.input_dim.values, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(m.embd_dim.values, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(m.fpn_dim, 96);
  EXPECT_EQ(m.head_dim, 96);
  EXPECT_EQ(m.n_head, 4);
  EXPECT_EQ(*m.xl.n_head, 4);
  EXPECT_EQ(*m.xl.d_head, 24);
  EXPECT_EQ(*m.xl.d_inner, 384);
  EXPECT_EQ(c.dataset.max_seq_len, 256);
  EXPECT_TRUE(c.dataset.force_upsampling);
  EXPECT_EQ(m.backbone_arch, (std::vector<int64_t>{2, 2, 5}));
  EXPECT_EQ(m.regression_range,
            (std::vector<Range>{{0, 4}, {2, 8}, {4, 16}, {8, 32}, {16, 64}, {32, 10000}}));
  EXPECT_EQ(c.dataset.num_classes, 8);
  EXPECT_EQ(c.loader.batch_size, 2);
  // "other options as the baseline"
  const Config base = load_config(kConfigs + "ego4d_asl.yaml");
  EXPECT_EQ(to_yaml(Config{c}).find("nms_sigma: 0.99") != std::string::npos, true);
  // A short schedule: 10x the rate, 3 + 10 epochs, a faster EMA (configs/demo.yaml says why).
  EXPECT_DOUBLE_EQ(c.opt.learning_rate, 10 * base.opt.learning_rate);
  EXPECT_EQ(c.opt.warmup_epochs + c.opt.epochs, 13);
  EXPECT_DOUBLE_EQ(c.opt.ema_decay, 0.99);
  EXPECT_DOUBLE_EQ(base.opt.ema_decay, 0.999);
  EXPECT_DOUBLE_EQ(c.train_cfg.al_loss_weight, base.train_cfg.al_loss_weight);
  EXPECT_DOUBLE_EQ(c.test_cfg.min_score, base.test_cfg.min_score);
  EXPECT_EQ(m.use_xl, base.model.use_xl);
  EXPECT_EQ(m.use_abs_pe, base.model.use_abs_pe);
}

TEST(ConfigFiles, ActionFormerSettingUsesLocalWindows) {
  const Config c = load_config(kConfigs + "ego4d_actionformer.yaml");
  EXPECT_FALSE(c.model.use_xl);
  EXPECT_EQ(c.model.mha_win_sizes(), std::vector<int64_t>(8, 9));
  // Level 7: stride 128 x window 8 (9 // 2 * 2) = 1024.
  EXPECT_EQ(c.model.max_div_factor(), 1024);
  EXPECT_EQ(c.dataset.feat_folder.size(), 2u);
  EXPECT_EQ(c.dataset.input_dim.values, std::vector<int64_t>{1792});
  EXPECT_EQ(c.init_rand_seed, 1234567891);
  EXPECT_EQ(*c.dataset.default_fps, 30.0);
}

TEST(ConfigFiles, EveryShippedConfigRoundTripsThroughYaml) {
  for (const char* name : {"ego4d_asl.yaml", "ego4d_asl_internvideo_egovlp.yaml",
                           "ego4d_actionformer.yaml", "demo.yaml"}) {
    SCOPED_TRACE(name);
    const Config c = load_config(kConfigs + name);
    const std::string once = to_yaml(c);
    const std::string twice = to_yaml(load_text(once));
    EXPECT_EQ(once, twice);
  }
}

TEST(ConfigFiles, ReferenceFlowStyleNullsAreNull) {
  // The reference baseline writes `file_prefix: ,` inside a flow mapping.
  const Config c = load_text("dataset: {\n  file_prefix: ,\n  file_ext: .pt,\n}\n");
  EXPECT_FALSE(c.dataset.file_prefix.has_value());
  EXPECT_EQ(*c.dataset.file_ext, ".pt");
}

// ---- derived fields ----

TEST(ConfigDerived, ModelGetsDatasetAndTrainTestFields) {
  const Config c = load_text(
      "dataset: {input_dim: [8, 16], num_classes: 5, max_seq_len: 64}\n"
      "model: {embd_dim: [256, 256], n_head: 8, backbone_arch: [1, 1, 2],"
      " regression_range: [[0, 4], [4, 8], [8, 1000]]}\n"
      "train_cfg: {droppath: 0.3}\ntest_cfg: {max_seg_num: 7}\n");
  EXPECT_EQ(c.model.input_dim.values, (std::vector<int64_t>{8, 16}));
  EXPECT_TRUE(c.model.input_dim.is_list);
  EXPECT_EQ(c.model.num_classes, 5);
  EXPECT_EQ(c.model.max_seq_len, 64);
  EXPECT_DOUBLE_EQ(c.model.train_cfg.droppath, 0.3);
  EXPECT_EQ(c.model.test_cfg.max_seg_num, 7);
  // XLNet sizes for width 512 come from the reference's xlnet_config_512.json.
  EXPECT_EQ(*c.model.xl.n_head, 8);
  EXPECT_EQ(*c.model.xl.d_head, 64);
  EXPECT_EQ(*c.model.xl.d_inner, 1024);
}

TEST(ConfigDerived, ConsistentDerivedKeysAreAcceptedOthersRejected) {
  EXPECT_NO_THROW(load_text("dataset: {num_classes: 5}\nmodel: {num_classes: 5}\n"));
  const std::string msg =
      error_of([] { load_text("dataset: {num_classes: 5}\nmodel: {num_classes: 6}\n"); });
  EXPECT_HAS(msg, "model.num_classes");
  EXPECT_HAS(msg, "derived from dataset.num_classes");
  const std::string nested =
      error_of([] { load_text("model: {train_cfg: {dropout: 0.3}}\n"); });
  EXPECT_HAS(nested, "model.train_cfg");
}

TEST(ConfigDerived, UnknownXLWidthNeedsExplicitSizes) {
  const std::string msg = error_of([] { load_text("model: {embd_dim: 768, n_head: 12}\n"); });
  EXPECT_HAS(msg, "model.xl");
  EXPECT_HAS(msg, "768");
  const Config c =
      load_text("model: {embd_dim: 768, n_head: 12, xl: {n_head: 12, d_head: 64, d_inner: 3072}}\n");
  EXPECT_EQ(*c.model.xl.d_inner, 3072);
  EXPECT_NO_THROW(load_text("model: {embd_dim: 768, n_head: 12, use_xl: false}\n"));
}

// ---- overrides ----

TEST(ConfigOverrides, ApplyInOrderWithTypes) {
  const Config c = load_config(kConfigs + "ego4d_asl.yaml",
                               {"opt.learning_rate=2e-4", "loader.batch_size=4",
                                "dataset.crop_ratio=[0.8, 1.0]", "test_cfg.nms_method=hard",
                                "loader.batch_size=6", "model.use_xl=false",
                                "dataset.file_ext=", "store.path=/data/x.h5"});
  EXPECT_DOUBLE_EQ(c.opt.learning_rate, 2e-4);
  EXPECT_EQ(c.loader.batch_size, 6);
  EXPECT_EQ(*c.dataset.crop_ratio, (Range{0.8, 1.0}));
  EXPECT_EQ(c.test_cfg.nms_method, "hard");
  EXPECT_EQ(c.model.test_cfg.nms_method, "hard");  // derived after overrides
  EXPECT_FALSE(c.model.use_xl);
  EXPECT_FALSE(c.dataset.file_ext.has_value());
  EXPECT_EQ(*c.store.path, "/data/x.h5");
}

TEST(ConfigOverrides, ListsAndDerivedFieldsFollow) {
  const Config c = load_config(kConfigs + "demo.yaml",
                               {"dataset.input_dim=[10, 20]", "dataset.num_classes=3"});
  EXPECT_EQ(c.model.input_dim.values, (std::vector<int64_t>{10, 20}));
  EXPECT_EQ(c.model.num_classes, 3);
}

// ---- errors ----

TEST(ConfigErrors, MisspeltKeyIsNamedWithTheNearestKnownKey) {
  const std::string msg = error_of([] { load_text("dataset: {max_seq_lne: 1024}\n"); });
  EXPECT_HAS(msg, "test.yaml");
  EXPECT_HAS(msg, "dataset.max_seq_lne");
  EXPECT_HAS(msg, "did you mean 'dataset.max_seq_len'");
  EXPECT_HAS(error_of([] { load_text("trian_cfg: {dropout: 0.1}\n"); }), "'train_cfg'");
  EXPECT_HAS(error_of([] { load_text("opt: {learnig_rate: 0.1}\n"); }), "'opt.learning_rate'");
}

TEST(ConfigErrors, UnknownKeyFarFromAnyKnownOneSaysWhereToLook) {
  const std::string msg = error_of([] { load_text("model: {zzzzzzzz: 1}\n"); });
  EXPECT_HAS(msg, "model.zzzzzzzz");
  EXPECT_HAS(msg, "asl inspect");
}

TEST(ConfigErrors, WrongTypeNamesKeyValueAndExpectedType) {
  const std::string msg =
      error_of([] { load_config(kConfigs + "demo.yaml", {"opt.learning_rate=abc"}); });
  EXPECT_HAS(msg, "--set opt.learning_rate=abc");
  EXPECT_HAS(msg, "opt.learning_rate expects a number");
  EXPECT_HAS(msg, "'abc'");

  EXPECT_HAS(error_of([] { load_text("loader: {batch_size: two}\n"); }),
             "loader.batch_size expects an integer, got 'two'");
  EXPECT_HAS(error_of([] { load_text("loader: {batch_size: 2.5}\n"); }), "an integer");
  EXPECT_HAS(error_of([] { load_text("model: {use_xl: maybe}\n"); }), "a boolean");
  EXPECT_HAS(error_of([] { load_text("model: {backbone_arch: [1, x, 3]}\n"); }),
             "model.backbone_arch expects a list of integers");
  EXPECT_HAS(error_of([] { load_text("model: {regression_range: [[0, 4, 5]]}\n"); }),
             "list of [lo, hi] pairs");
  EXPECT_HAS(error_of([] { load_text("dataset: 5\n"); }), "dataset must be a mapping");
  EXPECT_HAS(error_of([] { load_text("dataset_name: [a, b]\n"); }), "dataset_name expects a string");
  EXPECT_HAS(error_of([] { load_text("dataset: {input_dim: {a: 1}}\n"); }),
             "an integer or a list of integers");
}

TEST(ConfigErrors, OverrideErrors) {
  EXPECT_HAS(error_of([] { load_text("dataset_name: x\n", {"opt.lr=1"}); }), "unknown key 'opt.lr'");
  EXPECT_HAS(error_of([] { load_text("dataset_name: x\n", {"no_equals_sign"}); }),
             "expected key.path=value");
  EXPECT_HAS(error_of([] { load_text("dataset_name: x\n", {"opt..lr=1"}); }), "empty key");
  EXPECT_HAS(error_of([] { load_text("dataset_name: x\n", {"opt.epochs=[1,"}); }),
             "malformed YAML");
}

TEST(ConfigErrors, FileProblems) {
  EXPECT_HAS(error_of([] { load_config("/nonexistent/dir/c.yaml"); }), "cannot open");
  EXPECT_HAS(error_of([] { load_text("dataset: {a: [1, 2\n"); }), "malformed YAML at line");
  EXPECT_HAS(error_of([] { load_text(""); }), "empty");
}

TEST(ConfigErrors, ImpossibleValues) {
  const std::string base = kConfigs + "ego4d_asl.yaml";
  const std::string div =
      error_of([&] { load_config(base, {"dataset.max_seq_len=1000"}); });
  EXPECT_HAS(div, "dataset.max_seq_len");
  EXPECT_HAS(div, "not divisible by 16");
  EXPECT_HAS(div, "multiple of 512");

  const std::string ranges =
      error_of([&] { load_config(base, {"model.regression_range=[[0, 4], [4, 10000]]"}); });
  EXPECT_HAS(ranges, "2 ranges for 10 pyramid levels");

  EXPECT_HAS(error_of([&] { load_config(base, {"test_cfg.nms_method=softer"}); }),
             "'softer' is not one of soft, hard, none");
  EXPECT_HAS(error_of([&] { load_config(base, {"model.xl.d_head=32"}); }),
             "must equal the embedding width 1024");
  EXPECT_HAS(error_of([&] { load_config(base, {"dataset.crop_ratio=[1.0, 0.9]"}); }),
             "dataset.crop_ratio");
  EXPECT_HAS(error_of([&] { load_config(base, {"model.embd_dim=[256, 768]"}); }),
             "model.embd_dim");
  EXPECT_HAS(error_of([&] { load_config(base, {"model.n_head=7"}); }), "not divisible by 7");
  EXPECT_HAS(error_of([&] { load_config(base, {"model.backbone_arch=[3, 3]"}); }),
             "must have 3 entries");
  EXPECT_HAS(error_of([&] { load_config(base, {"loader.batch_size=0"}); }),
             "loader.batch_size: must be positive");
  EXPECT_HAS(error_of([&] { load_config(base, {"train_cfg.use_dcn=true"}); }),
             "train_cfg.use_dcn: is not supported");
  EXPECT_HAS(error_of([&] { load_config(base, {"model.n_mha_win_size=[9, 9]"}); }),
             "one window per level");
  EXPECT_HAS(error_of([&] { load_config(base, {"dist.backend=gloo"}); }), "dist.backend");
  EXPECT_HAS(error_of([&] { load_config(base, {"dist.sharding=static"}); }), "dist.sharding");
  EXPECT_HAS(error_of([&] { load_config(base, {"dist.device=gpu"}); }), "dist.device");
  EXPECT_HAS(error_of([&] { load_config(base, {"monitoring.port=70000"}); }), "monitoring.port");
  EXPECT_HAS(error_of([&] { load_config(base, {"store.streams=[a, b]"}); }),
             "2 streams for 4 entries");
  EXPECT_HAS(error_of([&] { load_config(base, {"dataset.feat_folder=[a, b]"}); }),
             "2 folders for 4 streams");
}

TEST(ConfigYaml, AmbiguousStringsAreQuotedAndLoadBack) {
  const Config c = load_text("output_folder: \"123\"\ndataset_name: \"true\"\n");
  const std::string yaml = to_yaml(c);
  const Config back = load_text(yaml);
  EXPECT_EQ(back.output_folder, "123");
  EXPECT_EQ(back.dataset_name, "true");
}

TEST(ConfigYaml, NumbersPrintShortAndExact) {
  const Config c = load_text("opt: {learning_rate: 0.0001}\ntrain_cfg: {t_c_alpha: 0.7}\n");
  const std::string yaml = to_yaml(c);
  EXPECT_HAS(yaml, "learning_rate: 0.0001");
  EXPECT_HAS(yaml, "t_c_alpha: 0.7");
  EXPECT_HAS(yaml, "layer_norm_eps: 1e-12");
}

TEST(ConfigKeys, EveryKeyPathIsListedOnce) {
  const auto keys = key_paths();
  std::set<std::string> unique(keys.begin(), keys.end());
  EXPECT_EQ(unique.size(), keys.size());
  EXPECT_TRUE(unique.count("dataset.max_seq_len"));
  EXPECT_TRUE(unique.count("model.xl.d_inner"));
  EXPECT_TRUE(unique.count("dist.bucket_mb"));
  EXPECT_FALSE(unique.count("model.train_cfg.dropout"));  // derived copies are not keys to set
}

}  // namespace
}  // namespace asl::config
