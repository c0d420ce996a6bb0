#!/bin/sh
# Creates the source database of examples/migration.yaml: a SQLite file with one table,
#   orders(id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount REAL, created_at TEXT, note BLOB)
# holding ROWS rows with ids 1..ROWS. An existing file at PATH is replaced.
#
#   examples/scripts/make-orders-db.sh [PATH] [ROWS]    # default: $MIGRATION_SOURCE or
#                                                       # /tmp/shardjob-orders.db, 20000 rows
# Needs the sqlite3 program (scripts/install-deps.sh installs it).
set -eu
path=${1:-${MIGRATION_SOURCE:-/tmp/shardjob-orders.db}}
rows=${2:-20000}
case $rows in
  '' | *[!0-9]*) echo "make-orders-db.sh: ROWS must be a number, got '$rows'" >&2; exit 2 ;;
esac
command -v sqlite3 > /dev/null || {
  echo "make-orders-db.sh: the sqlite3 program is missing (apt-get install sqlite3)" >&2
  exit 1
}
rm -f "$path" "$path-wal" "$path-shm" "$path-journal"
sqlite3 "$path" << SQL
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer TEXT NOT NULL,
  amount REAL,
  created_at TEXT,
  note BLOB
);
WITH RECURSIVE n(id) AS (SELECT 1 WHERE $rows > 0 UNION ALL SELECT id + 1 FROM n WHERE id < $rows)
INSERT INTO orders
SELECT id,
       'customer-' || (id % 997),
       round((id * 7919 % 100000) / 100.0, 2),
       datetime(1700000000 + id * 60, 'unixepoch'),
       CASE WHEN id % 10 = 0 THEN NULL ELSE randomblob(id % 32) END
FROM n;
SQL
echo "$path: $(sqlite3 "$path" 'SELECT count(*) FROM orders') rows in table orders"
