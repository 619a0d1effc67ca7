INSERT INTO fx_rates (date, currency, rate_to_usd, source)
VALUES (%(date)s, %(currency)s, %(rate_to_usd)s, %(source)s)
ON CONFLICT (currency, date) DO UPDATE
   SET rate_to_usd = excluded.rate_to_usd, source = excluded.source, loaded_at = now()
