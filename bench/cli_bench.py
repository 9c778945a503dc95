#!/usr/bin/env python3
"""bench/cli: whole-process figures of the admin CLI (issue 2, section 9).

  cli_bench.py --bin build/vpsmail --route-store STORE [--runs 200] [--users 10000]

1. `vpsmail route test ADDRESS` as a whole process on the large store that bench/route_bench
   builds (--store STORE): median, p90 and max wall time over --runs runs.
2. --users accounts created one process each, from a shell loop, with --password-hash (no
   hashing): median and p90 per invocation, and the store file's size per user.
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--route-store", required=True, help="a store made by route_bench --store")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--users", type=int, default=10000)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="vpsmail-cli-bench-")
    try:
        env = dict(os.environ, HOME=work, XDG_STATE_HOME=work, XDG_CONFIG_HOME=work)
        env.pop("VPSMAIL_DB", None)
        env.pop("VPSMAIL_CONFIG", None)
        config = os.path.join(work, "vpsmail.toml")
        with open(config, "w") as f:
            f.write('[paths]\nstate_dir = "%s"\n' % work)

        rng = random.Random(7)
        kinds = ["v{}@d{:04}.bench", "a{}@d{:04}.bench", "u{}@d{:04}.bench", "nobody{}@d{:04}.bench"]
        ms = []
        for i in range(args.runs):
            address = rng.choice(kinds).format(rng.randrange(100), rng.randrange(1000))
            ms.append(timed([args.bin, "--config", config, "--db", args.route_store, "route", "test", address], env))
        print("route test on %s (%.0f MB): %s" % (args.route_store, os.path.getsize(args.route_store) / 1e6,
                                                  summary(ms)))

        floor = [timed([args.bin, "--version"], env) for _ in range(args.runs)]
        print("process floor (vpsmail --version): %s" % summary(floor))

        db = os.path.join(work, "users.db")
        subprocess.run([args.bin, "--config", config, "--db", db, "domain", "add", "bench.example"], env=env,
                       check=True)
        # The shell loop an admin script would run; each invocation timed by the shell itself.
        # $EPOCHREALTIME (bash 5) reads the clock without forking a `date` into the sample.
        loop = ('i=0; while [ $i -lt %d ]; do s=${EPOCHREALTIME/./}; '
                '"$BIN" --config "$CFG" --db "$DB" user add "user$i@bench.example" --password-hash "$HASH" '
                '--name "Bench User $i" || exit 1; e=${EPOCHREALTIME/./}; echo $(( e - s )); '
                'i=$((i+1)); done' % args.users)
        t0 = time.perf_counter()
        out = subprocess.run(["bash", "-c", loop], env=dict(env, BIN=args.bin, CFG=config, DB=db, HASH=HASH),
                             capture_output=True, text=True, check=True).stdout
        total = time.perf_counter() - t0
        micros = [int(x) for x in out.split()]
        print("user add x %d (shell loop, --password-hash): %s; %.1f s in all" % (
            args.users, summary([u / 1000.0 for u in micros]), total))
        subprocess.run([args.bin, "--db", db, "--config", config, "domain", "list"], env=env,
                       stdout=subprocess.DEVNULL, check=True)  # a clean close checkpoints the WAL
        size = os.path.getsize(db) + sum(os.path.getsize(db + s) for s in ("-wal",) if os.path.exists(db + s))
        print("store file: %d bytes for %d users = %.0f bytes per user" % (size, args.users, size / args.users))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
