// fedtl: federated transfer learning. One executable, one subcommand per job.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstdio>
#include <map>

#include "common/error.h"
#include "common/memory_tuning.h"
#include "fedtl/config.h"
#include "launch/commands.h"

int main(int argc, char** argv) {
  fedtl::keepFreedMemoryMapped();
  CLI::App app{"fedtl " FEDTL_VERSION ": federated transfer learning"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("fedtl ") + FEDTL_VERSION);
  // A TOML file may set any subcommand's options in a section named after it ([coordinator]
  // rounds = 5); flags on the command line override it, unknown keys are errors.
  app.set_config("--config", "", "TOML file with options, one [section] per subcommand");
  app.allow_config_extras(CLI::config_extras_mode::error);
  int threads = 0;
  app.add_option("--threads", threads, "CPU threads for torch (default: all cores)")->check(CLI::NonNegativeNumber);

  std::map<CLI::App*, fedtl::launch::Command> commands;
  auto add = [&](auto adder, const char* name, const char* help) {
    auto* sub = app.add_subcommand(name, help);
    sub->fallthrough();  // lets --config follow the subcommand's name
    commands[sub] = adder(*sub);
  };
  add(fedtl::launch::addPretrainCommand, "pretrain", "pretrain a backbone on a source domain");
  add(fedtl::launch::addFinetuneCommand, "finetune", "transfer a backbone to target data with one strategy");
  add(fedtl::launch::addTableCommand, "table", "the transfer table: every scenario and strategy, measured");
  add(fedtl::launch::addCoordinatorCommand, "coordinator", "run federated rounds for participant daemons (ZeroMQ)");
  add(fedtl::launch::addParticipantCommand, "participant", "a participant daemon: train locally, send updates");
  add(fedtl::launch::addMpiCommand, "mpi",
      "a whole federated job under mpirun: rank 0 coordinates, the other ranks are participants (or --inproc N)");
  add(fedtl::launch::addKeygenCommand, "keygen", "create an identity: NAME.key (secret) and NAME.pub (public)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (threads > 0) torch::set_num_threads(threads);
  try {
    for (auto* sub : app.get_subcommands()) return commands.at(sub)();
  } catch (const fedtl::Error& e) {
    std::fprintf(stderr, "fedtl: error: %s\n", e.what());
    return 2;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "fedtl: error in torch: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fedtl: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
