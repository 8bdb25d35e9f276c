-- a comment; with a semicolon
CREATE TABLE "we;ird ""name""" (id int, note text DEFAULT 'it''s; fine');

/* block /* nested; */ still a comment; */
INSERT INTO "we;ird ""name""" VALUES (1, E'escaped \' quote; and \\'), (2, $$dollar; $$);

CREATE FUNCTION add_one(n int) RETURNS int LANGUAGE plpgsql AS $fn$
DECLARE
  s text := 'a;b';  -- comment; inside
BEGIN
  /* ; */ RETURN n + 1;
END;
$fn$;

CREATE FUNCTION tagged() RETURNS text LANGUAGE sql AS $body$ SELECT $$inner;$$ $body$;

DO $$
BEGIN
  PERFORM add_one(1);
  RAISE NOTICE 'done; %', 1;
END
$$;

CREATE FUNCTION atomic_add(a int, b int) RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN a IS NULL THEN 0 ELSE a END + b;
END;

CREATE TABLE log (msg text); CREATE TABLE log2 (msg text);
CREATE RULE log_twice AS ON INSERT TO log WHERE NEW.msg = 'x'
  DO ALSO (INSERT INTO log2 VALUES ('y'); INSERT INTO log2 VALUES ('z'));
SELECT U&'d\0061t\+000061;' AS "U&""x""", B'101', X'1F', 1.5e3, .5, $1 IS NULL
