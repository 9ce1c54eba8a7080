-- kilowatch_daily_by_period: energy and cost by plant, day and time-of-use period (the
-- tariff period holding most of each reading's interval, as in InfluxDB's `period` tag).
CREATE OR REPLACE VIEW kilowatch_daily_by_period AS
SELECT
    plant,
    dt,
    CAST(dt AS date) AS day,
    period,
    currency,
    sum(energy_kwh) AS energy_kwh,
    sum(cost) AS cost,
    sum(cost) / nullif(sum(energy_kwh), 0) AS mean_rate,
    count(*) AS readings
FROM kilowatch_readings
GROUP BY plant, dt, period, currency
