#!/usr/bin/env python3
"""Tests for the Docker Swarm side by side (issue 19), the parts that need no
docker: bench/report's side-by-side table from a fixture results directory
(tests/fixtures/report plus a compare/swarm.json written here) and the pure
helpers of tests/testbed/docker_swarm.py.

    python3 tests/testbed/report_compare_test.py [-v]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
REPORT = os.path.join(ROOT, "bench", "report")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "report")

sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "bench"))
import docker_swarm  # noqa: E402
from report_test import load_report_module  # noqa: E402  (bench/report has no .py extension)

report = load_report_module()

# What docker_swarm.py writes, in small: rows keyed by the testbed metric they pair with.
SWARM = {
    "engine": "Docker Swarm", "version": "dockerd 20.10.24", "workers": 5, "ok": True,
    "loadavg": ["3.10 2.50 2.00", "3.40 2.60 2.10"], "duration_s": 41.0,
    "rows": [
        {"key": "join/join_total_p50_ms", "label": "Join p50 (per worker)", "value": 85.0, "unit": "ms",
         "how": "POST /swarm/join"},
        {"key": "failure/detection_ms", "label": "Failure detected (heartbeat 5 s, default)", "value": 11000,
         "unit": "ms", "how": "kill → down"},
        {"key": "failure/detection_ms", "label": "Failure detected (heartbeat 500ms, tuned)", "value": 1210,
         "unit": "ms", "how": "kill → down, tuned"},
        {"key": "failure/recovery_ms", "label": "Kill → replacement running", "value": 12000, "unit": "ms",
         "how": "ours has no value in the fixture"},
        {"key": "join/ready_all_ms", "label": "All workers Ready", "value": 440.6, "unit": "ms",
         "how": "no twin of ours"},
        {"key": "join/swarmlet_rss_mb", "label": "Worker RSS <idle>", "value": 0, "unit": "MB", "how": "zero"},
    ],
    "tables": {"join": {"columns": ["worker", "ms"], "rows": [["rpi-1", 80.5]]}},
    "notes": ["All workers x86_64 & no qemu."],
}


class CompareTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="report_compare_test.")
        self.out = os.path.join(self.tmp, "out")
        shutil.copytree(FIXTURE, self.out)
        os.remove(os.path.join(self.out, "scenarios", "partition.json"))  # the fixture's failed one
        self.baseline = os.path.join(self.tmp, "baseline.json")
        with open(self.baseline, "w", encoding="utf-8") as f:
            json.dump({"threshold": 0.25, "metrics": {
                "join/join_total_p50_ms": {"value": 42.5, "better": "lower"}}}, f)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def write_swarm(self, doc):
        os.makedirs(os.path.join(self.out, "compare"), exist_ok=True)
        with open(os.path.join(self.out, "compare", "swarm.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f)

    def run_report(self):
        return subprocess.run([sys.executable, REPORT, self.out, "--baseline", self.baseline],
                              capture_output=True, text=True, timeout=60)

    def results(self):
        with open(os.path.join(self.out, "results.json"), encoding="utf-8") as f:
            return json.load(f)

    def page(self):
        with open(os.path.join(self.out, "report.html"), encoding="utf-8") as f:
            return f.read()

    def test_without_comparison_nothing_changes(self):
        proc = self.run_report()
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertNotIn("compare", self.results())
        self.assertNotIn("Side by side", self.page())
        self.assertNotIn("Side by side", proc.stdout)

    def test_side_by_side_rows_and_ratios(self):
        self.run_report()
        plain = self.results()
        self.write_swarm(SWARM)
        proc = self.run_report()
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        res = self.results()
        # The comparison is shown, never judged: metrics, summary and verdicts are as without it.
        self.assertEqual(res["summary"], plain["summary"])
        self.assertEqual(res["metrics"], plain["metrics"])
        swarm = res["compare"]["swarm"]
        self.assertEqual(swarm["engine"], "Docker Swarm")
        self.assertEqual(swarm["loadavg"], SWARM["loadavg"])
        rows = swarm["rows"]
        self.assertEqual(len(rows), 6)
        join, default, tuned, recovery, ready, rss = rows
        self.assertEqual((join["ours"], join["other"]), (42.5, 85.0))
        self.assertAlmostEqual(join["ratio"], 0.5)
        self.assertEqual(join["ours_label"], "Join total, p50")
        self.assertEqual(default["ours"], tuned["ours"])  # one of ours against both heartbeats
        self.assertAlmostEqual(default["ratio"], default["ours"] / 11000)
        self.assertAlmostEqual(tuned["ratio"], tuned["ours"] / 1210)
        self.assertIsNone(recovery["ours"])   # ours has no value: no ratio
        self.assertIsNone(recovery["ratio"])
        self.assertIsNone(ready["ours"])      # no twin among our metrics
        self.assertIsNone(rss["ratio"])       # theirs is 0: no ratio
        page = self.page()
        self.assertIn("Side by side: Docker Swarm (same run)", page)
        self.assertIn("<td class=\"num\">0.5</td>", page)
        self.assertIn("3.10 2.50 2.00 / 3.40 2.60 2.10", page)
        self.assertIn("Worker RSS &lt;idle&gt;", page)   # escaped
        self.assertIn("x86_64 &amp; no qemu", page)
        self.assertIn("rpi-1", page)
        self.assertIn("Side by side with Docker Swarm", proc.stdout)
        self.assertRegex(proc.stdout, r"Join p50 \(per worker\)\s+42\.5 ms\s+85 ms\s+0\.5")

    def test_failed_comparison_is_shown(self):
        self.write_swarm(dict(SWARM, ok=False, error="dockerd on rpi-3 exited", rows=[]))
        proc = self.run_report()
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)  # not a gate
        self.assertIn("run FAILED: dockerd on rpi-3 exited", self.page())
        self.assertIn("FAILED: dockerd on rpi-3 exited", proc.stdout)

    def test_bad_comparison_file_is_bad_input(self):
        for doc in ({"rows": [{"label": "no key", "value": 1}]},
                    {"rows": [{"key": "join/x", "value": "fast"}]},
                    {"rows": "none"}):
            with self.subTest(doc=doc):
                self.write_swarm(doc)
                proc = self.run_report()
                self.assertEqual(proc.returncode, 2)
                self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
                self.assertIn("swarm.json", proc.stderr)

    def test_side_by_side_directly(self):
        metrics = [{"scenario": "a", "name": "b", "label": "B", "value": 3.0}]
        rows = report.side_by_side({"rows": [{"key": "a/b", "value": 12.0, "unit": "ms"},
                                             {"key": "a/c", "value": 1.0}]}, metrics)
        self.assertEqual(rows[0]["ratio"], 0.25)
        self.assertIsNone(rows[1]["ours"])
        self.assertEqual(report.side_by_side({}, metrics), [])


class SwarmHelpersTest(unittest.TestCase):
    def test_parse_duration(self):
        self.assertEqual(docker_swarm.parse_duration("500ms"), 500_000_000)
        self.assertEqual(docker_swarm.parse_duration("5s"), 5_000_000_000)
        self.assertEqual(docker_swarm.parse_duration("1.5s"), 1_500_000_000)
        self.assertEqual(docker_swarm.parse_duration("100us"), 100_000)
        self.assertEqual(docker_swarm.parse_duration("2m"), 120_000_000_000)
        self.assertEqual(docker_swarm.parse_duration("2"), 2_000_000_000)

    def test_pct(self):
        self.assertIsNone(docker_swarm.pct([], 50))
        self.assertEqual(docker_swarm.pct([5, 1, 3], 50), 3)
        self.assertEqual(docker_swarm.pct([5, 1, 3], 100), 5)

    def test_rows_pair_with_testbed_metrics(self):
        # Every key docker_swarm.py writes that has a twin names a metric the testbed emits.
        with open(os.path.join(HERE, "testbed.py"), encoding="utf-8") as f:
            testbed = f.read()
        with open(os.path.join(HERE, "docker_swarm.py"), encoding="utf-8") as f:
            source = f.read()
        for key in ("join/total_p50_x86_ms", "memory/swarmlet_rss_max_mb",
                    "deploy/critical_all_running_ms", "power_off/decided_ms", "power_off/recovery_total_ms"):
            with self.subTest(key=key):
                self.assertIn(f'"{key}"', source)
                scenario, name = key.split("/")
                self.assertIn(f"def sc_{scenario}(", testbed)
                self.assertIn(f'metric("{name}"', testbed)

    def test_skips_without_root_or_docker(self):
        bench = docker_swarm.SwarmBench(tempfile.gettempdir())
        if os.geteuid() != 0:
            with self.assertRaises(docker_swarm.Skip):
                bench.require()


if __name__ == "__main__":
    unittest.main()
