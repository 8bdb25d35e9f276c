-- pgkeel ops: a standby with WAL waiting to be replayed but no transaction replayed since it
-- started has no replay timestamp; it was reported 0 s behind (OK). It is behind by at least
-- the time since it started, and is now reported so. The rest of the check is unchanged.
CREATE OR REPLACE FUNCTION ops.check_replication(thresholds jsonb DEFAULT '{}')
RETURNS TABLE (check_name text, state text, value float8, message text, details jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    warn float8 := coalesce((thresholds->>'replication_lag_warn_s')::float8, 30);
    crit float8 := coalesce((thresholds->>'replication_lag_crit_s')::float8, 300);
    d jsonb;
    v float8;
    n bigint;
    not_streaming bigint;
    receiver text;
BEGIN
    check_name := 'replication';
    IF pg_is_in_recovery() THEN
        SELECT status INTO receiver FROM pg_stat_wal_receiver;
        v := CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
                  THEN 0
                  ELSE extract(epoch FROM now() - coalesce(pg_last_xact_replay_timestamp(),
                                                       pg_postmaster_start_time()))
             END;
        value := round(v::numeric, 3);
        state := ops._state(v, warn, crit);
        IF receiver IS DISTINCT FROM 'streaming' AND state = 'OK' THEN
            state := 'WARN';
        END IF;
        message := format('standby: replay %s s behind; WAL receiver %s', value,
                          coalesce(receiver, 'not running'));
        details := jsonb_build_object(
            'role', 'standby', 'receiver', receiver,
            'receive_lsn', pg_last_wal_receive_lsn()::text,
            'replay_lsn', pg_last_wal_replay_lsn()::text,
            'replay_paused', pg_get_wal_replay_pause_state() <> 'not paused');
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT count(*), count(*) FILTER (WHERE r.state <> 'streaming'),
           max(coalesce(extract(epoch FROM r.replay_lag), 0)),
           coalesce(jsonb_agg(jsonb_build_object(
               'application_name', r.application_name, 'client_addr', r.client_addr::text,
               'state', r.state, 'sync_state', r.sync_state,
               'replay_lag_s', round(coalesce(extract(epoch FROM r.replay_lag), 0)::numeric, 3),
               'replay_lag_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn))
               ORDER BY r.application_name), '[]')
      INTO n, not_streaming, v, d
    FROM pg_stat_replication r;
    value := round(coalesce(v, 0)::numeric, 3);
    state := ops._state(v, warn, crit);
    IF not_streaming > 0 AND state = 'OK' THEN
        state := 'WARN';
    END IF;
    message := CASE WHEN n = 0 THEN 'primary: no standby connected'
                    ELSE format('primary: %s standbys (%s not streaming), replay at most %s s behind',
                                n, not_streaming, value) END;
    details := jsonb_build_object('role', 'primary', 'standbys', d);
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION ops.check_replication(jsonb) IS
    'pgkeel health''s replication check, on a primary (its standbys) or on a standby';
