#!/usr/bin/python3
"""The interactive `holo shell` on a pseudo-terminal (Debian's python3-pexpect), run by
test/shell.test.cpp: prompt, tab completion of commands, models and node/actor names, history
(file and Up arrow), Ctrl-C at the prompt (clears the line), Ctrl-C during `gen` (the generation
is cancelled on the node and the prompt comes back), Ctrl-D (exit status 0).

usage: shell_pty.py HOLO_BIN ENDPOINT ADMIN_KEY_FILE STATE_DIR MODEL
Exits 0 when every check passed; prints the failing step and the screen otherwise."""
import os
import sys
import time

import pexpect

holo, endpoint, key_file, state_dir, model = sys.argv[1:6]
env = dict(os.environ, XDG_STATE_HOME=state_dir, TERM="xterm")
env.pop("HOLO_SHELL_HISTORY", None)
PROMPT = r"holo n1> "


def spawn():
    sh = pexpect.spawn(holo, ["shell", endpoint, "--admin-key", key_file], env=env, encoding="utf-8",
                       timeout=20, dimensions=(40, 200))
    sh.logfile_read = sys.stdout
    sh.expect(PROMPT)
    return sh


def step(name):
    print(f"\n=== {name}", flush=True)


sh = spawn()

step("tab completes a command")
sh.send("placem\t")
sh.send("\r")
sh.expect("SHARD")
sh.expect(PROMPT)

step("tab completes a model name")
sh.send(f"gen -n 4 {model[:3]}\t")
sh.send("hello\r")
sh.expect(r"\[length: 4 tokens")
sh.expect(PROMPT)

step("tab completes node/actor")
# The completed word becomes trace's NODE argument, so the error names it: proof of what was typed.
sh.send("kill n2/s:\t")
sh.sendcontrol("a")
sh.send("trace \r")
sh.expect(r"n2/s:0 is not up")
sh.expect(PROMPT)

step("Ctrl-C at the prompt drops the line")
sh.send("frobnicate")
sh.sendcontrol("c")
sh.expect(r"\^C")
sh.expect(PROMPT)

step("the line Ctrl-C dropped is gone")
sh.send("help\r")
sh.expect("trace REQUEST")
sh.expect(PROMPT)

step("Ctrl-C during gen cancels it on the node")
sh.send(f"gen -n 3000 {model} Once upon a time\r")
sh.expect(r"\[(sh-\d+)\]")
gen_id = sh.match.group(1)
time.sleep(1.5)  # tokens stream meanwhile (a few hundred per second)
sh.sendcontrol("c")
sh.expect(r"\[cancelled: (\d+) tokens")
tokens = int(sh.match.group(1))
assert 0 < tokens < 3000, tokens
sh.expect(PROMPT)

step("the node no longer runs it")
sh.send("requests\r")
sh.expect(PROMPT)
assert gen_id not in sh.before, sh.before
sh.send(f"trace {gen_id}\r")
sh.expect("cancelled")
sh.expect(PROMPT)

step("Ctrl-D exits 0")
sh.sendcontrol("d")
sh.expect(pexpect.EOF)
sh.close()
assert sh.exitstatus == 0, (sh.exitstatus, sh.signalstatus)

step("history file")
hist = os.path.join(state_dir, "holobionte", "shell_history")
text = open(hist).read().replace("\\040", " ")  # libedit writes lines strvis-encoded
assert "placement" in text and f"trace {gen_id}" in text, text
assert "frobnicate" not in text, text  # the line Ctrl-C dropped was never entered

step("Up arrow recalls the last command")
sh = spawn()
sh.sendcontrol("p")  # previous history line (emacs binding)
sh.expect(f"trace {gen_id}")
sh.send("\r")
sh.expect("cancelled")
sh.expect(PROMPT)
sh.send("quit\r")
sh.expect(pexpect.EOF)
sh.close()
assert sh.exitstatus == 0, sh.exitstatus
print("\nshell_pty: all checks passed")
