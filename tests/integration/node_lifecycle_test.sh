#!/usr/bin/env bash
# Node lifecycle on loopback (issue 17): serve with a 6 s certificate lifetime
# and three swarmlets (fake Pis) joined with the token from a file (deleted
# after the join), from STRATOSWARM_JOIN_TOKEN and from --token (warned):
#   1. renewal (serve --cert-ttl 6s): every node renews at two thirds of the lifetime (by 4 s), is
#      still a member after 10 s, cert_expires moves on; a restart after the
#      first certificate expired rejoins with the renewed one; a node away past
#      its expiry is told to rejoin with a token, and does;
#   2. node rm X: X's workload Running elsewhere (timed), X's swarmlet ends its
#      copy, deletes its identity and exits 3 with the reason; X is listed by
#      node revoked; its old key is refused by the bandwidth endpoint; X's old
#      state dir brought back is refused (the mesh's ZAP refuses its key, the
#      join endpoint tells it why) and exits 3 again;
#   3. node rm of an unknown name, of the GPU peer: one line, exit 1; an
#      unreachable node is refused without --force and removed with it.
#   node_lifecycle_test.sh STRATOSWARM SWARMLET
set -uo pipefail

ss=$1 sw=$2
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root (cgroups for the workloads)"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
. "$here/loopback_lib.sh"
ll_cluster_init lifecycle
node_field() { S node ls --format json | python3 -c "import json,sys; print(' '.join(str(x[sys.argv[2]]) for x in json.load(sys.stdin) if x['name']==sys.argv[1]) or 'absent')" "$1" "$2"; }
node_is() { [ "$(node_field "$1" status)" = "$2" ]; }
copies() { pgrep -fc "sleep 60$1$base" || true; }
now_ms() { date +%s%3N; }
exited() { ! kill -0 "$1" 2>/dev/null; }

start_serve() {
  "$ss" --state-dir "$P" serve --name "$(n primary-gpu)" --listen 127.0.0.1 --no-mdns --mesh-port $mesh --join-port $join \
    --bootstrap-port $boot --cert-ttl "${cert_ttl:-6s}" >>"$work/serve.log" 2>&1 &
  pid[serve]=$!
  wait_for 10 S node ls || fail "serve did not come up"
}
fake_pi() { "$here/../../scripts/make_fake_pi_root.sh" "$work/hw-$1"; }
start_pi() {  # start_pi NAME [ARGS...]
  local name=$1; shift
  "$sw" join --cluster 127.0.0.1:$boot --name "$(n "$name")" --state-dir "$work/$name" --mesh-port 0 \
    --hw-root "$(fake_pi "$name")" "$@" >>"$work/$name.log" 2>&1 &
  pid[$name]=$!
}

