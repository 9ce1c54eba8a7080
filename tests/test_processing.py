"""The pure core: what each message becomes, without any server or line protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kilowatch.config import KilowatchConfig, load_config
from kilowatch.processing import Processor
from tests.bridge.conftest import EXAMPLE_PLANT_FILE
from tests.support.examples import NOW, message


@pytest.fixture(scope="module")
def processor() -> Processor:
    return Processor(load_config(EXAMPLE_PLANT_FILE))


def test_undeclared_meter_goes_to_line_unassigned_or_is_rejected(tmp_path: Path) -> None:
    relaxed = load_config(EXAMPLE_PLANT_FILE)
    msg = message("kilowatch/sea/new-meter/readings", '{"ts": 1795168800, "energy_kwh": 2}')
    (costed,) = Processor(relaxed).process([msg], NOW).costed.values()
    assert costed.lines == ["unassigned"]

    strict = KilowatchConfig.model_validate(relaxed.model_dump() | {"accept_unknown_meters": False})
    out = Processor(strict).process([msg], NOW)
    assert [r.reason for r in out.rejections] == ["unknown_meter"]


def test_a_message_kilowatch_fails_on_is_set_aside_and_the_others_go_on(
    processor: Processor, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kilowatch.processing as process

    real = process.parse_message

    def parse_with_a_bug(topic: str, payload: bytes, *args: object):
        if b"bug" in payload:
            raise ZeroDivisionError("a bug")
        return real(topic, payload, *args)

    monkeypatch.setattr(process, "parse_message", parse_with_a_bug)
    out = processor.process(
        [
            message("kilowatch/sea/assembly-01/readings", '{"ts": 1795168800, "bug": 1}'),
            message("kilowatch/sea/assembly-01/readings", '{"ts": 1795168800, "energy_kwh": 2}'),
        ],
        NOW,
    )
    assert [r.reason for r in out.rejections] == ["internal_error"]
    assert "ZeroDivisionError" in out.rejections[0].detail
    assert list(out.set_aside) == [0] and out.readings == 1


def test_readings_influxdb_refused_are_told_apart_by_plant(processor: Processor) -> None:
    both = '{"ts": 1795168800, "energy_kwh": 1}'  # the same meter id and ts in two plants
    out = processor.process(
        [
            message("kilowatch/hmo/main/readings", both),
            message("kilowatch/sea/main/readings", both),
        ],
        NOW,
    )
    stored = out.stored_readings({("hmo", "main", 1795168800)})
    assert (len(stored["hmo"]), len(stored["sea"])) == (0, 1)


def test_accepted_readings_come_as_columns_in_runs_of_one_meter(
    processor: Processor,
) -> None:
    out = processor.process(
        [
            message(
                "kilowatch/sea/assembly-01/readings",
                '[{"ts": 1795168800, "energy_kwh": 1, "reactive_kvarh": 0.5},'
                ' {"ts": 1795169100, "energy_kwh": 2}]',
            ),
            message("kilowatch/hmo/press-01/readings", '{"ts": 1795168800, "energy_kwh": 9}'),
            message("kilowatch/sea/lighting/readings", '{"ts": 1795168800, "energy_kwh": 3}'),
            message("kilowatch/sea/assembly-01/readings", '{"ts": 1795169400, "energy_kwh": 4}'),
        ],
        NOW,
    )
    sea = out.accepted["sea"]
    assert sea.runs == [("assembly-01", 0, 2), ("lighting", 2, 3), ("assembly-01", 3, 4)]
    assert sea.ts.tolist() == [1795168800, 1795169100, 1795168800, 1795169400]
    assert sea.energy_kwh.tolist() == [1, 2, 3, 4]
    assert sea.interval_s.tolist() == [300] * 4
    assert sea.reactive_kvarh[0] == 0.5 and np.isnan(sea.reactive_kvarh[1:]).all()
    assert out.accepted["hmo"].runs == [("press-01", 0, 1)]

    stored = out.stored_readings({("sea", "assembly-01", 1795169100)})["sea"]
    assert stored.runs == [("assembly-01", 0, 1), ("lighting", 1, 2), ("assembly-01", 2, 3)]
    assert stored.energy_kwh.tolist() == [1, 3, 4]


def test_reading_keys_give_each_messages_readings_identity(processor: Processor) -> None:
    out = processor.process(
        [
            message("kilowatch/sea/assembly-01/readings", "{bad"),
            message(
                "kilowatch/hmo/press-01/readings",
                '[{"ts": 1795168800, "energy_kwh": 1}, {"ts": 1795169100, "energy_kwh": 1}]',
            ),
        ],
        NOW,
    )
    assert out.reading_keys(0) == []
    assert out.reading_keys(1) == [("hmo", "press-01", 1795168800), ("hmo", "press-01", 1795169100)]


def test_plant_info_gives_the_rate_now_with_taxes(processor: Processor) -> None:
    info = {i.plant: i for i in processor.plant_info(NOW)}
    assert set(info) == {"hmo", "sea"}
    hmo = info["hmo"]
    assert (hmo.timezone, hmo.currency, hmo.tax_percent) == ("America/Hermosillo", "MXN", 16.0)
    plain = processor.tariffs["hmo"].rate_at(int(NOW)).rate_per_kwh
    assert hmo.rate_now == pytest.approx(plain * 1.16)
    assert hmo.next_change_ts is not None and hmo.next_change_ts > NOW
