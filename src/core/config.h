// Typed configuration: the keys and defaults of the reference configs
// (ego4d_asl libs/core/config.py DEFAULTS, actionformer_release configs) plus this
// project's own sections (store, dist, monitoring, checkpoint).
//
// Each section lists its keys once, in visit(); the loader, the YAML writer and the
// key-suggestion index are visitors over that list, so a key is declared in one place.
// No LibTorch here: this header is included by code that needs no tensors.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace asl::config {

// A value the reference accepts either as a scalar or as a list (input_dim, embd_dim,
// n_mha_win_size, feat_folder). The written form is kept so the config prints back as given.
template <class T>
struct ScalarOrList {
  std::vector<T> values;
  bool is_list = false;

  ScalarOrList() = default;
  ScalarOrList(T scalar) : values{scalar} {}  // NOLINT: implicit on purpose (defaults)
  ScalarOrList(std::vector<T> list) : values(std::move(list)), is_list(true) {}
  std::size_t size() const { return values.size(); }
};
using IntList = ScalarOrList<int64_t>;
using StringList = ScalarOrList<std::string>;
using Range = std::array<double, 2>;  // [lo, hi]

// Base of every section: marks a type as a nested mapping for the visitors.
struct Section {};

struct DatasetConfig : Section {
  std::string json_file;                  // clip annotations (reference: required)
  StringList feat_folder{std::vector<std::string>{}};  // one folder per stream, or one
  std::optional<std::string> file_prefix;
  std::optional<std::string> file_ext;
  int64_t num_classes = 97;
  IntList input_dim{2304};                // a list: several streams, concatenated in order
  int64_t feat_stride = 16;
  int64_t num_frames = 32;
  std::optional<double> default_fps;      // null: read from the annotations
  int64_t downsample_rate = 1;
  int64_t max_seq_len = 2304;
  double trunc_thresh = 0.5;
  std::optional<Range> crop_ratio;        // e.g. [0.9, 1.0]
  bool force_upsampling = false;
  // Natural Language Queries (model_name ASL_NLQ, docs/nlq.md; this project's keys): the
  // width of the query text features, where they are (null: the store's text/ group; else a
  // folder of <query key>.pt / .npy) and how many tokens are kept.
  int64_t text_dim = 0;
  std::optional<std::string> text_folder;
  int64_t max_query_len = 32;

  template <class V>
  void visit(V& v) {
    v("json_file", json_file);
    v("feat_folder", feat_folder);
    v("file_prefix", file_prefix);
    v("file_ext", file_ext);
    v("num_classes", num_classes);
    v("input_dim", input_dim);
    v("feat_stride", feat_stride);
    v("num_frames", num_frames);
    v("default_fps", default_fps);
    v("downsample_rate", downsample_rate);
    v("max_seq_len", max_seq_len);
    v("trunc_thresh", trunc_thresh);
    v("crop_ratio", crop_ratio);
    v("force_upsampling", force_upsampling);
    v("text_dim", text_dim);
    v("text_folder", text_folder);
    v("max_query_len", max_query_len);
  }
};

struct LoaderConfig : Section {
  int64_t batch_size = 8;
  int64_t num_workers = 2;
  int64_t prefetch = 2;                   // batches prepared ahead per worker (this project)

  template <class V>
  void visit(V& v) {
    v("batch_size", batch_size);
    v("num_workers", num_workers);
    v("prefetch", prefetch);
  }
};

struct TrainConfig : Section {
  std::string center_sample = "radius";   // radius | none
  double center_sample_radius = 1.5;
  double loss_weight = 1.0;
  double cls_prior_prob = 0.01;
  double init_loss_norm = 2000;
  double clip_grad_l2norm = -1;           // <= 0: no clipping
  // A step whose loss or gradient norm is NaN/Inf (this project's key; the reference has no
  // check and its weights turn NaN): skip leaves weights, optimizer state and EMA as they
  // were (the schedule moves on); stop does the same, then ends the run with an error.
  std::string on_nonfinite = "skip";
  std::vector<int64_t> head_empty_cls;
  double dropout = 0.0;
  double droppath = 0.1;
  double label_smoothing = 0.0;
  double t_c_alpha = 0.8;
  bool use_dcn = false;
  int64_t dcn_start_layer = -1;
  bool use_us_fpn = false;
  double al_loss_weight = 0.0;
  double cont_loss_weight = 0.0;
  double seg_loss_weight = 0.0;
  double imp_loss_weight = 0.0;
  double temperature = 0.07;
  int64_t queue_size = 256;
  double length_theta = 0.2;
  bool use_trident_head = false;
  int64_t num_bins = 16;
  double iou_weight_power = 1.0;

