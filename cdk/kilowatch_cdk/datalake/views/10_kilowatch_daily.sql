-- kilowatch_daily: energy and cost by plant, line, meter and day (the plant's local day).
-- cost is the energy charge of the plant's tariff, taxes included, in currency; demand
-- charges, fixed charges and power-factor adjustments are not in the lake (see the README).
CREATE OR REPLACE VIEW kilowatch_daily AS
SELECT
    plant,
    dt,
    CAST(dt AS date) AS day,
    line,
    meter,
    currency,
    sum(energy_kwh) AS energy_kwh,
    sum(cost) AS cost,
    sum(cost) / nullif(sum(energy_kwh), 0) AS mean_rate,
    count(*) AS readings
FROM kilowatch_readings
GROUP BY plant, dt, line, meter, currency
