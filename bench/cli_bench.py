#!/usr/bin/env python3
"""bench/cli: whole-process figures of the admin CLI (issue 2, section 9).

  cli_bench.py --bin build/vpsmail [--bin OTHER ...] --route-store STORE [--runs 200] [--users 10000]

1. `vpsmail route test ADDRESS` as a whole process on the large store that bench/route_bench
   builds (--store STORE): median, p90 and max wall time over --runs runs; and the process
   floor, `vpsmail --version`, as many times.
2. --users accounts created one process each, from a shell loop, with --password-hash (no
   hashing): median and p90 per invocation, and the store file's size per user.

With several --bin, the binaries are compared in the same runs: each step runs every binary
once, in an order that rotates from step to step (the first process of a step is often faster
or slower than the next: the rotation spreads that over all of them), and each binary has its
own state folder and store. The medians then differ only by the binaries, not by what else
the machine did meanwhile; the ratios to the first --bin are printed at the end.
Everything runs in a temporary folder; nothing listens on the network."""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time

HASH = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0"


def timed(argv, env):
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if p.returncode not in (0, 67):
        raise SystemExit("%s failed (%d): %s" % (" ".join(argv), p.returncode, p.stderr.decode()))
    return elapsed * 1000.0


def summary(ms):
    ms = sorted(ms)
    return "median %.2f ms  p90 %.2f ms  max %.2f ms  (%d runs)" % (
        statistics.median(ms), ms[int(0.9 * (len(ms) - 1))], ms[-1], len(ms))


def rotated(items, step):
    k = step % len(items)
    return items[k:] + items[:k]


class Subject:
    """One binary under test, with its own state folder, configuration and user store."""

    def __init__(self, index, binary, work):
        self.binary = binary
        self.label = "[%d] %s" % (index + 1, binary)
        self.dir = os.path.join(work, "bin%d" % (index + 1))
        os.mkdir(self.dir)
        self.config = os.path.join(self.dir, "vpsmail.toml")
        with open(self.config, "w") as f:
            f.write('[paths]\nstate_dir = "%s"\n' % self.dir)
        self.users_db = os.path.join(self.dir, "users.db")
        self.figures = {"route": [], "floor": [], "user": []}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, action="append", help="a vpsmail binary; repeat to compare")
    ap.add_argument("--route-store", required=True, help="a store made by route_bench --store")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--users", type=int, default=10000)
    args = ap.parse_args()
    if args.runs <= 0 or args.users <= 0:
        raise SystemExit("--runs and --users must be positive")

    work = tempfile.mkdtemp(prefix="vpsmail-cli-bench-")
    try:
        env = dict(os.environ, HOME=work, XDG_STATE_HOME=work, XDG_CONFIG_HOME=work)
        env.pop("VPSMAIL_DB", None)
        env.pop("VPSMAIL_CONFIG", None)
        subjects = [Subject(i, b, work) for i, b in enumerate(args.bin)]

        rng = random.Random(7)
        kinds = ["v{}@d{:04}.bench", "a{}@d{:04}.bench", "u{}@d{:04}.bench", "nobody{}@d{:04}.bench"]
        for i in range(args.runs):
            address = rng.choice(kinds).format(rng.randrange(100), rng.randrange(1000))
            for s in rotated(subjects, i):
                s.figures["route"].append(timed(
                    [s.binary, "--config", s.config, "--db", args.route_store, "route", "test", address], env))
        for i in range(args.runs):
            for s in rotated(subjects, i):
                s.figures["floor"].append(timed([s.binary, "--version"], env))

        for s in subjects:
            subprocess.run([s.binary, "--config", s.config, "--db", s.users_db, "domain", "add", "bench.example"],
                           env=env, check=True)
        # The shell loop an admin script would run; each invocation timed by the shell itself.
        # $EPOCHREALTIME (bash 5) reads the clock without forking a `date` into the sample.
        # Positional arguments: triples of binary, config, store; the loop rotates over them.
        loop = ('n=$(( $# / 3 )); i=0; while [ $i -lt %d ]; do j=0; while [ $j -lt $n ]; do '
                'k=$(( (i + j) %% n )); b=$(( k * 3 + 1 )); '
                'BIN=${!b}; c=$(( b + 1 )); CFG=${!c}; d=$(( b + 2 )); DB=${!d}; '
                's=${EPOCHREALTIME/./}; '
                '"$BIN" --config "$CFG" --db "$DB" user add "user$i@bench.example" --password-hash "$HASH" '
                '--name "Bench User $i" || exit 1; e=${EPOCHREALTIME/./}; echo $k $(( e - s )); '
                'j=$((j+1)); done; i=$((i+1)); done' % args.users)
        triples = [x for s in subjects for x in (s.binary, s.config, s.users_db)]
        t0 = time.perf_counter()
        out = subprocess.run(["bash", "-c", loop, "cli_bench"] + triples, env=dict(env, HASH=HASH),
                             capture_output=True, text=True, check=True).stdout
        total = time.perf_counter() - t0
        for line in out.splitlines():
            k, micros = line.split()
            subjects[int(k)].figures["user"].append(int(micros) / 1000.0)

        for s in subjects:
            if len(subjects) > 1:
                print(s.label)
            print("route test on %s (%.0f MB): %s" % (args.route_store, os.path.getsize(args.route_store) / 1e6,
                                                      summary(s.figures["route"])))
            print("process floor (vpsmail --version): %s" % summary(s.figures["floor"]))
            print("user add x %d (shell loop, --password-hash): %s" % (args.users, summary(s.figures["user"])))
            subprocess.run([s.binary, "--db", s.users_db, "--config", s.config, "domain", "list"], env=env,
                           stdout=subprocess.DEVNULL, check=True)  # a clean close checkpoints the WAL
            wal = s.users_db + "-wal"
            size = os.path.getsize(s.users_db) + (os.path.getsize(wal) if os.path.exists(wal) else 0)
            print("store file: %d bytes for %d users = %.0f bytes per user" % (size, args.users, size / args.users))
        print("user add loop: %.1f s in all" % total)
        if len(subjects) > 1:
            first = subjects[0].figures
            for s in subjects[1:]:
                print("%s / [1]: route test %.2fx, --version %.2fx, user add %.2fx" % (
                    s.label, *(statistics.median(s.figures[k]) / statistics.median(first[k])
                               for k in ("route", "floor", "user"))))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
