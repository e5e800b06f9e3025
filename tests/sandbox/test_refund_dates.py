"""Expected refund dates: 4 Chinese working days on the official holiday calendar while
chinesecalendar has the year, Monday–Friday (and said so) when it does not. Missing holiday
data never blocks a quote or a surrender."""
import datetime as dt
import logging

import chinese_calendar
import pytest

from sandbox_insurer import rules

from .conftest import running_sandbox

P1, P7 = "SBX1000000000012", "SBX2000000000079"
DAYS_TO_2026_12_28 = 33 * 86_400  # the fixtures' today is 2026-11-25


@pytest.fixture
def fresh_warnings():
    rules._warned_years.clear()
    yield
    rules._warned_years.clear()


def test_national_day_week_is_counted_on_the_official_calendar():
    # Wed 30 Sep 2026: 1–7 Oct are off, Sat 10 Oct is a make-up working day, so the 4th working
    # day is Mon 12 Oct (8, 9, 10, 12); Monday–Friday would have said Tue 6 Oct.
    assert [rules.is_workday(dt.date(2026, 10, d)) for d in range(1, 13)] == [
        False] * 7 + [True, True, True, False, True]
    assert rules.expected_refund_date(dt.date(2026, 9, 30)) == (
        dt.date(2026, 10, 12), rules.OFFICIAL_CALENDAR)


def test_policy_1_day_is_counted_on_the_official_calendar():
    assert rules.expected_refund_date(dt.date(2026, 11, 25)) == (
        dt.date(2026, 12, 1), rules.OFFICIAL_CALENDAR)  # Thu, Fri, Mon, Tue
    assert rules.expected_refund_date(dt.date(2026, 12, 27)) == (
        dt.date(2026, 12, 31), rules.OFFICIAL_CALENDAR)  # the last date the library covers


def test_a_year_without_holiday_data_counts_weekdays_and_says_so(fresh_warnings, caplog):
    caplog.set_level(logging.INFO, logger="sandbox_insurer")
    with pytest.raises(NotImplementedError):  # if this fails, the library now has 2027: move
        chinese_calendar.is_workday(dt.date(2027, 1, 4))  # these 2027 examples to a later year
    # Mon 28 Dec 2026: 29, 30, 31 Dec on the calendar, then Fri 1 Jan 2027 as a weekday.
    assert rules.expected_refund_date(dt.date(2026, 12, 28)) == (
        dt.date(2027, 1, 1), rules.WEEKDAYS_ESTIMATE)
    assert rules.expected_refund_date(dt.date(2027, 1, 1)) == (
        dt.date(2027, 1, 7), rules.WEEKDAYS_ESTIMATE)  # the weekend skipped: 4, 5, 6, 7 Jan
    assert rules.expected_refund_date(dt.date(2027, 6, 11)) == (
        dt.date(2027, 6, 17), rules.WEEKDAYS_ESTIMATE)
    assert (rules.is_workday(dt.date(2027, 1, 9)), rules.is_workday(dt.date(2027, 1, 11))) == (
        False, True)
    rules.expected_refund_date(dt.date(2028, 3, 1))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [("2027" in r.getMessage(), "2028" in r.getMessage()) for r in warnings] == [
        (True, False), (False, True)]  # once per year, however many days were estimated
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_without_the_library_the_same_week_would_be_an_estimate(monkeypatch, fresh_warnings):
    def no_data(day):
        raise NotImplementedError(f"no data for {day.year}")

    monkeypatch.setattr(chinese_calendar, "is_workday", no_data)
    assert rules.expected_refund_date(dt.date(2026, 9, 30)) == (
        dt.date(2026, 10, 6), rules.WEEKDAYS_ESTIMATE)


def test_seed_day_quote_and_case_say_official_calendar(sandbox):
    token = sandbox.login(P1)
    quote = sandbox.quote(P1, token).json()
    assert (quote["expected_refund_date"], quote["expected_refund_date_basis"]) == (
        "2026-12-01", "official_calendar")
    case = sandbox.submit(P1, token, quote["quote_id"], "official-1").json()
    assert (case["expected_refund_date"], case["expected_refund_date_basis"]) == (
        "2026-12-01", "official_calendar")


def test_surrender_at_the_end_of_the_calendars_data_goes_through(sandbox):
    assert sandbox.move_clock(DAYS_TO_2026_12_28)["today"] == "2026-12-28"
    token = sandbox.login(P1)
    response = sandbox.quote(P1, token)
    assert response.status_code == 201, response.text
    quote = response.json()
    assert (quote["expected_refund_date"], quote["expected_refund_date_basis"]) == (
        "2027-01-01", "weekdays_estimate")
    assert quote["legal_latest_date"] == "2027-01-27"
    submitted = sandbox.submit(P1, token, quote["quote_id"], "new-year-1")
    assert submitted.status_code == 201, submitted.text
    case = submitted.json()
    assert (case["submitted_on"], case["expected_refund_date"], case["expected_refund_date_basis"]) == (
        "2026-12-28", "2027-01-01", "weekdays_estimate")
    assert sandbox.cases(P1, token)[0]["expected_refund_date_basis"] == "weekdays_estimate"
    # the seed case (submitted 2026-11-23) was counted on the calendar and still says so
    seeded = sandbox.cases(P7, sandbox.login(P7))[0]
    assert (seeded["expected_refund_date"], seeded["expected_refund_date_basis"]) == (
        "2026-11-27", "official_calendar")


def test_a_sandbox_started_after_the_data_ends_warns_and_serves(tmp_path):
    with running_sandbox(f"sqlite:///{tmp_path / 'late.db'}", {"SANDBOX_TODAY": "2027-01-04"},
                         name="sandbox-2027") as client:
        token = client.login(P1)
        quote = client.quote(P1, token)
        assert quote.status_code == 201, quote.text
        assert (quote.json()["expected_refund_date"], quote.json()["expected_refund_date_basis"]) == (
            "2027-01-08", "weekdays_estimate")
        case = client.submit(P1, token, quote.json()["quote_id"], "late-1")
        assert case.status_code == 201, case.text
        # the seed case was opened "two days ago" (Sat 2 Jan 2027): an estimate too
        assert client.cases(P7, client.login(P7))[0]["expected_refund_date_basis"] == "weekdays_estimate"
        log = client.log_path.read_text(encoding="utf-8")
    assert "WARNING" in log and "no holiday data for 2027" in log
    assert log.count("has no holiday data for 2027: days in 2027") == 1  # once per year
    assert "calendar_unavailable" not in log and "ERROR" not in log
