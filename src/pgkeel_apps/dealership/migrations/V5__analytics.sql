-- Analytics (seed 003): car views, page views and Core Web Vitals, partitioned by month
-- (retention = dropping whole partitions), and daily view counts per car.
-- No foreign keys: these are append-only facts written in batches off the request path, and
-- a view of a car deleted since is still a view.

CREATE TABLE car_views (
    organization_id uuid NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    car_id          uuid NOT NULL,
    session_id      text CONSTRAINT car_views_session_length CHECK (length(session_id) <= 100),
    ip_address      text CONSTRAINT car_views_ip_length CHECK (length(ip_address) <= 45),
    user_agent      text CONSTRAINT car_views_user_agent_length CHECK (length(user_agent) <= 500),
    referrer        text CONSTRAINT car_views_referrer_length CHECK (length(referrer) <= 2000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, created_at, id)
) PARTITION BY RANGE (created_at);

CREATE TABLE page_views (
    organization_id uuid NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    path            text NOT NULL CONSTRAINT page_views_path_length CHECK (length(path) BETWEEN 1 AND 500),
    session_id      text CONSTRAINT page_views_session_length CHECK (length(session_id) <= 100),
    referrer        text CONSTRAINT page_views_referrer_length CHECK (length(referrer) <= 2000),
    load_time_ms    integer CONSTRAINT page_views_load_time_range CHECK (load_time_ms BETWEEN 0 AND 600000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, created_at, id)
) PARTITION BY RANGE (created_at);

CREATE TABLE web_vitals (
    organization_id uuid NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    name            text NOT NULL CONSTRAINT web_vitals_name_valid CHECK (name IN ('LCP', 'INP', 'CLS', 'FCP', 'TTFB')),
    value           double precision NOT NULL CONSTRAINT web_vitals_value_range CHECK (value >= 0 AND value < 1e7),
    path            text NOT NULL CONSTRAINT web_vitals_path_length CHECK (length(path) BETWEEN 1 AND 500),
    rating          text CONSTRAINT web_vitals_rating_valid CHECK (rating IN ('good', 'needs-improvement', 'poor')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, created_at, id)
) PARTITION BY RANGE (created_at);

-- The report's analytics indexes, tenant-led (created on each partition).
CREATE INDEX idx_car_views_car_id ON car_views (organization_id, car_id, created_at);
CREATE INDEX idx_car_views_created_at ON car_views (organization_id, created_at DESC);
CREATE INDEX idx_page_views_path ON page_views (organization_id, path, created_at);
CREATE INDEX idx_web_vitals_name ON web_vitals (organization_id, name, path, created_at);

-- Views per car per day: what the dashboards read (refreshed by
-- dealership.refresh_car_view_daily, a maintenance job).
CREATE TABLE car_view_daily (
    organization_id uuid NOT NULL,
    car_id          uuid NOT NULL,
    day             date NOT NULL,
    views           bigint NOT NULL,
    sessions        bigint NOT NULL,
    PRIMARY KEY (organization_id, car_id, day)
);
CREATE INDEX idx_car_view_daily_day ON car_view_daily (organization_id, day, views DESC);

-- Monthly partitions: each gets the tenant policy (it is a table the app role could be
-- granted), and a default partition keeps rows outside every month rather than refusing them.
CREATE FUNCTION dealership.ensure_analytics_partitions(p_from date, p_months integer)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parent text;
    month date;
    child text;
    created integer := 0;
BEGIN
    FOREACH parent IN ARRAY ARRAY['car_views', 'page_views', 'web_vitals'] LOOP
        FOR i IN 0 .. p_months - 1 LOOP
            month := (date_trunc('month', p_from) + make_interval(months => i))::date;
            child := format('%s_%s', parent, to_char(month, 'YYYYMM'));
            CONTINUE WHEN to_regclass(format('dealership.%I', child)) IS NOT NULL;
            EXECUTE format('CREATE TABLE dealership.%I PARTITION OF dealership.%I '
                           'FOR VALUES FROM (%L) TO (%L)', child, parent, month,
                           (month + interval '1 month')::date);
            EXECUTE format('ALTER TABLE dealership.%I ENABLE ROW LEVEL SECURITY', child);
            EXECUTE format('ALTER TABLE dealership.%I FORCE ROW LEVEL SECURITY', child);
            EXECUTE format('CREATE POLICY pgkeel_tenant ON dealership.%I USING (organization_id = '
                           '(SELECT NULLIF(current_setting(''pgkeel.org_id'', true), '''')::uuid)) '
                           'WITH CHECK (organization_id = (SELECT NULLIF(current_setting('
                           '''pgkeel.org_id'', true), '''')::uuid))', child);
            created := created + 1;
        END LOOP;
    END LOOP;
    RETURN created;
END
$$;

-- Retention: drop the months that ended before p_before (whole partitions: no row-by-row
-- DELETE, no bloat). Returns the partitions dropped.
CREATE FUNCTION dealership.drop_analytics_partitions(p_before date)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part record;
    dropped integer := 0;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits AS i
        JOIN pg_class AS c ON c.oid = i.inhrelid
        JOIN pg_class AS p ON p.oid = i.inhparent
        JOIN pg_namespace AS n ON n.oid = p.relnamespace
        WHERE n.nspname = 'dealership' AND p.relname IN ('car_views', 'page_views', 'web_vitals')
          AND c.relname ~ '_[0-9]{6}$'
          AND to_date(right(c.relname, 6), 'YYYYMM') + interval '1 month' <= p_before
    LOOP
        EXECUTE format('DROP TABLE dealership.%I', part.relname);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$$;

-- Daily aggregates for the days since p_since (recomputed: idempotent).
CREATE FUNCTION dealership.refresh_car_view_daily(p_since date)
RETURNS bigint LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH counted AS (
        INSERT INTO dealership.car_view_daily AS d (organization_id, car_id, day, views, sessions)
        SELECT organization_id, car_id, (created_at AT TIME ZONE 'UTC')::date,
               count(*), count(DISTINCT session_id)
        FROM dealership.car_views WHERE created_at >= p_since
        GROUP BY 1, 2, 3
        ON CONFLICT (organization_id, car_id, day)
        DO UPDATE SET views = EXCLUDED.views, sessions = EXCLUDED.sessions
        RETURNING 1)
    SELECT count(*) FROM counted
$$;

CREATE TABLE car_views_default PARTITION OF car_views DEFAULT;
CREATE TABLE page_views_default PARTITION OF page_views DEFAULT;
CREATE TABLE web_vitals_default PARTITION OF web_vitals DEFAULT;
SELECT dealership.ensure_analytics_partitions((now() - interval '3 months')::date, 6);
