-- The public list's `q` forgives typos like search does: a car matches when every word of q
-- starts a word of its search_vector, or any word of 3 or more letters is within trigram
-- distance (pg_trgm's %) of its brand or model. Only letters and digits of q are used, so no
-- tsquery syntax can be injected. pg_trgm may live in any schema: it is resolved here.
DO $$
DECLARE trgm text := (SELECT extnamespace::regnamespace::text FROM pg_extension
                      WHERE extname = 'pg_trgm');
BEGIN
    EXECUTE format($f$
CREATE FUNCTION dealership.car_matches(p_vector tsvector, p_brand text, p_model text, p_q text)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $body$
    SELECT p_vector @@ to_tsquery('simple', (
               SELECT string_agg(w || ':*', ' & ')
               FROM regexp_split_to_table(lower(p_q), '[^[:alnum:]]+') AS w WHERE w <> ''))
        OR EXISTS (SELECT FROM regexp_split_to_table(lower(p_q), '[^[:alnum:]]+') AS w
                   WHERE length(w) >= 3
                     AND (lower(p_brand) OPERATOR(%1$I.%%) w OR lower(p_model) OPERATOR(%1$I.%%) w))
$body$
$f$, trgm);
END
$$;
