"""Start-up figures for the CLI as a newcomer meets it: `python -m bench.startup [--runs N]`.

Each figure is wall time of the real `vault-agent` in a pseudo-terminal (pexpect), N runs, reported as
min / median / max:

- `--help`;
- `vault-agent threads` with nothing configured (the in-process sandbox mode `make chat` uses), in a state
  dir used before and in a fresh one;
- `vault-agent chat` to the first prompt, nothing configured;
- the first answer after the prompt ("What's on my calendar tomorrow?", Google already linked), against a
  sandbox in its own process, measured from pressing Enter to the answer's last line: sent the moment the
  prompt appears (so it includes loading the agent), and sent 5 s later (a person typing; the agent has
  loaded in the background meanwhile).

- `make chat` on a fresh clone (`git clone` of this repository, `make chat ARGS=--no-browser`, the uv cache
  warm as on any machine that installed once): seconds to its first line of progress and to the prompt
  (`--clone-runs N`, 0 to skip: each run installs a whole venv).

Targets: --help ≤ 0.3 s, threads ≤ 1 s, prompt ≤ 1 s, first answer ≤ 1.5 s; `make chat` on a fresh clone
says what it does within a second (no target for the install itself: it is the network's and uv's).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

BIN = str(Path(sys.executable).parent / "vault-agent")
PROMPT = "you ›"
TARGETS = {"--help": 0.3, "threads": 1.0, "threads, very first run": 1.0, "chat prompt": 1.0, "first answer": 1.5,
           "first answer, typed 5 s after the prompt": 1.5}
CLONE_TARGETS = {"make chat, fresh clone: first progress line": 1.0, "make chat, fresh clone: prompt": None}
REPO = Path(__file__).resolve().parents[1]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    state = tempfile.mkdtemp(prefix="vault-agent-bench-")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_", "GOOGLE_", "GITHUB_"))}
    env.update(VAULT_AGENT_STATE_DIR=state, VAULT_AGENT_CONFIG_DIR=state, VAULT_AGENT_TIMEZONE="UTC",
               PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm-256color")
    env.update(extra or {})
    return env


def _spawn(args: list[str], env: dict[str, str]) -> pexpect.spawn:
    return pexpect.spawn(BIN, args, env=env, encoding="utf-8", codec_errors="replace", timeout=60,
                         dimensions=(60, 200))


def help_time() -> float:
    started = time.perf_counter()
    child = _spawn(["--help"], _env())
    child.expect(pexpect.EOF)
    return time.perf_counter() - started


def threads_time(env: dict[str, str] | None = None) -> float:
    """In a fresh state dir (env None) the very first run has to start the sandbox to learn who the user is;
    in a used one (a newcomer who has chatted) it knows."""
    env = env or _env()
    started = time.perf_counter()
    child = _spawn(["threads"], env)
    child.expect(pexpect.EOF)
    elapsed = time.perf_counter() - started
    assert "Traceback" not in child.before, child.before
    return elapsed


def prompt_time() -> float:
    started = time.perf_counter()
    child = _spawn(["chat", "--no-browser"], _env())
    child.expect(PROMPT)
    elapsed = time.perf_counter() - started
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    return elapsed


def answer_time(sandbox, typing: float = 0.0) -> float:
    """From Enter to the answer; `typing` seconds pass between the prompt and Enter (a person typing, while
    the agent finishes loading in the background)."""
    user = sandbox.control.create_user()
    sandbox.control.seed_tokenset(user["user_id"], "google-oauth2",
                                  ["https://www.googleapis.com/auth/calendar.readonly"])
    child = _spawn(["chat", "--no-browser"], _env(dict(sandbox.env, SANDBOX_USER_EMAIL=user["email"])))
    child.expect(PROMPT)
    time.sleep(typing)
    started = time.perf_counter()
    child.sendline("What's on my calendar tomorrow?")
    child.expect("Design review with Priya")
    elapsed = time.perf_counter() - started
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    return elapsed


def fresh_clone_times() -> tuple[float, float]:
    """`make chat` in a fresh clone of this repository: (first line of progress, prompt), in seconds."""
    work = Path(tempfile.mkdtemp(prefix="vault-agent-clone-"))
    try:
        subprocess.run(["git", "clone", "-q", str(REPO), str(work / "repo")], check=True)
        env = _env()
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if p and Path(p) != Path(sys.executable).parent)
        started = time.perf_counter()
        child = pexpect.spawn("make", ["chat", "ARGS=--no-browser"], cwd=str(work / "repo"), env=env,
                              encoding="utf-8", codec_errors="replace", timeout=900, dimensions=(60, 200))
        child.expect("Setting up")
        first = time.perf_counter() - started
        child.expect(PROMPT)
        prompt = time.perf_counter() - started
        child.sendline("/quit")
        child.expect(pexpect.EOF)
        return first, prompt
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clone-runs", type=int, default=5)
    args = parser.parse_args(argv)
    from sandbox.runner import SandboxProcess

    results: dict[str, list[float]] = {name: [] for name in TARGETS}
    used = _env()
    threads_time(used)  # the state dir of someone who has used vault-agent before
    with SandboxProcess() as sandbox:
        for _ in range(args.runs):
            results["--help"].append(help_time())
            results["threads"].append(threads_time(used))
            results["threads, very first run"].append(threads_time())
            results["chat prompt"].append(prompt_time())
            results["first answer"].append(answer_time(sandbox))
            results["first answer, typed 5 s after the prompt"].append(answer_time(sandbox, typing=5.0))
    clones: dict[str, list[float]] = {name: [] for name in CLONE_TARGETS}
    for _ in range(args.clone_runs):
        first, prompt = fresh_clone_times()
        clones["make chat, fresh clone: first progress line"].append(first)
        clones["make chat, fresh clone: prompt"].append(prompt)
    targets = {**TARGETS, **CLONE_TARGETS}
    print(f"| figure ({args.runs} runs; fresh clone: {args.clone_runs}) | min | median | max | target |")
    print("| --- | --- | --- | --- | --- |")
    for name, values in {**results, **clones}.items():
        if not values:
            continue
        target = targets[name]
        verdict = "—" if target is None else "meets" if statistics.median(values) <= target else "**misses**"
        print(f"| {name} | {min(values):.2f} s | {statistics.median(values):.2f} s | {max(values):.2f} s "
              f"| {'—' if target is None else f'≤ {target} s'} ({verdict}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
