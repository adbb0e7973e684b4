#!/usr/bin/env python3
"""Strict reader of the Prometheus text exposition format 0.0.4.

    prometheus_text.py FILE [--min 'NAME{LABELS}' VALUE]... [--family NAME]...

Parses FILE (a /metrics body) and exits 1 with "FAIL: ..." on the first
violation of the format: HELP then TYPE before a family's samples, each
family once and its samples together, valid metric and label names, escapes,
values, no duplicate series, histogram buckets with "le", cumulative and
ending in +Inf equal to _count, and a _sum. Then checks that each --family
exists and that each --min series is present with a value >= VALUE (labels
written exactly as in the exposition, in order; a histogram's series is named
with its suffix, e.g. x_bucket{phase="total",le="+Inf"}).
Prints one "ok:" line per check and "prometheus text: valid" at the end.
"""
import math
import re
import sys

METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def parse_value(text, where):
    if text in ("NaN", "+Inf", "-Inf"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        fail(f"{where}: bad value {text!r}")
    return float(text)


def parse_labels(text, where):
    """text starts after '{'; returns (labels as list of pairs, rest after '}')."""
    labels = []
    i = 0
    while True:
        if text[i:i + 1] == "}":
            return labels, text[i + 1:]
        m = LABEL.match(text, i)
        if not m:
            fail(f"{where}: bad label name at {text[i:]!r}")
        name = m.group(0)
        if name.startswith("__"):
            fail(f"{where}: reserved label name {name}")
        i = m.end()
        if text[i:i + 2] != '="':
            fail(f"{where}: expected =\" after {name}")
        i += 2
        value = []
        while True:
            if i >= len(text):
                fail(f"{where}: unterminated label value")
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    fail(f"{where}: bad escape \\{nxt}")
                value.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                fail(f"{where}: raw newline in label value")
            else:
                value.append(c)
                i += 1
        if any(n == name for n, _ in labels):
            fail(f"{where}: label {name} repeated")
        labels.append((name, "".join(value)))
        if text[i:i + 1] == ",":
            i += 1
        elif text[i:i + 1] != "}":
            fail(f"{where}: expected , or }} after label {name}")


def family_of(sample_name, types):
    if sample_name in types:
        return sample_name, ""
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample_name[: -len(suffix)]
        if sample_name.endswith(suffix) and types.get(base) == "histogram":
            return base, suffix
    return None, None


def parse(text):
    if not text.endswith("\n"):
        fail("the exposition does not end with a newline")
    types, helps, done = {}, {}, set()
    series = {}  # "name{labels}" -> value
    hist = {}  # (family, labels without le) -> {"buckets": [(le, v)], "sum": v, "count": v}
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {n}"
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not METRIC.fullmatch(name):
                    fail(f"{where}: bad metric name {name!r}")
                if parts[1] == "HELP":
                    if name in helps or name in done:
                        fail(f"{where}: second HELP for {name}")
                    body = parts[3] if len(parts) > 3 else ""
                    if re.search(r"\\[^\\n]", body.replace("\\\\", "")):
                        fail(f"{where}: bad escape in HELP of {name}")
                    helps[name] = body
                    if current != name:
                        if current is not None:
                            done.add(current)
                        current = name
                else:
                    if name in types:
                        fail(f"{where}: second TYPE for {name}")
                    if len(parts) != 4 or parts[3] not in TYPES:
                        fail(f"{where}: bad TYPE line {line!r}")
                    if name in done:
                        fail(f"{where}: family {name} split")
                    if current != name and current is not None:
                        done.add(current)
                    current = name
                    types[name] = parts[3]
            continue
        m = METRIC.match(line)
        if not m:
            fail(f"{where}: bad sample {line!r}")
        name, rest = m.group(0), line[m.end():]
        labels = []
        if rest.startswith("{"):
            labels, rest = parse_labels(rest[1:], where)
        if not rest.startswith(" "):
            fail(f"{where}: no space before the value")
        fields = rest[1:].split(" ")
        if len(fields) not in (1, 2):
            fail(f"{where}: trailing garbage {rest!r}")
        value = parse_value(fields[0], where)
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            fail(f"{where}: bad timestamp {fields[1]!r}")
        family, suffix = family_of(name, types)
        if family is None:
            fail(f"{where}: sample {name} without a TYPE")
        if family != current:
            fail(f"{where}: sample {name} outside its family's block")
        if family not in helps:
            fail(f"{where}: family {family} has no HELP")
        if types[family] == "counter" and not family.endswith("_total"):
            fail(f"{where}: counter {family} does not end in _total")
        if types[family] == "histogram" and suffix == "":
            fail(f"{where}: histogram sample {name} without _bucket/_sum/_count")
        key = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"
        if key in series:
            fail(f"{where}: duplicate series {key}")
        series[key] = value
        if suffix:
            base = tuple((k, v) for k, v in labels if k != "le")
            h = hist.setdefault((family, base), {"buckets": [], "sum": None, "count": None})
            if suffix == "_bucket":
                le = dict(labels).get("le")
                if le is None:
                    fail(f"{where}: bucket without le")
                h["buckets"].append((parse_value(le, where), value))
            elif "le" in dict(labels):
                fail(f"{where}: le on {name}")
            else:
                h[suffix[1:]] = value
    for (family, base), h in hist.items():
        what = f"histogram {family}{dict(base)}"
        bounds = [le for le, _ in h["buckets"]]
        if not bounds or bounds[-1] != math.inf:
            fail(f"{what}: no +Inf bucket")
        if bounds != sorted(bounds):
            fail(f"{what}: buckets not in ascending order")
        counts = [v for _, v in h["buckets"]]
        if any(b < a for a, b in zip(counts, counts[1:])):
            fail(f"{what}: buckets not cumulative")
        if h["count"] is None or h["sum"] is None:
            fail(f"{what}: _count or _sum missing")
        if h["count"] != counts[-1]:
            fail(f"{what}: _count {h['count']} != +Inf bucket {counts[-1]}")
    return types, series


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        types, series = parse(f.read())
    print(f"ok: {argv[1]}: {len(types)} families, {len(series)} series parse strictly")
    args = argv[2:]
    while args:
        if args[0] == "--family" and len(args) >= 2:
            if args[1] not in types:
                fail(f"family {args[1]} missing")
            print(f"ok: family {args[1]} ({types[args[1]]})")
            args = args[2:]
        elif args[0] == "--min" and len(args) >= 3:
            key, minimum = args[1], float(args[2])
            if "{" not in key:
                key += "{}"
            if key not in series:
                fail(f"series {key} missing")
            if not series[key] >= minimum:
                fail(f"series {key} = {series[key]}, expected >= {minimum}")
            print(f"ok: {key} = {series[key]:g} (>= {minimum:g})")
            args = args[3:]
        else:
            print(f"FAIL: bad arguments {args}")
            return 2
    print("prometheus text: valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
