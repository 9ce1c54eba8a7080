-- kilowatch_readings: one row per reading (plant, meter, ts): the newest costing of it.
-- Firehose delivers at least once, and a Kinesis batch that is retried sends its readings
-- again; InfluxDB keeps the last write of a point, and so does this view. The other views
-- read this one. Filter on dt (the plant's local date, 'YYYY-MM-DD') to read less data:
-- it is a partition key, so Athena reads only the days asked for.
CREATE OR REPLACE VIEW kilowatch_readings AS
SELECT
    plant,
    dt,
    CAST(dt AS date) AS day,
    "time",
    ts,
    line,
    meter,
    period,
    tariff,
    currency,
    energy_kwh,
    cost,
    rate,
    interval_s,
    power_kw,
    power_factor,
    reactive_kvarh
FROM (
    SELECT
        *,
        row_number() OVER (PARTITION BY plant, dt, meter, ts ORDER BY costed_at DESC) AS newest
    FROM readings
)
WHERE newest = 1
