-- Deterministic randomness. Every value is a hash of (seed, stream, row index), never random():
-- the output does not depend on row order, plan shape or parallelism, so one seed gives one data set.
-- Session-local (pg_temp) SQL functions the planner inlines; nothing is left in the database.

-- A uniform double in [0, 1): 53 bits of PostgreSQL's portable 64-bit hash.
CREATE FUNCTION pg_temp.sample_u(seed bigint, stream integer, i bigint) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((hashint8extended(i, hashint8extended(stream::bigint, seed)) >> 11) & 9007199254740991)::double precision
           / 9007199254740992.0
$$;

-- A stable uuid (the md5 of a name, as uuid v3 does) for row `i` of `kind`. The explicit ::text
-- casts keep the body immutable, which lets the planner inline the call (6x faster).
CREATE FUNCTION pg_temp.sample_uuid(seed bigint, kind text, i bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT md5('hyperdash-sample:' || seed::text || ':' || kind || ':' || i::text)::uuid
$$;

-- A numeric platform id of `digits` digits (Meta ids are long, Google ids shorter).
CREATE FUNCTION pg_temp.sample_platform_id(seed bigint, stream integer, i bigint, prefix text, digits integer)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT prefix || lpad(((hashint8extended(i, hashint8extended(stream::bigint, seed)) & 9223372036854775807)
                          % (10::numeric ^ digits)::bigint)::text, digits, '0')
$$;

-- A whole second after `ts`, a fraction `u` of at most `max_seconds` later, and always before
-- `window_end` (today 00:00 UTC): sample rows never carry a future time.
CREATE FUNCTION pg_temp.sample_after(ts timestamptz, window_end timestamptz, max_seconds double precision,
                                     u double precision)
RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT ts + floor(u * least(max_seconds, date_part('epoch', window_end - ts) - 1)) * interval '1 second'
$$;

-- A fictitious person for lead/contact `i`: reserved example.* e-mail domains, 555 phone numbers.
CREATE FUNCTION pg_temp.sample_person(seed bigint, i bigint, OUT full_name text, OUT email text, OUT phone text)
RETURNS SETOF record LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT n.first || ' ' || n.last,
           translate(lower(n.first || '.' || n.last), 'áàãâéêíóôõúüç ', 'aaaaeeiooouuc')
               || i::text || '@example.' || (ARRAY['com', 'org', 'net'])[1 + i % 3],
           '+1555' || lpad(((hashint8extended(i, seed + 41) & 9223372036854775807) % 10000000)::text, 7, '0')
    FROM (SELECT (ARRAY['Ana', 'Bruno', 'Carla', 'Diego', 'Elena', 'Felipe', 'Gabriela', 'Hugo', 'Isabela',
                        'João', 'Karen', 'Lucas', 'Mariana', 'Nathan', 'Olivia', 'Pedro', 'Quentin', 'Rafaela',
                        'Samuel', 'Tatiana', 'Umar', 'Valéria', 'William', 'Yara'])
                 [1 + floor(pg_temp.sample_u(seed, 20, i) * 24)::integer] AS first,
                 (ARRAY['Silva', 'Smith', 'Santos', 'Johnson', 'Oliveira', 'Garcia', 'Souza', 'Müller',
                        'Costa', 'Brown', 'Pereira', 'Martin', 'Almeida', 'Rossi', 'Lima', 'Dubois',
                        'Carvalho', 'Kowalski', 'Ribeiro', 'Tanaka', 'Gomes', 'Novak', 'Conceição', 'Walker'])
                 [1 + floor(pg_temp.sample_u(seed, 21, i) * 24)::integer] AS last) AS n
$$;
