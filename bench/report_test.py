#!/usr/bin/env python3
"""Tests for bench/report, the testbed report generator.

Runs the script on copies of tests/fixtures/report/ (a fake results directory:
three scenarios, one of them failed, and a resources.csv with two nodes) in
temporary directories, and calls its functions directly for the verdict rules.
Every run passes --baseline explicitly, so the tests do not depend on the
numbers in bench/baseline.json.

    python3 bench/report_test.py [-v]
"""

import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(HERE, "report")
FIXTURE = os.path.join(HERE, "..", "tests", "fixtures", "report")


def load_report_module():
    """Import bench/report (no .py extension) as a module, leaving no __pycache__ behind."""
    sys.dont_write_bytecode = True
    loader = importlib.machinery.SourceFileLoader("bench_report", REPORT)
    spec = importlib.util.spec_from_loader("bench_report", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


report = load_report_module()


class ReportTestCase(unittest.TestCase):
    """Each test gets a fresh copy of the fixture in a temporary directory."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="report_test.")
        self.out = os.path.join(self.tmp, "out")
        shutil.copytree(FIXTURE, self.out)
        self.empty_baseline = self.write_baseline({})

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def write_baseline(self, metrics, threshold=0.25, name="baseline.json"):
        path = os.path.join(self.tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"meta": {"machine": "test"}, "threshold": threshold, "metrics": metrics}, f)
        return path

    def run_report(self, *args, out=None, baseline=None):
        cmd = [sys.executable, REPORT, out or self.out, "--baseline", baseline or self.empty_baseline]
        return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60)

    def results(self):
        with open(os.path.join(self.out, "results.json"), encoding="utf-8") as f:
            return json.load(f)

    def metric(self, results, key):
        scenario, name = key.split("/")
        return next(m for m in results["metrics"] if m["scenario"] == scenario and m["name"] == name)

    def drop_failed_scenario(self):
        os.remove(os.path.join(self.out, "scenarios", "partition.json"))

    def set_value(self, file_name, metric_name, value):
        path = os.path.join(self.out, "scenarios", file_name)
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        next(m for m in doc["metrics"] if m["name"] == metric_name)["value"] = value
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f)


class OutputTest(ReportTestCase):
    def test_html_is_self_contained_with_three_plots(self):
        proc = self.run_report()
        self.assertEqual(proc.returncode, 1, proc.stderr)  # the fixture has a failed scenario
        with open(os.path.join(self.out, "report.html"), encoding="utf-8") as f:
            page = f.read()
        self.assertTrue(page.startswith("<!DOCTYPE html>"))
        self.assertEqual(page.count("<svg"), 3)
        self.assertEqual(page.count("<polyline"), 6)  # 3 charts x 2 nodes
        for word in ("CPU", "Memory", "Network", "gpu", "rpi-1", "time since start"):
            self.assertIn(word, page)
        self.assertNotRegex(page, r"(src|href)\s*=\s*[\"']?\s*(https?:)?//")
        self.assertNotIn("http://", page)
        self.assertNotIn("https://", page)
        self.assertNotIn("<link", page)
        self.assertNotIn("<script", page)
        # Text from the inputs is escaped; the failed scenario is shown with its error.
        self.assertIn("&lt;b&gt;not bold&lt;/b&gt; &amp; co.", page)
        self.assertIn("&lt;rpi-3&gt;", page)
        self.assertRegex(page, r'class="failed".*\n<p class="error">FAILED: rpi-2 did not rejoin')

    def test_results_json_shape_and_summary(self):
        self.run_report()
        res = self.results()
        self.assertEqual(res["meta"]["revision"], "abc123")
        self.assertEqual([s["scenario"] for s in res["scenarios"]], ["join", "failure", "partition"])
        self.assertEqual([s["ok"] for s in res["scenarios"]], [True, True, False])
        self.assertEqual(res["summary"], {"metrics": 11, "seed_targets_met": 6, "seed_targets": 8,
                                          "targets_met": 4, "targets": 6, "regressions": 0,
                                          "failed_scenarios": 1})
        for m in res["metrics"]:
            for key in ("scenario", "name", "label", "value", "unit", "seed_target", "target",
                        "baseline", "change_pct", "regression"):
                self.assertIn(key, m)

    def test_scenario_order(self):
        # Files are named after the scenarios; the run order comes from resources.csv ...
        self.run_report()
        self.assertEqual([s["scenario"] for s in self.results()["scenarios"]], ["join", "failure", "partition"])
        # ... or from meta.json's "scenarios" list when it has one.
        path = os.path.join(self.out, "meta.json")
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
        meta["scenarios"] = ["partition", "join"]
        with open(path, "w", encoding="utf-8") as f:
            json.dump(meta, f)
        self.run_report()
        self.assertEqual([s["scenario"] for s in self.results()["scenarios"]], ["partition", "join", "failure"])

    def test_target_pass_fail_for_each_op(self):
        self.run_report()
        res = self.results()
        cases = [("join/join_total_p50_ms", "seed_target", "<", True),
                 ("join/join_total_p50_ms", "target", "<=", True),
                 ("join/join_total_max_ms", "target", "<=", True),      # equal passes <=
                 ("join/hw_profile_p50_ms", "target", "<", False),      # equal fails <
                 ("failure/mesh_msgs_per_s", "seed_target", ">=", True),  # equal passes >=
                 ("failure/mesh_msgs_per_s", "target", ">", False),     # equal fails >
                 ("failure/network_overhead_pct", "target", ">", True),
                 ("failure/recovery_ms", "seed_target", "<", False),    # null value fails
                 ("partition/rejoin_ms", "seed_target", "<", False)]
        for key, kind, op, expected in cases:
            with self.subTest(key=key, kind=kind):
                t = self.metric(res, key)[kind]
                self.assertEqual(t["op"], op)
                self.assertIs(t["pass"], expected)
        self.assertIsNone(self.metric(res, "join/join_total_max_ms")["seed_target"])

    def test_target_rules_directly(self):
        for op, value, target, expected in [("<", 1, 2, True), ("<", 2, 2, False), ("<=", 2, 2, True),
                                            ("<=", 3, 2, False), (">", 3, 2, True), (">", 2, 2, False),
                                            (">=", 2, 2, True), (">=", 1, 2, False), ("<", None, 2, False)]:
            with self.subTest(op=op, value=value):
                self.assertIs(report.target_pass({"op": op, "value": target}, value), expected)

    def test_stdout_table(self):
        proc = self.run_report()
        lines = proc.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["scenario", "metric", "value", "seed", "target", "vs", "baseline"])
        self.assertIn("✗ >10000", proc.stdout)
        self.assertIn("✓ <=50", proc.stdout)
        self.assertIn("FAILED partition: rpi-2 did not rejoin", proc.stdout)
        self.assertRegex(lines[-1], r"^11 metrics; seed targets 6/8 met; our targets 4/6 met; "
                                    r"0 regressions; 1 failed scenarios .*\(exit 1\)$")

    def test_empty_run_renders(self):
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(os.path.join(empty, "scenarios"))
        shutil.copy(os.path.join(FIXTURE, "meta.json"), empty)
        proc = self.run_report(out=empty)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(os.path.join(empty, "report.html"), encoding="utf-8") as f:
            page = f.read()
        self.assertIn("No scenarios in this run", page)
        self.assertIn("No resources.csv", page)
        self.assertNotIn("<svg", page)
        with open(os.path.join(empty, "results.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["summary"]["metrics"], 0)

    def test_repository_baseline_is_valid(self):
        meta, threshold, entries = report.load_baseline(os.path.join(HERE, "baseline.json"))
        self.assertIsInstance(meta, dict)
        self.assertTrue(threshold is None or 0 < threshold < 1)
        for key, entry in entries.items():
            self.assertRegex(key, r"^[^/]+/[^/]+$")
            self.assertIn(entry.get("better"), ("lower", "higher"))
        # The report runs with it (exit 0 or 1 depending on its numbers, never 2).
        proc = subprocess.run([sys.executable, REPORT, self.out, "--baseline",
                               os.path.join(HERE, "baseline.json")], capture_output=True, text=True)
        self.assertIn(proc.returncode, (0, 1), proc.stderr)


class RegressionTest(ReportTestCase):
    def test_compare_rules_directly(self):
        lower, higher = {"value": 100.0}, {"value": 100.0}
        self.assertFalse(report.compare(125, "lower", lower, 0.25)[1])  # exactly at the threshold
        self.assertTrue(report.compare(126, "lower", lower, 0.25)[1])
        self.assertFalse(report.compare(10, "lower", lower, 0.25)[1])   # improvement
        self.assertFalse(report.compare(75, "higher", higher, 0.25)[1])
        self.assertTrue(report.compare(74, "higher", higher, 0.25)[1])
        self.assertFalse(report.compare(500, "higher", higher, 0.25)[1])
        # min_delta: 0.3 ms vs 0.2 ms is +50 % but below a 0.5 ms floor.
        self.assertFalse(report.compare(0.3, "lower", {"value": 0.2, "min_delta": 0.5}, 0.25)[1])
        self.assertTrue(report.compare(0.8, "lower", {"value": 0.2, "min_delta": 0.5}, 0.25)[1])
        self.assertEqual(report.compare(1, "lower", None, 0.25)[2], "new")
        self.assertEqual(report.compare(1, None, lower, 0.25)[2], "not compared")

    def test_regressions_both_directions_and_min_delta(self):
        self.drop_failed_scenario()
        baseline = self.write_baseline({
            "join/join_total_p50_ms": {"value": 30.0, "better": "lower"},             # 42.5: +42 %, regression
            "join/swarmlet_rss_mb": {"value": 3.5, "better": "lower"},                # 3.6: +3 %, fine
            "join/hw_profile_p50_ms": {"value": 0.2, "better": "lower", "min_delta": 0.5},  # +100 %, under floor
            "failure/mesh_msgs_per_s": {"value": 20000, "better": "higher"},          # 10000: -50 %, regression
            "failure/detection_ms": {"value": 600, "better": "lower"},                # 302.5: improvement
        })
        proc = self.run_report(baseline=baseline)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        res = self.results()
        flags = {f"{m['scenario']}/{m['name']}": m["regression"] for m in res["metrics"]}
        self.assertTrue(flags["join/join_total_p50_ms"])
        self.assertTrue(flags["failure/mesh_msgs_per_s"])
        self.assertFalse(flags["join/swarmlet_rss_mb"])
        self.assertFalse(flags["join/hw_profile_p50_ms"])
        self.assertFalse(flags["failure/detection_ms"])
        self.assertEqual(res["summary"]["regressions"], 2)
        p50 = self.metric(res, "join/join_total_p50_ms")
        self.assertEqual(p50["baseline"], 30.0)
        self.assertAlmostEqual(p50["change_pct"], 41.6667, places=3)
        self.assertEqual(self.metric(res, "failure/coordination_p50_ms")["status"], "new")
        self.assertIn("REGRESSION +41.7%", proc.stdout)
        with open(os.path.join(self.out, "report.html"), encoding="utf-8") as f:
            self.assertIn('<span class="badge">REGRESSION</span>', f.read())
        # A looser threshold on the command line clears the 42 % one but not the 50 % one.
        proc = self.run_report("--threshold", "0.45", baseline=baseline)
        self.assertEqual(self.results()["summary"]["regressions"], 1)


class ExitStatusTest(ReportTestCase):
    def test_exit_0_when_all_good_and_strict(self):
        self.drop_failed_scenario()
        proc = self.run_report()
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        proc = self.run_report("--strict")  # hw_profile and mesh_msgs_per_s miss our targets
        self.assertEqual(proc.returncode, 1)
        self.set_value("join.json", "hw_profile_p50_ms", 0.3)
        self.set_value("failure.json", "mesh_msgs_per_s", 10001)
        self.set_value("failure.json", "recovery_ms", 1200)
        self.assertEqual(self.run_report("--strict").returncode, 0)

    def test_exit_1_for_failed_scenario(self):
        proc = self.run_report()
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(self.results()["summary"]["failed_scenarios"], 1)

    def assert_bad_input(self, proc, needle):
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)
        self.assertIn(needle, proc.stderr)

    def test_exit_2_for_invalid_json(self):
        path = os.path.join(self.out, "scenarios", "failure.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write('{"scenario": "failure", "ok": tru')
        self.assert_bad_input(self.run_report(), "failure.json")

    def test_exit_2_for_bad_inputs(self):
        self.assert_bad_input(self.run_report(out=os.path.join(self.tmp, "missing")), "missing")
        bad_baseline = os.path.join(self.tmp, "bad_baseline.json")
        with open(bad_baseline, "w", encoding="utf-8") as f:
            f.write("{,}")
        self.assert_bad_input(self.run_report(baseline=bad_baseline), "bad_baseline.json")
        self.assert_bad_input(self.run_report(baseline=os.path.join(self.tmp, "nope.json")), "nope.json")
        with open(os.path.join(self.out, "resources.csv"), "a", encoding="utf-8") as f:
            f.write("31,gpu,lots,1,1,partition\n")
        self.assert_bad_input(self.run_report(), "resources.csv")

    def test_exit_2_for_bad_scenario_shape(self):
        path = os.path.join(self.out, "scenarios", "join.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"scenario": "join", "ok": True,
                       "metrics": [{"name": "x", "value": 1, "target": {"op": "~", "value": 1}}]}, f)
        self.assert_bad_input(self.run_report(), "join.json")


class WriteBaselineTest(ReportTestCase):
    def test_round_trip(self):
        new = os.path.join(self.tmp, "new_baseline.json")
        old = self.write_baseline({"join/hw_profile_p50_ms": {"value": 0.1, "better": "lower", "min_delta": 1},
                                   "partition/rejoin_ms": {"value": 900, "better": "lower"}}, name="old.json")
        proc = self.run_report("--write-baseline", new, baseline=old)
        self.assertIn("baseline written", proc.stdout)
        with open(new, encoding="utf-8") as f:
            doc = json.load(f)
        self.assertEqual(doc["meta"]["revision"], "abc123")
        self.assertEqual(doc["meta"]["date"], "2026-12-01T22:40:00Z")
        self.assertEqual(doc["threshold"], 0.25)
        entries = doc["metrics"]
        self.assertEqual(entries["join/join_total_p50_ms"], {"value": 42.5, "better": "lower"})
        self.assertEqual(entries["failure/mesh_msgs_per_s"], {"value": 10000, "better": "higher"})
        self.assertEqual(entries["join/hw_profile_p50_ms"]["min_delta"], 1)  # floor kept
        self.assertEqual(entries["partition/rejoin_ms"]["value"], 900)      # failed scenario: old kept
        self.assertNotIn("join/joins", entries)             # no "better": not comparable
        self.assertNotIn("failure/recovery_ms", entries)    # no value, nothing to keep
        # The same run against its own baseline: no regressions, every change 0 %.
        self.drop_failed_scenario()
        proc = self.run_report(baseline=new)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        compared = [m for m in self.results()["metrics"] if m["baseline"] is not None]
        self.assertEqual(len(compared), 8)
        self.assertTrue(all(m["change_pct"] == 0 for m in compared))
        # A 50 % slower join against it is a regression.
        self.set_value("join.json", "join_total_p50_ms", 63.75)
        self.assertEqual(self.run_report(baseline=new).returncode, 1)


if __name__ == "__main__":
    unittest.main()
