// The fedtl subcommands. Each registers its flags on the CLI11 app and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace fedtl::launch {

using Command = std::function<int()>;

Command addPretrainCommand(CLI::App& app);
Command addFinetuneCommand(CLI::App& app);
Command addTableCommand(CLI::App& app);
Command addCoordinatorCommand(CLI::App& app);
Command addParticipantCommand(CLI::App& app);
Command addKeygenCommand(CLI::App& app);

}  // namespace fedtl::launch
