// loraplex command-line entry point: dispatches subcommands (generate, serve, inspect, bench, ...).
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "apps/commands.h"

namespace {

void print_help() {
  std::printf(
      "loraplex %s - serve one base LLM and many LoRA adapters behind an OpenAI-compatible API\n"
      "\n"
      "usage: loraplex <command> [options]\n"
      "\n"
      "commands:\n"
      "  version      print the version and the CPU features found\n"
      "  help         this text\n"
      "\n"
      "Run 'loraplex <command> --help' for a command's options.\n",
      LPX_VERSION);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_help();
    return 2;
  }
  std::string_view cmd = argv[1];
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    print_help();
    return 0;
  }
  if (cmd == "version" || cmd == "--version") return lpx::cmd_version(argc - 1, argv + 1);
  std::fprintf(stderr, "loraplex: unknown command '%s'. Run 'loraplex --help' for the list.\n", argv[1]);
  return 2;
}
