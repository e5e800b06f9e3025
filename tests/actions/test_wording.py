"""How dates and money are put into words for the user."""
import datetime as dt
from decimal import Decimal

from actions.wording import expected_day, yuan


def test_an_estimated_refund_date_says_it_is_an_estimate():
    official = expected_day(dt.date(2026, 12, 1), "official_calendar")
    estimate = expected_day(dt.date(2027, 1, 4), "weekdays_estimate")
    assert official == "2026年12月1日"  # written once, not also as 2026-12-01
    assert estimate.startswith("2027年1月4日（") and "2027-01-04" not in estimate
    assert "估算" in estimate and "节假日" in estimate


def test_money_always_has_two_places_and_thousands():
    assert yuan(Decimal("2972.2")) == "¥2,972.20"
    assert yuan(Decimal("0")) == "¥0.00"
