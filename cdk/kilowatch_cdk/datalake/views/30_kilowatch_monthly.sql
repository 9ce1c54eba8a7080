-- kilowatch_monthly: energy and energy cost by plant and calendar month ('YYYY-MM', the
-- plant's local month), every month in the lake. The energy charge only: demand charges,
-- fixed charges and power-factor adjustments are not in the lake, so this is not the whole
-- bill (the bridge's `billing` measurement in InfluxDB has those).
CREATE OR REPLACE VIEW kilowatch_monthly AS
SELECT
    plant,
    substr(dt, 1, 7) AS month,
    currency,
    sum(energy_kwh) AS energy_kwh,
    sum(cost) AS cost,
    count(*) AS readings,
    count(DISTINCT dt) AS days_with_data,
    max("time") AS last_reading_time
FROM kilowatch_readings
GROUP BY plant, substr(dt, 1, 7), currency
