#!/usr/bin/env bash
# Checks the ETL example end to end, with the sqlite3 command-line tool on the database it wrote:
#   check_etl.sh <example_etl> <scratch directory>
# 1. A whole run: every row read is loaded or dead-lettered, each malformed row is a dead letter
#    of the parse stage, and the database holds exactly the loaded rows with the right taxes.
# 2. A drained run: SIGINT once rows are loading; the run stops reading, loads or dead-letters
#    every row it read, and still balances.
set -euo pipefail
example=$1
work=$2
if ! command -v sqlite3 >/dev/null; then
  echo "sluice-test-skipped: the sqlite3 command-line tool is not installed (apt-get install sqlite3)"
  exit 0
fi
rm -rf "$work"
mkdir -p "$work"

fail() {
  echo "check_etl.sh: $*" >&2
  exit 1
}
# The number before `word` in the example's summary line ("... 19600 loaded into ...").
number_before() { grep -oE "[0-9]+ $2" <<<"$1" | head -n 1 | cut -d' ' -f1; }
query() { sqlite3 "$db" "$1"; }

# --- 1. a whole run -----------------------------------------------------------------------------
rows=20000
db=$work/orders.db
out=$("$example" --rows $rows --input "$work/orders.csv" --db "$db" \
                 --dead-letters "$work/dead.csv" 2>"$work/stderr.txt") ||
  fail "the run failed: $out $(cat "$work/stderr.txt")"
echo "$out"
summary=$(grep -E '^done: ' <<<"$out") || fail "no summary line in: $out"
read=$(number_before "$summary" "rows read")
loaded=$(number_before "$summary" "loaded")
dead=$(number_before "$summary" "dead letters")
malformed=$(grep -oE '\(([0-9]+) malformed\)' "$work/stderr.txt" | grep -oE '[0-9]+')
[[ $read == "$rows" ]] || fail "read $read rows of $rows"
((loaded + dead == read)) || fail "loaded $loaded + dead letters $dead != read $read"
[[ $(query 'SELECT count(*) FROM orders') == "$loaded" ]] || fail "the table does not hold $loaded rows"
[[ $(query 'SELECT count(DISTINCT id) FROM orders') == "$loaded" ]] || fail "an id is loaded twice"
[[ $(($(wc -l <"$work/dead.csv") - 1)) == "$dead" ]] || fail "the dead-letter file does not hold $dead rows"
parse_dead=$(grep -c '^parse,' "$work/dead.csv" || true)
[[ $parse_dead == "$malformed" ]] || fail "$parse_dead parse dead letters for $malformed malformed rows"
grep -q '^customer,"customer service: no customer' "$work/dead.csv" ||
  fail "no dead letter for an unknown customer"
[[ $(query "SELECT count(*) FROM orders WHERE region NOT IN ('eu', 'na', 'other')") == 0 ]] ||
  fail "a row has no region"
[[ $(query "SELECT count(*) FROM orders WHERE region = 'na' AND tax_cents != amount_cents * 7 / 100") == 0 ]] ||
  fail "a North American row has the wrong tax"
[[ $(query "SELECT count(*) FROM orders WHERE segment NOT IN ('retail', 'business', 'wholesale')") == 0 ]] ||
  fail "a row has no customer segment"

# --- 2. a drained run ---------------------------------------------------------------------------
# A slow customer service (20 ms a call) keeps the run going long after the first batch loads.
rows=100000
db=$work/drained.db
"$example" --rows $rows --input "$work/big.csv" --db "$db" --dead-letters "$work/dead2.csv" \
           --latency-us 20000 >"$work/drained.txt" 2>"$work/drained-stderr.txt" &
pid=$!
loading=0
for _ in $(seq 1 1200); do  # the watchdog: 120 s
  if [[ -f $db ]] && (($(query 'SELECT count(*) FROM orders' 2>/dev/null || echo 0) > 0)); then
    loading=1
    break
  fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
((loading)) || { kill -KILL $pid 2>/dev/null; fail "no row was loaded within 120 s: $(cat "$work/drained-stderr.txt")"; }
kill -INT $pid
status=0
wait $pid || status=$?
out=$(cat "$work/drained.txt")
echo "$out"
((status == 0)) || fail "the drained run exited with $status: $out $(cat "$work/drained-stderr.txt")"
summary=$(grep -E '^drained: ' <<<"$out") || fail "the run did not drain: $out"
read=$(number_before "$summary" "rows read")
loaded=$(number_before "$summary" "loaded")
dead=$(number_before "$summary" "dead letters")
((read < rows)) || fail "the drained run read all $rows rows"
((loaded + dead == read)) || fail "drained: loaded $loaded + dead letters $dead != read $read"
[[ $(query 'SELECT count(*) FROM orders') == "$loaded" ]] || fail "drained: the table does not hold $loaded rows"
echo "check_etl.sh: both runs balance"
