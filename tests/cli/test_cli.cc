// The `asl` command as a user meets it: subcommands, --help, exit codes, one-line errors.
#include <gtest/gtest.h>

#include "common/test_util.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/config.h"
#include "run.h"

namespace asl::testing {
namespace {

const std::string kConfigs = std::string(ASL_SOURCE_DIR) + "/configs/";
const char* kSubcommands[] = {"convert", "synth", "pack",   "inspect", "train", "eval",
                              "infer",   "score", "import", "bench",   "report"};

TEST(Cli, HelpListsEverySubcommand) {
  const RunResult r = run_asl({"--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* sub : kSubcommands) EXPECT_HAS(r.out, std::string("  ") + sub);
}

TEST(Cli, EverySubcommandHasHelp) {
  for (const char* sub : kSubcommands) {
    SCOPED_TRACE(sub);
    const RunResult r = run_asl({sub, "--help"});
    EXPECT_EQ(r.code, 0);
    EXPECT_HAS(r.out, "Usage:");
    EXPECT_HAS(r.out, sub);
  }
}

TEST(Cli, VersionNamesLibTorch) {
  const RunResult r = run_asl({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_HAS(r.out, "asl ");
  EXPECT_HAS(r.out, "LibTorch ");
}

// `asl` itself loads no LibTorch and no MPI: its dynamic dependencies, as the loader
// resolves them, name neither.
TEST(Cli, AslLinksNeitherLibTorchNorMpi) {
  const RunResult r = run_binary("ldd", {ASL_BINARY});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "libc.so");
  for (const char* lib : {"libtorch", "libc10", "libmpi", "libgomp"}) {
    EXPECT_EQ(r.out.find(lib), std::string::npos) << lib << " in:\n" << r.out;
  }
  const RunResult torch = run_binary("ldd", {std::string(ASL_BINARY) + "-torch"});
  EXPECT_HAS(torch.out, "libtorch");
}

// The kernels benchmark runs end to end (here each kernel's CPU reference against what it
// replaces) and writes one row per kernel; its numbers are not judged here.
TEST(Cli, KernelsBenchmarkWritesARowPerKernel) {
  const std::string json = ::testing::TempDir() + "/kernels_bench.json";
  const RunResult r = run_asl(
      {"bench", kConfigs + "demo.yaml", "--what", "kernels", "--repeat", "1", "--json", json});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* op : {"focal loss", "DIoU loss", "local attention", "EMA update", "soft-NMS"})
    EXPECT_HAS(r.out, op);
  std::ifstream in(json);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_HAS(text, "\"speedup\"");
  EXPECT_HAS(text, "\"device\": \"cpu\"");
}

// A tensor command goes to asl-torch with its whole command line: the options printed are
// train's own, which only asl-torch registers.
TEST(Cli, TensorCommandsRunInAslTorch) {
  const RunResult help = run_asl({"train", "--help"});
  EXPECT_EQ(help.code, 0) << help.err;
  EXPECT_HAS(help.out, "--resume");
  EXPECT_HAS(help.out, "--no-validation");
  // Its usage errors are asl-torch's, with the same exit code and one line.
  const RunResult bad = run_asl({"train", "--no-such-option"});
  EXPECT_EQ(bad.code, 64);
  EXPECT_EQ(count_lines(bad.err), 1) << bad.err;
  // inspect hands on only what needs tensors: a config's parameter counts.
  const RunResult params = run_asl({"inspect", kConfigs + "demo.yaml", "--params"});
  EXPECT_EQ(params.code, 0) << params.err;
  EXPECT_HAS(params.out, "model (PtTransformer)");
}

// Without asl-torch beside it, a tensor command fails with one line naming it and the fix;
// a tensor-free command still runs.
TEST(Cli, AMissingAslTorchIsNamedWithTheFix) {
  const std::string dir = ::testing::TempDir() + "asl_alone_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const std::string alone = dir + "/asl";
  std::filesystem::copy_file(ASL_BINARY, alone, std::filesystem::copy_options::overwrite_existing);
  const RunResult r = run_binary(alone, {"train", kConfigs + "demo.yaml"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_HAS(r.err, dir + "/asl-torch: cannot start it");
  EXPECT_HAS(r.err, "--target asl-torch");
  EXPECT_EQ(run_binary(alone, {"inspect", kConfigs + "demo.yaml"}).code, 0);
  std::filesystem::remove_all(dir);
}

TEST(Cli, NoSubcommandOrUnknownOneIsAUsageError) {
  EXPECT_EQ(run_asl({}).code, 64);
  const RunResult r = run_asl({"trian"});
  EXPECT_EQ(r.code, 64);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST(Cli, InspectPrintsTheEffectiveConfigWhichLoadsBack) {
  const RunResult r = run_asl({"inspect", kConfigs + "ego4d_asl.yaml"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "max_seq_len: 1024");
  EXPECT_HAS(r.out, "input_dim: [256, 2304, 1536, 1024]");
  EXPECT_HAS(r.out, "d_inner: 2048");  // derived XLNet sizes are shown
  const config::Config back = config::load_config_text(r.out, "inspect output");
  EXPECT_EQ(config::to_yaml(back), r.out);
}

TEST(Cli, InspectAppliesOverrides) {
  const RunResult r =
      run_asl({"inspect", kConfigs + "demo.yaml", "--set", "opt.epochs=3", "--set", "loader.batch_size=4"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "epochs: 3");
  EXPECT_HAS(r.out, "batch_size: 4");
}

TEST(Cli, MisspeltKeyFailsOnOneLineWithASuggestion) {
  const std::string path = ::testing::TempDir() + "misspelt.yaml";
  std::ofstream(path) << "dataset: {max_seq_lne: 1024}\n";
  const RunResult r = run_asl({"inspect", path});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_HAS(r.err, "dataset.max_seq_lne");
  EXPECT_HAS(r.err, "did you mean 'dataset.max_seq_len'");
  EXPECT_TRUE(r.out.empty());
}

TEST(Cli, BadOverrideTypeFailsNamingKeyAndType) {
  const RunResult r =
      run_asl({"inspect", kConfigs + "ego4d_asl.yaml", "--set", "opt.learning_rate=abc"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_HAS(r.err, "opt.learning_rate expects a number, got 'abc'");
}

TEST(Cli, TrainChecksTheConfigBeforeAnythingElse) {
  const RunResult r = run_asl({"train", kConfigs + "demo.yaml", "--set", "model.n_head=5"});
  EXPECT_EQ(r.code, 1);
  EXPECT_HAS(r.err, "model.n_head");
}

TEST(Cli, InspectNamesAFileThatIsNeitherConfigNorCheckpoint) {
  RunResult r = run_asl({"inspect", kConfigs + "demo.yaml", "--set", "x=1"});
  EXPECT_EQ(r.code, 1);
  const std::string ckpt = ::testing::TempDir() + "/not_a.ckpt";
  { std::ofstream(ckpt) << "x"; }
  r = run_asl({"inspect", ckpt});
  EXPECT_EQ(r.code, 1);
  EXPECT_HAS(r.err, "not_a.ckpt");
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST(Cli, MissingRequiredOptionIsAUsageError) {
  const RunResult r = run_asl({"convert", "--out", "x.json"});
  EXPECT_EQ(r.code, 64);
  EXPECT_HAS(r.err, "--moments");
}

}  // namespace
}  // namespace asl::testing