start_serve
token=$(S cluster create-join-token) || fail "create-join-token"
secret=${token##*-}
(umask 077; printf '%s\n' "$token" >"$work/join.token")
start_pi rpi-1 --token-file "$work/join.token" --remove-token-file
STRATOSWARM_JOIN_TOKEN=$token start_pi rpi-2
start_pi rpi-3 --token "$token"
t_join=$(now_ms)
for pi in rpi-1 rpi-2 rpi-3; do wait_for 20 grep -q "Successfully joined" "$work/$pi.log" || fail "$pi did not join"; done
[ ! -e "$work/join.token" ] || fail "the token file is still there after the join"
grep -q "Removed the join token file" "$work/rpi-1.log" || fail "rpi-1 did not say it removed the token file"
grep -q "WARNING: --token is visible" "$work/rpi-3.log" || fail "rpi-3 was not warned about --token"
grep -q "WARNING: --token" "$work/rpi-1.log" "$work/rpi-2.log" && fail "a node without --token was warned"
grep -rq -- "$secret" "$work"/*.log && fail "the token's secret was printed"
ok "3 Pis joined: token file (then deleted), STRATOSWARM_JOIN_TOKEN, --token (warned); the secret printed nowhere"

# --- 1. renewal ------------------------------------------------------------------------
exp0=$(node_field "$(n rpi-1)" cert_expires)
for pi in rpi-1 rpi-2 rpi-3; do
  wait_for 8 grep -q "Renewed this node's certificate" "$work/$pi.log" || fail "$pi did not renew within 8 s"
done
renewed_ms=$(($(now_ms) - t_join))
grep -q '"event":"cert","phase":"renewed"' "$work/rpi-1/timing.jsonl" || fail "no cert renewed timing on rpi-1"
grep -q '"event":"cert","phase":"renew"' "$P/timing.jsonl" || fail "no cert renew timing on the GPU peer"
sleep $(( (10000 - ($(now_ms) - t_join)) / 1000 + 1 ))  # past 10 s after the join
for pi in rpi-1 rpi-2 rpi-3; do node_is "$(n $pi)" Ready || fail "$pi not Ready after 10 s: $(node_field "$(n $pi)" status)"; done
exp1=$(node_field "$(n rpi-1)" cert_expires)
[[ "$exp1" > "$exp0" ]] || fail "cert_expires did not move: $exp0 -> $exp1"
ok "renewed by 4 s (all three within ${renewed_ms} ms of joining), all Ready after 10 s, cert_expires $exp0 -> $exp1"
# A restart past the first certificate's expiry: the renewed one was saved.
kill -TERM "${pid[rpi-2]}"; wait "${pid[rpi-2]}" 2>/dev/null
: >"$work/rpi-2.log"
start_pi rpi-2
wait_for 10 grep -q "Successfully joined" "$work/rpi-2.log" || fail "rpi-2 did not rejoin with its renewed certificate"
ok "rpi-2 restarted 10 s after its first certificate's expiry: rejoined with the renewed one"
# Away past the expiry: told to rejoin with a token; with one, it does.
kill -TERM "${pid[rpi-2]}"; wait "${pid[rpi-2]}" 2>/dev/null
sleep 7
: >"$work/rpi-2.log"
start_pi rpi-2
wait_for 10 exited "${pid[rpi-2]}" || fail "rpi-2 runs on with an expired certificate"
grep -q "expired at .*; rejoin with a new token" "$work/rpi-2.log" || fail "expired: $(cat "$work/rpi-2.log")"
STRATOSWARM_JOIN_TOKEN=$token start_pi rpi-2
wait_for 15 grep -q "Successfully joined" "$work/rpi-2.log" || fail "rpi-2 did not rejoin with a token"
wait_for 5 node_is "$(n rpi-2)" Ready || fail "rpi-2 not Ready after its rejoin"
ok "away past its expiry: refused with the expiry message, rejoined with a token"

# --- 2. node rm ------------------------------------------------------------------------
# serve again with a 1 h lifetime, so that rpi-1's saved identity is still
# valid when it comes back below (the nodes pick it up at their next renewal).
kill -TERM "${pid[serve]}"; wait "${pid[serve]}" 2>/dev/null
cert_ttl=1h start_serve
long_cert() { [[ "$(node_field "$(n rpi-1)" cert_expires)" > "$(date -u -d '+30 min' +%Y-%m-%dT%H:%M:%SZ)" ]]; }
wait_for 20 long_cert || fail "rpi-1 did not renew for 1 h after serve --cert-ttl 1h: $(node_field "$(n rpi-1)" cert_expires)"
for pi in rpi-1 rpi-2 rpi-3; do wait_for 10 node_is "$(n $pi)" Ready || fail "$pi not Ready after serve's restart"; done
S run --name victim - sh -c "exec sleep 605$base" >/dev/null || fail "run victim"
wait_for 10 eval '[[ "$(status_of victim)" == Running@* ]]' || fail "victim not Running: $(status_of victim)"
S migrate victim --to "$(n rpi-1)" >/dev/null 2>&1 || running_on victim "$(n rpi-1)" || fail "migrate victim to rpi-1"
wait_for 10 running_on victim "$(n rpi-1)" || fail "victim not on rpi-1: $(status_of victim)"
cp -a "$work/rpi-1" "$work/rpi-1.saved"
t0=$(now_ms)
out=$(S node rm "$(n rpi-1)" 2>&1) || fail "node rm: $out"
echo "$out" | grep -q "^removed $(n rpi-1) .*certificate revoked, 1 workload(s) moving.*the node was told" || fail "node rm said: $out"
moved() { local s; s=$(status_of victim); [[ "$s" == Running@* && "$s" != "Running@$(n rpi-1)" ]]; }
wait_for 10 moved || fail "victim not Running elsewhere: $(status_of victim)"
moved_ms=$(($(now_ms) - t0))
wait_for 10 exited "${pid[rpi-1]}" || fail "rpi-1's swarmlet still runs after node rm"
wait "${pid[rpi-1]}"; rc=$?
[ "$rc" = 3 ] || fail "rpi-1 exited $rc, not 3"
grep -q "swarmlet: node $(n rpi-1) was removed from the cluster on .*identity deleted" "$work/rpi-1.log" ||
  fail "rpi-1's last words: $(tail -2 "$work/rpi-1.log")"
[ ! -e "$work/rpi-1/node.identity" ] || fail "rpi-1 kept its identity"
wait_for 5 eval '[ "$(copies 5)" = 1 ]' || fail "$(copies 5) copies of victim run, not 1"
node_is "$(n rpi-1)" absent || fail "rpi-1 still in node ls"
S node revoked --format json | python3 -c "
import json,sys
r=[x for x in json.load(sys.stdin) if x['name']==sys.argv[1]]
assert len(r)==1 and r[0]['reason']=='node rm' and r[0]['signing_key'] and r[0]['curve_key'] and r[0]['revoked'], r" "$(n rpi-1)" ||
  fail "node revoked: $(S node revoked --format json)"
S node revoked | grep -q "$(n rpi-1)" || fail "node revoked table: $(S node revoked)"
recovery=$(grep -o "recovery.running [0-9.]* ms workload=victim" "$work/serve.log" | tail -1 | cut -d' ' -f2)
ok "node rm rpi-1: victim Running on $(status_of victim | cut -d@ -f2) ${moved_ms} ms after node rm as the CLI saw it (GPU peer's recovery.running: ${recovery:-?} ms); rpi-1 exited 3, identity gone, listed as revoked"

# The bandwidth endpoint refuses its key too (rpi-2's is still welcome).
ln -s "$(readlink -f "$sw")" "$work/stratoswarm-test"
out=$("$work/stratoswarm-test" bandwidth --duration 1 --state-dir "$work/rpi-1.saved" 2>&1) &&
  fail "bandwidth test from the removed rpi-1 ran: $out"
echo "$out" | grep -q "refused this node's key" || fail "bandwidth from the removed rpi-1: $out"
out=$("$work/stratoswarm-test" bandwidth --duration 1 --state-dir "$work/rpi-2" 2>&1) || fail "bandwidth from rpi-2: $out"
ok "the bandwidth endpoint refuses rpi-1's old key, serves rpi-2"

# Its old state dir comes back: the mesh refuses it, the join endpoint says why.
rm -rf "$work/rpi-1"; mv "$work/rpi-1.saved" "$work/rpi-1"
: >"$work/rpi-1.log"
start_pi rpi-1
t0=$(now_ms)
wait_for 20 exited "${pid[rpi-1]}" || fail "the removed rpi-1 runs on with its old identity"
learned_ms=$(($(now_ms) - t0))
wait "${pid[rpi-1]}"; rc=$?
[ "$rc" = 3 ] || fail "old rpi-1 exited $rc, not 3"
grep -q "node $(n rpi-1) was removed from the cluster on .*join again with a new token and a new identity" "$work/rpi-1.log" ||
  fail "old rpi-1 said: $(tail -3 "$work/rpi-1.log")"
grep -q "Successfully joined" "$work/rpi-1.log" && fail "the removed rpi-1 got back in"
grep -q "refused join from $(n rpi-1) at [0-9.]*: node $(n rpi-1) was removed" "$work/serve.log" || fail "serve did not log the refusal"
[ ! -e "$work/rpi-1/node.identity" ] || fail "old rpi-1 kept its identity"
node_is "$(n rpi-1)" absent || fail "old rpi-1 is listed again"
ok "rpi-1's old identity refused (mesh and join endpoint), told why, exited 3 after ${learned_ms} ms"

# --- 3. bad removals, --force ------------------------------------------------------------
out=$(S node rm "nosuch-$base" 2>&1); rc=$?
[ "$rc" = 1 ] || fail "node rm of an unknown name exited $rc"
[ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q "no node named nosuch-$base" || fail "unknown name: $out"
out=$(S node rm "$(n primary-gpu)" 2>&1) && fail "removed the GPU peer: $out"
echo "$out" | grep -q "it is the GPU peer; it cannot be removed" || fail "GPU peer removal: $out"
kill -9 "${pid[rpi-3]}"; wait "${pid[rpi-3]}" 2>/dev/null
wait_for 15 node_is "$(n rpi-3)" Down || fail "rpi-3 not Down: $(node_field "$(n rpi-3)" status)"
out=$(S node rm "$(n rpi-3)" 2>&1) && fail "removed an unreachable node without --force: $out"
echo "$out" | grep -q "does not answer (Down).*--force" || fail "unreachable without --force: $out"
out=$(S node rm --force "$(n rpi-3)" 2>&1) || fail "node rm --force: $out"
echo "$out" | grep -q "not reachable and was not told" || fail "--force said: $out"
node_is "$(n rpi-3)" absent || fail "rpi-3 still listed"
S node revoked --format json | grep -q '"reason": "node rm --force (unreachable)"' || fail "rpi-3's revocation reason"
ok "unknown name and the GPU peer refused (exit 1, one line); unreachable rpi-3 refused without --force, removed with it"
echo "node lifecycle test: passed"
