-- kilowatch_bill_so_far: this month's energy and energy cost so far by plant, beside last
-- month's in full (one row per plant and month). Months are the plant's local months; the
-- filter starts at the first of last month (UTC), so the plant's current month is always
-- there. Energy charges only, taxes included: demand charges, fixed charges and power-factor
-- adjustments are not in the lake (see kilowatch_monthly).
CREATE OR REPLACE VIEW kilowatch_bill_so_far AS
SELECT
    plant,
    substr(dt, 1, 7) AS month,
    currency,
    sum(energy_kwh) AS energy_kwh,
    sum(cost) AS cost,
    count(*) AS readings,
    max(dt) AS last_day,
    max("time") AS last_reading_time
FROM kilowatch_readings
WHERE dt >= date_format(date_add('month', -1, date_trunc('month', current_date)), '%Y-%m-%d')
GROUP BY plant, substr(dt, 1, 7), currency
