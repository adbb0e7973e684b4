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
from xml.etree import ElementTree

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

    def assert_bad_input(self, proc, needle):
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)
        self.assertIn(needle, proc.stderr)

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


def scale_run(n, cpu, wakeups, bytes_s, rss, kills, decided=0):
    """One measured size as tests/testbed/scale.py writes it (its per-swarmlet rows left out)."""
    idle = {"cpu_pct": cpu, "wakeups_s": wakeups, "bytes_s": bytes_s, "rss_kb": rss, "fds": 2 * n + 28,
            "threads": 4, "swarmlets_sampled": n}
    return {"swarmlets": n, "join_all_s": n / 4, "join_retries": 0, "idle": idle,
            "stress": dict(idle, cpu_pct=cpu * 2, bytes_s=240000 / n, messages=10000, lost=0),
            "decided_failures": decided, "kill_decided_ms": kills, "load_after": [1.5, 1.2, 1.0]}


# Issue 20's scale.json in small: 5, 20 and 50 measured (50 misses the CPU target, decided a
# failure while idle and never decided one kill), 100 could not be set up.
SCALE = {"mode": "netns", "sizes": [5, 20, 50, 100], "idle_s": 30.0, "machine": "2 cores",
         "load_at_start_and_end": [[1.5, 1.2, 1.0], [3.0, 2.0, 1.5]],
         "runs": [scale_run(5, 0.5, 130.0, 12000.0, 5152, [503.875, 508.4]),
                  scale_run(20, 0.6, 132.0, 12500.0, 6538.0, [513.9, 519.1]),
                  scale_run(50, 0.7, 129.0, 13000.0, 9232.0, [520.2, None], decided=1),
                  {"swarmlets": 100, "error": "s33 did not join in 3 tries: <neighbour table overflow>",
                   "load_after": [9.0, 5.0, 2.0]}]}


