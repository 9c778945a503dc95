"""Eight scripts adding 200 users each at the same time all succeed (WAL + busy timeout)."""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, HASH, CliTest  # noqa: E402

WORKERS, PER_WORKER = 8, 200


class Concurrency(CliTest):
    def test_eight_parallel_writers(self):
        script = (
            'i=0; while [ $i -lt %d ]; do '
            '"$BIN" --config "$CFG" --db "$DB" user add "w$W-u$i@shop.test" --password-hash "$HASH" || exit 1; '
            'i=$((i+1)); done' % PER_WORKER
        )
        self.w.ok("domain", "add", "shop.test")
        procs = []
        for w in range(WORKERS):
            env = self.w.env()
            env.update(BIN=BIN, CFG=self.w.config_path, DB=self.w.db, HASH=HASH, W=str(w))
            procs.append(subprocess.Popen(["sh", "-c", script], env=env, stderr=subprocess.PIPE, text=True))
        failures = []
        for p in procs:
            _, err = p.communicate(timeout=300)
            if p.returncode != 0:
                failures.append(err)
        self.assertEqual(failures, [])
        users = json.loads(self.w.ok("--json", "user", "list"))
        self.assertEqual(len(users), WORKERS * PER_WORKER)
        self.assertEqual(len({u["address"] for u in users}), WORKERS * PER_WORKER)

    def test_parallel_first_use_of_a_new_store(self):
        procs = [subprocess.Popen([BIN, "--config", self.w.config_path, "--db", self.w.db, "domain", "add",
                                   "d%d.test" % i], env=self.w.env(), stderr=subprocess.PIPE, text=True)
                 for i in range(WORKERS)]
        errors = [p.communicate(timeout=120)[1] for p in procs if p.wait(timeout=120) != 0]
        self.assertEqual(errors, [])
        self.assertEqual(len(json.loads(self.w.ok("--json", "domain", "list"))), WORKERS)


if __name__ == "__main__":
    unittest.main(verbosity=2)
