-- Reconciliation repair: remove the mirror rows of the re-copied id ranges that the CRM no longer has.
DELETE FROM {target} AS t
WHERE ({ranges})
  AND NOT EXISTS (SELECT FROM {stage} AS s WHERE s.id = t.id)
