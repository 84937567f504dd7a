// The CLI subcommands; each takes argv starting at the subcommand name and returns an exit code.
#pragma once

namespace lpx {

int cmd_version(int argc, char** argv);

}  // namespace lpx