  template <class V>
  void visit(V& v) {
    v("center_sample", center_sample);
    v("center_sample_radius", center_sample_radius);
    v("loss_weight", loss_weight);
    v("cls_prior_prob", cls_prior_prob);
    v("init_loss_norm", init_loss_norm);
    v("clip_grad_l2norm", clip_grad_l2norm);
    v("on_nonfinite", on_nonfinite);
    v("head_empty_cls", head_empty_cls);
    v("dropout", dropout);
    v("droppath", droppath);
    v("label_smoothing", label_smoothing);
    v("t_c_alpha", t_c_alpha);
    v("use_dcn", use_dcn);
    v("dcn_start_layer", dcn_start_layer);
    v("use_us_fpn", use_us_fpn);
    v("al_loss_weight", al_loss_weight);
    v("cont_loss_weight", cont_loss_weight);
    v("seg_loss_weight", seg_loss_weight);
    v("imp_loss_weight", imp_loss_weight);
    v("temperature", temperature);
    v("queue_size", queue_size);
    v("length_theta", length_theta);
    v("use_trident_head", use_trident_head);
    v("num_bins", num_bins);
    v("iou_weight_power", iou_weight_power);
  }
};

struct TestConfig : Section {
  double pre_nms_thresh = 0.001;
  int64_t pre_nms_topk = 5000;
  double iou_threshold = 0.1;
  double min_score = 0.01;
  int64_t max_seg_num = 1000;
  std::string nms_method = "soft";        // soft | hard | none
  double nms_sigma = 0.5;
  double duration_thresh = 0.05;
  bool multiclass_nms = true;
  std::optional<std::string> ext_score_file;
  double voting_thresh = 0.75;

  template <class V>
  void visit(V& v) {
    v("pre_nms_thresh", pre_nms_thresh);
    v("pre_nms_topk", pre_nms_topk);
    v("iou_threshold", iou_threshold);
    v("min_score", min_score);
    v("max_seg_num", max_seg_num);
    v("nms_method", nms_method);
    v("nms_sigma", nms_sigma);
    v("duration_thresh", duration_thresh);
    v("multiclass_nms", multiclass_nms);
    v("ext_score_file", ext_score_file);
    v("voting_thresh", voting_thresh);
  }
};

// The XLNet layer's sizes (`model.xl`, docs/config.md). Unset sizes are filled from the
// reference's table by the embedding width; other widths must give them.
struct XLConfig : Section {
  std::optional<int64_t> n_head;
  std::optional<int64_t> d_head;
  std::optional<int64_t> d_inner;
  double dropout = 0.1;
  double layer_norm_eps = 1e-12;

  template <class V>
  void visit(V& v) {
    v("n_head", n_head);
    v("d_head", d_head);
    v("d_inner", d_inner);
    v("dropout", dropout);
    v("layer_norm_eps", layer_norm_eps);
  }
};

struct ModelConfig : Section {
  bool use_xl = true;
  std::string backbone_type = "convTransformer";  // convTransformer | conv
  std::string fpn_type = "identity";              // identity | fpn
  std::vector<int64_t> backbone_arch{2, 2, 5};    // embedding / stem / branch layers
  int64_t scale_factor = 2;
  std::vector<Range> regression_range{{0, 4}, {4, 8}, {8, 16}, {16, 32}, {32, 64}, {64, 10000}};
  int64_t n_head = 4;
  IntList n_mha_win_size{-1};             // <= 1: global attention
  int64_t embd_kernel_size = 3;
  IntList embd_dim{512};                  // a list: one projection width per stream
  bool embd_with_ln = true;
  int64_t fpn_dim = 512;
  bool fpn_with_ln = true;
  int64_t fpn_start_level = 0;
  int64_t head_dim = 512;
  int64_t head_kernel_size = 3;
  int64_t head_num_layers = 3;
  bool head_with_ln = true;
  double max_buffer_len_factor = 6.0;
  bool use_abs_pe = false;
  bool use_rel_pe = false;
  XLConfig xl;

