-- The run's parameters, bound by the caller; every other sample file reads them from here.
CREATE TEMP TABLE sample_params ON COMMIT DROP AS
SELECT %(seed)s::bigint                                         AS seed,
       %(leads)s::bigint                                        AS leads,
       %(organizations)s::integer                               AS organizations,
       %(days)s::integer                                        AS days,
       %(today)s::date                                          AS today,
       (%(today)s::date - %(days)s::integer)::timestamp AT TIME ZONE 'UTC' AS window_start,
       %(today)s::date::timestamp AT TIME ZONE 'UTC'            AS window_end,
       0.15::double precision                                   AS organic_share
