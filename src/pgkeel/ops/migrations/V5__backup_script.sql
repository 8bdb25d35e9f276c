-- pgkeel ops: a backup shell script for this database, for hosts without pgkeel installed.
-- It does what `pgkeel backup` does without the row-count manifest: pg_dump -Fc of the
-- server's major version (PG_BIN overrides where it lives), named <db>-<UTC time>.dump, written
-- under a temporary name first, listed back with pg_restore to prove it is readable, and
-- archives older than `keep_days` days deleted.

CREATE FUNCTION ops._sh(value text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT '''' || replace(value, '''', '''\''''') || ''''
$$;

CREATE FUNCTION ops.generate_backup_script(backup_dir text DEFAULT '/var/backups/postgresql',
                                           keep_days integer DEFAULT 7)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT format($script$#!/bin/sh
# Backup of database %1$s (PostgreSQL %2$s), made by ops.generate_backup_script().
# Restore: createdb NEW && pg_restore --no-owner --dbname=NEW FILE
set -eu
PG_BIN=${PG_BIN:-/usr/lib/postgresql/%3$s/bin}
DIR=${BACKUP_DIR:-%4$s}
mkdir -p "$DIR"
FILE="$DIR/%5$s-$(date -u +%%Y%%m%%dT%%H%%M%%SZ).dump"
"$PG_BIN/pg_dump" --format=custom --file="$FILE.partial" --host=%6$s --port=%7$s --username=%8$s --dbname=%1$s
mv "$FILE.partial" "$FILE"
"$PG_BIN/pg_restore" --list "$FILE" > /dev/null
find "$DIR" -name %9$s -mtime +%10$s -delete
echo "$FILE"
$script$,
        ops._sh(current_database()), current_setting('server_version'),
        current_setting('server_version_num')::int / 10000, ops._sh(backup_dir),
        replace(current_database(), '/', '_'),
        ops._sh(coalesce(host(inet_server_addr()), '127.0.0.1')), current_setting('port'),
        ops._sh(current_user), ops._sh(replace(current_database(), '/', '_') || '-*.dump'),
        greatest(keep_days, 0))
$$;
COMMENT ON FUNCTION ops.generate_backup_script(text, integer) IS
    'A sh script that backs this database up with pg_dump -Fc, names, checks and retains archives';
