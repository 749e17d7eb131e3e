// The shell's interactive loop on libedit (histedit.h): prompt, history file, tab completion,
// Ctrl-C (stops a running `gen`, clears the line at the prompt), Ctrl-D (exits 0). Non-terminal
// input is read line by line without editing, so `holo shell < script` works too.
#pragma once

#include "runtime/cli/shell_session.hpp"

namespace holo::cli::shell {

// Runs until quit or end of input; returns the status of the last command (0 after Ctrl-D).
int run_repl(session& s);

}  // namespace holo::cli::shell