  // Derived (reference _update_config): copied from dataset / train_cfg / test_cfg.
  IntList input_dim{2304};
  int64_t num_classes = 97;
  int64_t max_seq_len = 2304;
  int64_t text_dim = 0;                   // > 0: the NLQ network (model_name ASL_NLQ)
  TrainConfig train_cfg;
  TestConfig test_cfg;

  template <class V>
  void visit(V& v) {
    v("use_xl", use_xl);
    v("backbone_type", backbone_type);
    v("fpn_type", fpn_type);
    v("backbone_arch", backbone_arch);
    v("scale_factor", scale_factor);
    v("regression_range", regression_range);
    v("n_head", n_head);
    v("n_mha_win_size", n_mha_win_size);
    v("embd_kernel_size", embd_kernel_size);
    v("embd_dim", embd_dim);
    v("embd_with_ln", embd_with_ln);
    v("fpn_dim", fpn_dim);
    v("fpn_with_ln", fpn_with_ln);
    v("fpn_start_level", fpn_start_level);
    v("head_dim", head_dim);
    v("head_kernel_size", head_kernel_size);
    v("head_num_layers", head_num_layers);
    v("head_with_ln", head_with_ln);
    v("max_buffer_len_factor", max_buffer_len_factor);
    v("use_abs_pe", use_abs_pe);
    v("use_rel_pe", use_rel_pe);
    v("xl", xl);
    v.derived("input_dim", input_dim, "dataset.input_dim");
    v.derived("num_classes", num_classes, "dataset.num_classes");
    v.derived("max_seq_len", max_seq_len, "dataset.max_seq_len");
    v.derived("text_dim", text_dim, "dataset.text_dim (ASL_NLQ only)");
    v.derived("train_cfg", train_cfg, "train_cfg");
    v.derived("test_cfg", test_cfg, "test_cfg");
  }

  // Width after the per-stream projections (sum of embd_dim).
  int64_t n_embd() const;
  // Pyramid levels: branch blocks + 1 - fpn_start_level.
  int64_t num_levels() const;
  // Stride of each pyramid level, starting at fpn_start_level.
  std::vector<int64_t> fpn_strides() const;
  // Attention window per level (n_mha_win_size broadcast to every level).
  std::vector<int64_t> mha_win_sizes() const;
  // Inputs are padded to a multiple of this at evaluation (reference max_div_factor).
  int64_t max_div_factor() const;
};

struct OptConfig : Section {
  std::string type = "AdamW";             // AdamW (the reference's SGD is refused)
  double momentum = 0.9;
  double weight_decay = 0.0;
  double learning_rate = 1e-3;
  int64_t epochs = 30;                    // excluding warm-up
  bool warmup = true;
  int64_t warmup_epochs = 5;
  std::string schedule_type = "cosine";   // cosine (the reference's multistep is refused)
  std::vector<int64_t> schedule_steps;
  double schedule_gamma = 0.1;
  double ema_decay = 0.999;               // this project's key: the reference fixes 0.999
  // This project's keys. amp: off | bf16 | fp16 (autocast of the forward pass; fp16 adds
  // dynamic loss scaling and needs a CUDA device). tf32: allow TF32 in CUDA matmuls and
  // convolutions (false leaves LibTorch's defaults, as the reference runs).
  std::string amp = "off";
  bool tf32 = false;

  template <class V>
  void visit(V& v) {
    v("type", type);
    v("momentum", momentum);
    v("weight_decay", weight_decay);
    v("learning_rate", learning_rate);
    v("epochs", epochs);
    v("warmup", warmup);
    v("warmup_epochs", warmup_epochs);
    v("schedule_type", schedule_type);
    v("schedule_steps", schedule_steps);
    v("schedule_gamma", schedule_gamma);
    v("ema_decay", ema_decay);
    v("amp", amp);
    v("tf32", tf32);
  }
};

// ---- this project's sections ----

struct StoreConfig : Section {
  std::optional<std::string> path;        // HDF5 feature store (or its shard index); null: feat_folder
  std::vector<std::string> streams;       // stream names in input_dim order; empty: the store's order
  bool in_memory = false;                 // hold the clips this rank trains on in memory (float16)

  template <class V>
  void visit(V& v) {
    v("path", path);
    v("streams", streams);
    v("in_memory", in_memory);
  }
};

