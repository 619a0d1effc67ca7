-- Settings for the seed's transaction only (SET LOCAL): UTC so timestamps render the same on every
-- server, and memory enough to keep the lead plan, the hash joins of the foreign-key checks and
-- the index sorts of a million-lead load off disk.
SET LOCAL TimeZone = 'UTC';
SET LOCAL temp_buffers = '512MB';
SET LOCAL work_mem = '256MB';
SET LOCAL maintenance_work_mem = '512MB';
