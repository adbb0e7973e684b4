#!/usr/bin/env bash
# The live dashboard on loopback (issue 19, docs/dashboard.md): `stratoswarm
# serve --dashboard-port` with three swarmlets (fake Pis). /api/nodes lists
# them as `node ls` does; a headless Chromium renders the page (driven over
# the DevTools protocol by cdp_page.py, since --dump-dom and --screenshot
# take the page before its first server-sent event): the node table lists the
# three Pis, a workload shows up in the workload table, the page loaded
# nothing from another origin. Then kill -9 of one swarmlet: the page shows it
# Down within 2 s of the failure decision (the failure_detection.decided
# record in serve's timing.jsonl), and the decision in its event list. A
# screenshot is kept (SHOT); a second serve on the same dashboard port exits 1
# with one clear line.
#   dashboard_test.sh STRATOSWARM SWARMLET SHOT
set -uo pipefail

ss=$1 sw=$2 shot=${3:-}
chromium=$(command -v chromium || command -v chromium-browser) ||
  { echo "SKIPPED: no chromium (scripts/bootstrap installs Debian's chromium)"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
. "$here/loopback_lib.sh"
ll_cluster_init dashboard
dash=$((base + 4)) cdp=$((base + 5))
url=http://127.0.0.1:$dash/
cleanup() {  # chromium and its helpers are one process group (setsid below)
  [ -n "${pid[chromium]:-}" ] && kill -9 -- "-${pid[chromium]}" 2>/dev/null
  ll_cluster_cleanup
}
trap cleanup EXIT INT TERM
page() { python3 "$here/cdp_page.py" "$cdp" "$@"; }
api() { curl -sS --max-time 5 "${url}api/$1"; }

# Not through S: $! must be serve itself, for the cleanup's kill.
"$ss" --state-dir "$P" serve --name "$(n primary-gpu)" --listen 127.0.0.1 --no-mdns --mesh-port $mesh --join-port $join \
  --bootstrap-port $boot --dashboard-port $dash >>"$work/serve.log" 2>&1 &
pid[serve]=$!
wait_for 10 S node ls || fail "serve did not come up"
grep -q "Serving the dashboard on http://127.0.0.1:$dash/" "$work/serve.log" || fail "serve: no dashboard line"
S serve --help | grep -q -- "--dashboard-port" || fail "serve --help lacks --dashboard-port"
ok "serve says where the dashboard is"

# The port taken: a second serve (own state dir and ports) refuses to start.
out=$(timeout 30 "$ss" --state-dir "$work/second" serve --name "$(n second-gpu)" --listen 127.0.0.1 --no-mdns \
  --mesh-port $((base + 10)) --join-port $((base + 11)) --bootstrap-port $((base + 12)) \
  --dashboard-port $dash 2>&1 >/dev/null)
rc=$?
[ $rc = 1 ] || fail "second serve on the dashboard's port: exit $rc, expected 1: $out"
grep -q "dashboard bind 127.0.0.1:$dash.*in use" <<<"$out" || fail "no clear error for the port in use: $out"
ok "a dashboard port in use: exit 1, '$(tail -1 <<<"$out")'"

token=$(S cluster create-join-token) || fail "create-join-token"
for pi in rpi-1 rpi-2 rpi-3; do
  "$sw" join --cluster 127.0.0.1:$boot --token "$token" --name "$(n $pi)" --state-dir "$work/$pi" --mesh-port 0 \
    --hw-root "$("$here/../../scripts/make_fake_pi_root.sh" "$work/hw-$pi")" >>"$work/$pi.log" 2>&1 &
  pid[$pi]=$!
done
for pi in rpi-1 rpi-2 rpi-3; do
  wait_for 20 grep -q "Successfully joined" "$work/$pi.log" || fail "$pi did not join"
done

# /api/nodes as the page gets it: the same nodes and states as `node ls`.
ready_pis() { api nodes | python3 -c '
import json, sys
print(sum(1 for n in json.load(sys.stdin) if n["type"] == "rpi" and n["status"] == "Ready"))'; }
wait_for 5 [ "$(ready_pis)" = 3 ] || fail "/api/nodes lacks 3 Ready Pis: $(api nodes)"
same=$(python3 -c '
import json, sys
a, b = (sorted((n["name"], n["status"], n["arch"], n["cores"], n["memory_mb"]) for n in json.loads(s))
        for s in sys.argv[1:])
print(a == b)' "$(api nodes)" "$(S node ls --format json)")
[ "$same" = True ] || fail "/api/nodes and node ls differ: $(api nodes)"
ok "/api/nodes lists serve and the 3 Pis as node ls does"

# A workload (root: it runs under cgroups) for the workload table.
workload=
if [ "$(id -u)" = 0 ]; then
  S run --name "dash-$base" - sh -c "exec sleep 605$base" >/dev/null || fail "run"
  workload="dash-$base"
else
  echo "note: not root, no workload run (the workload table is checked empty)"
fi

setsid "$chromium" --headless=new --no-sandbox --disable-gpu --no-first-run --remote-debugging-port=$cdp \
  --user-data-dir="$work/chromium" --window-size=1280,900 about:blank >>"$work/chromium.log" 2>&1 &
pid[chromium]=$!
wait_for 30 curl -sf "http://127.0.0.1:$cdp/json/version" || fail "chromium's DevTools port did not open"
page open "$url" || fail "chromium: open $url"
rows="[...document.querySelectorAll('#nodes tbody tr[data-node]')]"
for pi in rpi-1 rpi-2 rpi-3; do
  page wait 10 "$rows.some(r => r.dataset.node == '$(n $pi)' && r.dataset.status == 'Ready')" >/dev/null ||
    fail "the page does not list $(n $pi) Ready: $(page eval "document.querySelector('#nodes').outerHTML")"
done
[ "$(page eval "$rows.length")" = 4 ] || fail "the page lists $(page eval "$rows.length") nodes, expected 4"
# Each row shows the node ls columns: arch, cores, memory (the fake Pi's 4 cores, ~3.7 GiB).
cells=$(page eval "$rows.find(r => r.dataset.node == '$(n rpi-2)').innerText")
for want in "rpi" "4 cores" "GiB" "Ready"; do [[ $cells == *"$want"* ]] || fail "rpi-2's row lacks '$want': $cells"; done
ok "the rendered page lists the 3 Pis Ready ($cells)"

if [ -n "$workload" ]; then
  page wait 10 "[...document.querySelectorAll('#workloads tbody tr')].some(r => r.innerText.includes('$workload') && r.dataset.status == 'Running')" >/dev/null ||
    fail "the page does not show $workload Running: $(page eval "document.querySelector('#workloads').outerHTML")"
  ok "the workload table shows $workload Running"
fi
page wait 5 "document.querySelector('#events tr[data-key=\"join.admit\"]') != null" >/dev/null ||
  fail "no join.admit in the page's event list"
page wait 5 "document.querySelector('#chart .u-over') != null" >/dev/null || fail "no uPlot chart on the page"
foreign=$(page eval "performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('$url')).join(' ')")
[ "$foreign" = '""' ] || fail "the page loaded from elsewhere: $foreign"
ok "joins in the event list and the chart; nothing loaded from another origin"

# kill -9 of rpi-3: Down on the page within 2 s of the decision (the page is
# polled every 50 ms from before the kill; its wall clock is this machine's).
victim=$(n rpi-3)
kill -9 "${pid[rpi-3]}"
shown=$(page wait 20 "$rows.some(r => r.dataset.node == '$victim' && r.dataset.status == 'Down')") ||
  fail "the page never showed $victim Down: $(page eval "document.querySelector('#nodes').outerHTML")"
shown_ns=${shown#* }
grep -q "Node $victim is Down: failure decided" "$work/serve.log" || fail "serve did not say $victim is Down"
decided=$(grep '"event":"failure_detection","phase":"decided"' "$P/timing.jsonl" | grep "\"name\":\"$victim\"" | tail -1)
[ -n "$decided" ] || fail "no failure_detection.decided record for $victim in timing.jsonl"
decided_ns=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["ts_ns"])' "$decided")
lag_ms=$(( (shown_ns - decided_ns) / 1000000 ))
[ "$lag_ms" -lt 2000 ] || fail "$victim shown Down ${lag_ms} ms after the decision (limit 2000)"
ok "the page showed $victim Down ${lag_ms} ms after the failure decision (limit 2000 ms)"
page wait 5 "document.querySelector('#events tr[data-key=\"failure_detection.decided\"]') != null" >/dev/null ||
  fail "no failure_detection.decided in the page's event list"
[ "$(api nodes | python3 -c "import json,sys; print([n['status'] for n in json.load(sys.stdin) if n['name']=='$victim'][0])")" = Down ] ||
  fail "/api/nodes does not say $victim is Down"
ok "the decision is in the page's event list and /api/nodes"

if [ -n "$shot" ]; then
  mkdir -p "$(dirname "$shot")"
  sleep 0.5  # the chart has drawn the decision
  page screenshot "$shot" 1280 900 || fail "screenshot"
  [ "$(head -c 8 "$shot" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] || fail "$shot is not a PNG"
  ok "screenshot: $shot"
fi
echo "dashboard test: passed"
