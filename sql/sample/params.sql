-- The run's parameters, bound by the caller; every other sample file reads them from here.
-- leads is the data set's size; a CRM worker generates leads first_lead..last_lead of it.
CREATE TEMP TABLE sample_params ON COMMIT DROP AS
SELECT %(seed)s::bigint                                         AS seed,
       %(leads)s::bigint                                        AS leads,
       %(first_lead)s::bigint                                   AS first_lead,
       %(last_lead)s::bigint                                    AS last_lead,
       %(organizations)s::integer                               AS organizations,
       %(days)s::integer                                        AS days,
       %(today)s::date                                          AS today,
       (%(today)s::date - %(days)s::integer)::timestamp AT TIME ZONE 'UTC' AS window_start,
       %(today)s::date::timestamp AT TIME ZONE 'UTC'            AS window_end,
       0.15::double precision                                   AS organic_share
