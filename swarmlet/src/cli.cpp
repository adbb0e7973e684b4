#include "swarmlet/cli.h"

#include <csignal>
#include <iostream>
#include <string>

namespace swarmlet {
namespace {

// "swarmlet selftest" for a subcommand, "swarmlet" for the root.
std::string FullName(const CLI::App& app) {
  std::string name = app.get_name();
  for (const CLI::App* p = app.get_parent(); p != nullptr; p = p->get_parent()) {
    name = p->get_name() + " " + name;
  }
  return name;
}

const CLI::App& Root(const CLI::App& app) {
  const CLI::App* a = &app;
  while (a->get_parent() != nullptr) a = a->get_parent();
  return *a;
}

void PrintUsage(const CLI::App& app) {
  std::cerr << "usage: " << FullName(app)
            << (app.get_subcommands({}).empty() ? " [options]" : " <command> [options]")
            << "  (see '" << FullName(app) << " --help')\n";
}

}  // namespace

const CLI::App& Deepest(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) return Deepest(*sub);
  return app;
}

int UsageError(const CLI::App& app, std::string_view message) {
  std::cerr << Root(app).get_name() << ": " << message << "\n";
  PrintUsage(app);
  return kExitUsage;
}

int ParseCommandLine(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << Deepest(app).help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << "\n";
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    // A stray word where a command was expected is the commonest typo; CLI11
    // reports it as "a subcommand is required" or as an extra argument.
    const CLI::App& where = Deepest(app);
    const auto extras = where.remaining();
    if (!extras.empty() && extras.front().starts_with("-")) {
      return UsageError(where, "unknown option '" + extras.front() + "'");
    }
    if (!extras.empty() && !where.get_subcommands({}).empty()) {
      return UsageError(where, "unknown command '" + extras.front() + "'");
    }
    return UsageError(where, e.what());
  }
  return -1;
}

namespace {
std::atomic<bool> g_stop{false};
std::atomic<bool> g_leave{false};
}  // namespace

const std::atomic<bool>& StopFlagOnSignals() {
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop = true; };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  struct sigaction leave {};
  leave.sa_handler = [](int) {
    g_leave = true;
    g_stop = true;
  };
  sigemptyset(&leave.sa_mask);
  sigaction(SIGUSR1, &leave, nullptr);
  return g_stop;
}

const std::atomic<bool>& LeaveFlag() { return g_leave; }

int NotImplementedYet(std::string_view program, std::string_view command) {
  std::cerr << program << ": " << command << ": not implemented yet\n";
  return kExitFailure;
}

}  // namespace swarmlet