class ScaleTest(ReportTestCase):
    """The "Membership scale" section from OUT/scale/scale.json (tests/testbed/scale.py)."""

    def write_scale(self, doc, name="scale.json", out=None):
        os.makedirs(os.path.join(out or self.out, "scale"), exist_ok=True)
        with open(os.path.join(out or self.out, "scale", name), "w", encoding="utf-8") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))

    def page(self):
        with open(os.path.join(self.out, "report.html"), encoding="utf-8") as f:
            return f.read()

    def test_section_table_ratios_and_plots(self):
        self.drop_failed_scenario()
        self.write_scale(SCALE)
        proc = self.run_report()
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)  # 100 swarmlets failed
        page = self.page()
        section = page[page.index('<section id="scale" class="failed">'):]
        section = section[:section.index("</section>")]
        self.assertIn("Membership scale", section)
        self.assertEqual(section.count("<svg"), 4)
        self.assertEqual(page.count("<svg"), 3 + 4)  # the fixture's resource plots, then these
        for title in ("CPU per swarmlet", "Wake-ups per swarmlet", "Traffic per swarmlet", "RSS per swarmlet",
                      "swarmlets in the cluster", "target: 1.3x the smallest size"):
            self.assertIn(title, section)
        self.assertEqual(section.count("<polyline"), 6)  # idle in 4 plots, target lines in CPU and bytes/s
        self.assertEqual(section.count("<circle"), 4 * 3 + 2 * 2)
        for svg in re.findall(r"<svg.*?</svg>", section, re.S):
            ElementTree.fromstring(svg)  # well-formed
        # One row per size; the failed one with its (escaped) error.
        rows = re.findall(r"<tr><td class=\"num\">(\d+)</td>(.*?)</tr>", section)
        self.assertEqual([n for n, _ in rows], ["5", "20", "50"])
        cells = re.findall(r"<td class=\"num[^\"]*\">([^<]*)</td>", rows[0][1])
        self.assertEqual(cells, ["1.25", "0.5", "130", "12000", "5152", "38", "4", "1", "130", "48000",
                                 "0 / 10000", "0", "504 / 508"])
        self.assertIn('<td class="num fail">1</td>', rows[2][1])                       # decided while idle
        self.assertIn('<td class="num fail">520 / not decided</td>', rows[2][1])
        self.assertIn("FAILED: s33 did not join in 3 tries: &lt;neighbour table overflow&gt;", section)
        self.assertRegex(section, r"<td>CPU</td><td class=\"num\">50 / 5</td><td class=\"num\">1.4</td>"
                                  r"<td>&lt;= 1.3x</td><td class=\"fail\">MISSED</td>")
        self.assertRegex(section, r"<td>bytes/s</td>.*<td class=\"num\">1.08</td>.*<td class=\"pass\">met</td>")
        self.assertIn('scale target &lt;= 1.3x MISSED', page)  # in the summary line at the top
        # stdout: the table, the failed size and the verdicts, before the metrics table.
        out = proc.stdout
        self.assertRegex(out, r"\n5 +1\.25 +0\.5 +130 +12000 +5152 +38 +4 +1 +130 +48000 +0 / 10000 +0 +504 / 508\n")
        self.assertRegex(out, r"\n100 +FAILED( +—)+\n")
        self.assertIn("FAILED 100 swarmlets: s33 did not join in 3 tries", out)
        self.assertIn("CPU 50 / 5 swarmlets: 1.4x (target <= 1.3x: MISSED)", out)
        self.assertIn("bytes/s 50 / 5 swarmlets: 1.08x (target <= 1.3x: met)", out)
        self.assertIn("wake-ups/s 50 / 5 swarmlets: 0.992x (no target)", out)
        self.assertIn("memory per known member (RSS slope 5 -> 50 swarmlets): 90.7 kB (target <= 2 kB: MISSED)", out)
        self.assertRegex(out.splitlines()[-1], r"0 failed scenarios; scale target <= 1.3x MISSED, 1 failed sizes -> "
                                               r".*\(exit 1\)$")
        # results.json
        scale = self.results()["scale"]
        # RSS 5,152 kB at 5 swarmlets, 9,232 kB at 50: (9232 - 5152) / 45 = 90.7 kB per member.
        self.assertAlmostEqual(scale["memory_per_member"]["kb"], 4080 / 45)
        self.assertFalse(scale["memory_per_member"]["met"])
        self.assertEqual(scale["memory_per_member"]["figure"], "rss_kb")  # the fixture has no anon_kb
        self.assertEqual([(r["swarmlets"], r["status"]) for r in scale["rows"]],
                         [(5, "ok"), (20, "ok"), (50, "ok"), (100, "FAILED")])
        self.assertEqual(scale["rows"][0]["idle"]["cpu_pct"], 0.5)
        self.assertEqual(scale["rows"][2]["kill_decided_ms"], [520.2, None])
        self.assertEqual(scale["rows"][2]["kills_undecided"], 1)
        self.assertEqual(scale["failed_sizes"], [100])
        self.assertIs(scale["target_met"], False)
        self.assertFalse(scale["partial"])
        ratios = {r["figure"]: r for r in scale["ratios"]}
        self.assertAlmostEqual(ratios["cpu_pct"]["ratio"], 1.4)
        self.assertEqual((ratios["cpu_pct"]["smallest"], ratios["cpu_pct"]["largest"]), (5, 50))
        self.assertIs(ratios["cpu_pct"]["met"], False)
        self.assertIs(ratios["bytes_s"]["met"], True)
        self.assertIsNone(ratios["wakeups_s"]["target"])
        self.assertEqual(self.results()["summary"]["failed_scenarios"], 0)

    def test_missed_target_is_not_a_failure(self):
        self.drop_failed_scenario()
        self.write_scale(dict(SCALE, sizes=[5, 20, 50], runs=SCALE["runs"][:3]))
        proc = self.run_report()
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn('<section id="scale" class="">', self.page())
        self.assertIs(self.results()["scale"]["target_met"], False)

    def test_memory_per_member_from_anonymous_memory(self):
        # With scale.py's anon_kb the slope is taken from it, not from RSS: 1,260 -> 1,596 kB from 5 to
        # 100 swarmlets is 3.54 kB per member (RSS grows faster here and must not be used).
        self.drop_failed_scenario()
        runs = [scale_run(5, 0.3, 28.0, 4300.0, 4820, [503.0]), scale_run(100, 0.3, 28.0, 4700.0, 9000, [580.0])]
        runs[0]["idle"]["anon_kb"], runs[1]["idle"]["anon_kb"] = 1260, 1596
        self.write_scale(dict(SCALE, sizes=[5, 100], runs=runs))
        proc = self.run_report()
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        memory = self.results()["scale"]["memory_per_member"]
        self.assertEqual(memory["figure"], "anon_kb")
        self.assertAlmostEqual(memory["kb"], 336 / 95)
        self.assertFalse(memory["met"])
        self.assertIn("memory per known member (anonymous memory slope 5 -&gt; 100 swarmlets): 3.54 kB "
                      "(target &lt;= 2 kB: MISSED)", self.page())

    def test_partial_run_and_scale_only_directory(self):
        # The run stopped after 20 swarmlets: only scale.partial.json, a list of the sizes done.
        only = os.path.join(self.tmp, "scale-only")
        self.write_scale(SCALE["runs"][:2], name="scale.partial.json", out=only)
        proc = self.run_report(out=only)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("the scale run did not finish", proc.stdout)
        self.assertIn("CPU 20 / 5 swarmlets: 1.2x (target <= 1.3x: met)", proc.stdout)
        with open(os.path.join(only, "results.json"), encoding="utf-8") as f:
            res = json.load(f)
        self.assertTrue(res["scale"]["partial"])
        self.assertTrue(res["scale"]["file"].endswith("scale.partial.json"))
        self.assertEqual(res["summary"]["metrics"], 0)
        with open(os.path.join(only, "report.html"), encoding="utf-8") as f:
            page = f.read()
        self.assertIn("No scenarios in this run", page)
        self.assertIn("FAILED: the scale run did not finish", page)
        self.assertEqual(page.count("<svg"), 4)
        # scale.json wins over the partial file once the run finished.
        self.write_scale(dict(SCALE, sizes=[5, 20], runs=SCALE["runs"][:2]), out=only)
        self.assertEqual(self.run_report(out=only).returncode, 0)

    def test_single_size_and_no_byte_counts(self):
        # Loopback mode has no per-node byte counts; one size gives no ratios.
        runs = [scale_run(1, 0.5, 100.0, None, 5000, []), scale_run(6, 0.6, 100.0, None, 5100, [])]
        scale = report.scale_results({"file": "scale.json", "mode": "loopback", "runs": runs})
        self.assertEqual([r["met"] for r in scale["ratios"]], [True, None, None])
        self.assertIsNone(scale["target_met"])
        self.assertIn("no samples", report.scale_charts(scale)[2])
        one = report.scale_results({"file": "scale.json", "runs": runs[:1]})
        self.assertEqual(one["ratios"], [])
        self.assertIsNone(one["target_met"])
        self.assertIn("fewer than two sizes measured", report.scale_text(one))

    def test_exit_2_for_bad_scale_json(self):
        self.write_scale('{"mode": "netns", "runs": [')
        self.assert_bad_input(self.run_report(), os.path.join("scale", "scale.json"))
        for doc in ({"runs": {}}, {"runs": [{"swarmlets": "5"}]}, {"sizes": "5,20", "runs": []},
                    {"runs": [dict(SCALE["runs"][0], idle={"cpu_pct": "lots"})]},
                    {"runs": [dict(SCALE["runs"][0], kill_decided_ms=500)]}):
            with self.subTest(doc=doc):
                self.write_scale(doc)
                self.assert_bad_input(self.run_report(), "scale.json")
        os.remove(os.path.join(self.out, "scale", "scale.json"))
        self.write_scale({"runs": []}, name="scale.partial.json")
        self.assert_bad_input(self.run_report(), "scale.partial.json")


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