struct DistConfig : Section {
  std::string backend = "auto";           // auto (NCCL for CUDA tensors, else MPI) | mpi | nccl
  double bucket_mb = 25.0;                // gradient all-reduce bucket size
  bool overlap = true;                    // start buckets during the backward pass
  double timeout_s = 300.0;               // collective watchdog: abort the job after this long
  // How long the other ranks wait for rank 0's own long phases (writing a checkpoint,
  // scoring the validation) before the job is ended; separate from timeout_s.
  double root_timeout_s = 3600.0;
  // epoch: each epoch's permutation cut into N parts (the same training as one process of
  // batch N*b; a rank reads other clips every epoch). fixed: the clips dealt out once, each
  // rank shuffling its own part every epoch (store.in_memory then holds only that part).
  std::string sharding = "epoch";
  // auto: the rank's GPU (local rank modulo the visible devices) when LibTorch has CUDA and
  // one is visible, else the CPU; cpu; cuda (an error without a GPU).
  std::string device = "auto";

  template <class V>
  void visit(V& v) {
    v("backend", backend);
    v("bucket_mb", bucket_mb);
    v("overlap", overlap);
    v("timeout_s", timeout_s);
    v("root_timeout_s", root_timeout_s);
    v("sharding", sharding);
    v("device", device);
  }
};

struct MonitoringConfig : Section {
  int64_t port = 0;                       // 0: no metrics endpoint
  bool port_per_rank = true;              // rank r serves on port + local rank
  // Loopback unless asked: a laptop or a shared login node exposes nothing; a cluster opens
  // it with 0.0.0.0 so the Prometheus server can reach the nodes.
  std::string address = "127.0.0.1";
  std::string job = "ego4d_asl";          // the `job` label
  std::string run;                        // the `run` label; "": the output folder's name
  double linger_s = 0;                    // keep serving this long after the work ends

  template <class V>
  void visit(V& v) {
    v("port", port);
    v("port_per_rank", port_per_rank);
    v("address", address);
    v("job", job);
    v("run", run);
    v("linger_s", linger_s);
  }
};

struct CheckpointConfig : Section {
  int64_t every_epochs = 1;               // also always at the last epoch
  int64_t keep = 3;                       // newest K kept
  std::optional<int64_t> eval_start_epoch;  // null: the reference's epochs_total // 3

  template <class V>
  void visit(V& v) {
    v("every_epochs", every_epochs);
    v("keep", keep);
    v("eval_start_epoch", eval_start_epoch);
  }
};

struct Config : Section {
  int64_t init_rand_seed = 765421321;
  std::string dataset_name = "epic";
  std::vector<std::string> devices{"cuda:0"};
  std::vector<std::string> train_split{"training"};
  std::vector<std::string> val_split{"validation"};
  std::string model_name = "LocPointTransformer";
  std::string output_folder = "./ckpt/";
  DatasetConfig dataset;
  LoaderConfig loader;
  ModelConfig model;
  TrainConfig train_cfg;
  TestConfig test_cfg;
  OptConfig opt;
  StoreConfig store;
  DistConfig dist;
  MonitoringConfig monitoring;
  CheckpointConfig checkpoint;

  // model_name ASL_NLQ: the Natural Language Queries task (docs/nlq.md); else Moment Queries.
  bool is_nlq() const { return model_name == kNlqModelName; }
  static constexpr const char* kNlqModelName = "ASL_NLQ";

  template <class V>
  void visit(V& v) {
    v("init_rand_seed", init_rand_seed);
    v("dataset_name", dataset_name);
    v("devices", devices);
    v("train_split", train_split);
    v("val_split", val_split);
    v("model_name", model_name);
    v("output_folder", output_folder);
    v("dataset", dataset);
    v("loader", loader);
    v("model", model);
    v("train_cfg", train_cfg);
    v("test_cfg", test_cfg);
    v("opt", opt);
    v("store", store);
    v("dist", dist);
    v("monitoring", monitoring);
    v("checkpoint", checkpoint);
  }
};

// Loads CONFIG, applies `key.path=value` overrides in order, fills the derived fields and
// checks every value. Throws asl::Error naming the file or override, the key path and the fix.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// The same from YAML text; `source` names it in errors.
Config load_config_text(const std::string& yaml, const std::string& source,
                        const std::vector<std::string>& overrides = {});

// The effective configuration as YAML (loads back to the same Config).
std::string to_yaml(const Config& cfg);

// Every key path of the schema ("dataset.max_seq_len", ...), derived sub-keys excluded.
std::vector<std::string> key_paths();

}  // namespace asl::config
