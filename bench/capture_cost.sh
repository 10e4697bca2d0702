#!/usr/bin/env bash
# What capture costs the writer, in CPU instructions rather than seconds: on a
# shared 2-core machine the pgbench mix of compare.rs moves by 20% between runs,
# which hides any change to the capture function smaller than that. Instruction
# counts from valgrind do not move.
#
# It runs the pgbench mix's statements (bench/mix.pgb: a single-row insert ... on
# conflict do nothing, update and delete, each its own transaction, on a table
# of 100k rows) in a single-user backend under valgrind, on a table without
# replication, one with a statement-level trigger that does nothing, and one
# replicated by repsync in async mode, and prints the instructions per script.
# The difference of two script counts (500 and 1500) leaves out start-up.
#
# Run as root from the repository: bash bench/capture_cost.sh
# Needs valgrind (apt-get install valgrind) and PostgreSQL's server binaries
# (PG_BINDIR, default /usr/lib/postgresql/15/bin). Takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
command -v valgrind >/dev/null || { echo "capture_cost: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
cargo build --release --quiet
REPSYNC=$PWD/target/release/repsync
WORK=$(mktemp -d /tmp/capture_cost.XXXXXX)
chown postgres "$WORK"
as_pg() { runuser -u postgres -- "$@"; }
stop_all() {
    for n in a b; do as_pg "$BIN/pg_ctl" -D "$WORK/$n" stop -m immediate >/dev/null 2>&1 || true; done
    rm -rf "$WORK"
}
trap stop_all EXIT

port=$((20000 + RANDOM % 10000))
for n in a b; do
    port=$((port + 1))
    as_pg mkdir "$WORK/$n.s"
    as_pg "$BIN/initdb" -D "$WORK/$n" -U postgres -A trust >/dev/null
    cat >> "$WORK/$n/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$WORK/$n.s'
CONF
    as_pg "$BIN/pg_ctl" -D "$WORK/$n" -l "$WORK/$n.log" start >/dev/null
    echo "[nodes.$n]" >> "$WORK/repsync.toml"
    echo "dsn = \"host=$WORK/$n.s port=$port dbname=postgres user=postgres\"" >> "$WORK/repsync.toml"
    psql -X -q -h "$WORK/$n.s" -p "$port" -U postgres postgres <<'SQL'
create table t_plain (pk1 int, pk2 text, info text, crt_time timestamp(0), mod_time timestamp(0), primary key (pk1, pk2));
create table t_noop (like t_plain including all);
create table t_async (like t_plain including all);
SQL
done
"$REPSYNC" --config "$WORK/repsync.toml" init >/dev/null
"$REPSYNC" --config "$WORK/repsync.toml" add-table t_async --from a --to b --mode async >/dev/null
as_pg "$BIN/pg_ctl" -D "$WORK/a" stop >/dev/null

# Single-user mode reads one statement per line.
as_pg "$BIN/postgres" --single -D "$WORK/a" postgres > "$WORK/load.log" 2>&1 <<'SQL'
create function public.noop() returns trigger language plpgsql as 'begin return null; end';
create trigger i after insert on t_noop referencing new table as new_rows for each statement execute function public.noop();
create trigger u after update on t_noop referencing old table as old_rows new table as new_rows for each statement execute function public.noop();
create trigger d after delete on t_noop referencing old table as old_rows for each statement execute function public.noop();
insert into t_plain select g, 'k', md5(g::text), now(), now() from generate_series(1, 100000) g;
insert into t_noop select g, 'k', md5(g::text), now(), now() from generate_series(1, 100000) g;
insert into t_async select g, 'k', md5(g::text), now(), now() from generate_series(1, 100000) g;
truncate repsync.sync_err_rec;
vacuum analyze;
checkpoint;
SQL

# The same pseudo-random keys for every table: bench/mix.pgb's three statements.
mix() { # table scripts
    awk -v t="$1" -v n="$2" 'BEGIN { srand(42 + n); for (i = 0; i < n; i++) {
        a = int(rand() * 200000) + 1; b = int(rand() * 200000) + 1; c = int(rand() * 200000) + 1
        printf "insert into %s values (%d, '\''k'\'', md5('\''%d'\''), now(), now()) on conflict do nothing;\n", t, a, a
        printf "update %s set info = md5('\''%d'\''), mod_time = now() where pk1 = %d and pk2 = '\''k'\'';\n", t, i, b
        printf "delete from %s where pk1 = %d and pk2 = '\''k'\'';\n", t, c } }' > "$WORK/mix_$1_$2.sql"
}
instructions() { # table scripts: on a fresh copy of the loaded node
    rm -rf "$WORK/run"
    cp -a "$WORK/a" "$WORK/run"
    as_pg valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        "$BIN/postgres" --single -D "$WORK/run" -c fsync=off postgres \
        < "$WORK/mix_$1_$2.sql" 2>&1 >/dev/null | awk '/I *refs/ { gsub(",", "", $4); print $4 }'
}
declare -A per_script
for t in t_plain t_noop t_async; do
    mix "$t" 500
    mix "$t" 1500
    small=$(instructions "$t" 500)
    large=$(instructions "$t" 1500)
    per_script[$t]=$(((large - small) / 1000))
done
plain=${per_script[t_plain]}
echo "| table | instructions per mix script | vs none |"
echo "|---|---|---|"
for t in t_plain t_noop t_async; do
    case $t in
    t_plain) label="no replication" ;;
    t_noop) label="statement-level triggers that do nothing" ;;
    t_async) label="repsync async capture" ;;
    esac
    awk -v l="$label" -v n="${per_script[$t]}" -v p="$plain" 'BEGIN { printf "| %s | %d | %.2fx |\n", l, n, n / p }'
done
