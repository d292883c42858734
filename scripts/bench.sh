#!/usr/bin/env bash
# Benchmark, run by hand (never in CI): costkit against focus-converter and DuckDB on generated
# legacy-CUR files, measured side by side in one run on this machine.
#
#   scripts/bench.sh            # 1M rows
#   scripts/bench.sh 1000000 4000000
#
# Needs python3 (3.11 for focus-converter) and network access to PyPI for the two baselines.
# Data and venvs go to ${BENCH_DIR:-bench-data}/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH_DIR:-bench-data}
mkdir -p "$BENCH"
ROWS=("$@")
[ ${#ROWS[@]} -eq 0 ] && ROWS=(1000000)

cargo build --release -p costkit-cli
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
COSTKIT="$target_dir/release/costkit"

if [ ! -x "$BENCH/venv-duckdb/bin/python" ]; then
  python3 -m venv "$BENCH/venv-duckdb"
  "$BENCH/venv-duckdb/bin/pip" install -q 'duckdb==2.0.1'
fi
if [ ! -x "$BENCH/venv-fc/bin/focus-converter" ]; then
  python3.11 -m venv "$BENCH/venv-fc"
  "$BENCH/venv-fc/bin/pip" install -q 'focus-converter==1.0.0' 'click<8.2' 'multimethod<1.11'
fi

# measure NAME CMD... : prints wall seconds and peak RSS (MB) of the command. The input is read
# once first, so every command starts with it in the page cache (focus-converter's 3-12 GB evicts
# it, and the next command would otherwise pay for the disk reads).
measure() {
  local name=$1; shift
  cat "$csv" >/dev/null
  if /usr/bin/time -f '%e %M' -o "$BENCH/time.txt" "$@" >/dev/null 2>"$BENCH/last.err"; then
    local secs kb
    read -r secs kb < "$BENCH/time.txt"
    printf '| %-58s | %8s s | %7d MB |\n' "$name" "$secs" "$((kb / 1024))"
  else
    printf '| %-58s | FAILED, see %s | |\n' "$name" "$BENCH/last.err"
  fi
}

echo
echo "| command | wall | peak RSS |"
echo "|---|---|---|"
for rows in "${ROWS[@]}"; do
  csv="$BENCH/cur_${rows}.csv"
  [ -f "$csv" ] || python3 tools/gen_cur.py --rows "$rows" --seed 42 --out "$csv"
  size=$(du -m "$csv" | cut -f1)
  echo "| **${rows} rows, ${size} MB legacy CUR CSV** | | |"
  rm -f "$BENCH/out.parquet" "$BENCH/bench.db"*
  measure "costkit normalize -o out.parquet" "$COSTKIT" normalize "$csv" -o "$BENCH/out.parquet"
  rm -rf "$BENCH/fc-out"; mkdir -p "$BENCH/fc-out"
  measure "focus-converter convert (parquet)" "$BENCH/venv-fc/bin/focus-converter" convert --provider aws-cur \
    --data-format csv --data-path "$csv" --export-path "$BENCH/fc-out" --export-format parquet \
    --no-export-include-source-columns
  measure "costkit load + summary --by service (fresh store)" sh -c \
    "rm -f '$BENCH/bench.db'* && '$COSTKIT' load '$csv' --store '$BENCH/bench.db' && '$COSTKIT' summary --store '$BENCH/bench.db' --by service"
  cat > "$BENCH/duck.py" <<PY
import duckdb
con = duckdb.connect()
rows = con.sql("""
  SELECT date_trunc('day', CAST("lineItem/UsageStartDate" AS TIMESTAMP)) AS day,
         "lineItem/ProductCode" AS service, "lineItem/UsageAccountId" AS account,
         SUM(CAST("lineItem/UnblendedCost" AS DECIMAL(38, 10))) AS cost
  FROM read_csv('$csv', header = true, all_varchar = true)
  GROUP BY ALL""").fetchall()
print(len(rows))
PY
  measure "duckdb read_csv + GROUP BY day, service, account" "$BENCH/venv-duckdb/bin/python" "$BENCH/duck.py"
  # The reference for normalize: DuckDB copying the first 60 columns to Parquet, no mapping at all.
  cols=$(head -n 1 "$csv" | tr ',' '\n' | head -n 60 | sed 's/.*/"&"/' | paste -sd, -)
  cat > "$BENCH/duck_copy.py" <<PY
import duckdb
duckdb.connect().sql('''COPY (SELECT $cols FROM read_csv('$csv', header = true))
  TO '$BENCH/duck-out.parquet' (FORMAT parquet, COMPRESSION snappy)''')
PY
  measure "duckdb COPY read_csv (60 columns) TO parquet, no mapping" "$BENCH/venv-duckdb/bin/python" "$BENCH/duck_copy.py"
  rm -f "$BENCH/duck-out.parquet"
done

# Streaming: the first file four times over has 4x the rows and the same distinct aggregate keys,
# so it must need the same memory as the file once. (A generated file with 4x the rows also has
# more distinct days x accounts x services, and load's memory follows those, not the rows.)
first=${ROWS[0]}
csv="$BENCH/cur_${first}_x4.csv"
if [ ! -f "$csv" ]; then
  src="$BENCH/cur_${first}.csv"
  { cat "$src"; for _ in 1 2 3; do tail -n +2 "$src"; done; } > "$csv"
fi
echo "| **the ${first}-row file four times over ($(du -m "$csv" | cut -f1) MB)** | | |"
measure "costkit normalize -o out.parquet" "$COSTKIT" normalize "$csv" -o "$BENCH/out.parquet"
measure "costkit load + summary --by service (fresh store)" sh -c \
  "rm -f '$BENCH/bench.db'* && '$COSTKIT' load '$csv' --store '$BENCH/bench.db' && '$COSTKIT' summary --store '$BENCH/bench.db' --by service"
