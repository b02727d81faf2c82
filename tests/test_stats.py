"""Every figure Hymy shows, checked against hand-computed values (stats.py)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server import stats

HELSINKI = ZoneInfo("Europe/Helsinki")


def tally_of(scale, scores):
    t = stats.Tally()
    for score in scores:
        t.add(scale, score)
    return t


def utc(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (8, 10, 0.4902, 0.9433),
        (0, 5, 0.0, 0.4345),
        (5, 5, 0.5655, 1.0),
        (50, 100, 0.4038, 0.5962),
        (1, 1, 0.2065, 1.0),
    ],
)
def test_the_wilson_interval_matches_hand_computed_values(successes, n, low, high):
    got_low, got_high = stats.wilson(successes, n)
    assert got_low == pytest.approx(low, abs=5e-4)
    assert got_high == pytest.approx(high, abs=5e-4)


def test_the_wilson_interval_always_contains_the_observed_share():
    for n in range(1, 40):
        for k in range(n + 1):
            low, high = stats.wilson(k, n)
            assert 0.0 <= low <= k / n <= high <= 1.0


def test_there_is_no_interval_without_answers():
    assert stats.wilson(0, 0) is None


def test_percent_positive_and_negative_follow_the_friends_and_family_test():
    # Very good ×3, good ×4, neither ×1, poor ×1, very poor ×1.
    t = tally_of("smiley5", [5, 5, 5, 4, 4, 4, 4, 3, 2, 1])
    assert (t.answers, t.positive, t.neutral, t.negative) == (10, 7, 1, 2)
    assert t.pct_positive == pytest.approx(70.0)
    assert t.pct_negative == pytest.approx(20.0)
    low, high = t.pct_positive_ci
    assert (low, high) == (pytest.approx(39.68, abs=0.01), pytest.approx(89.22, abs=0.01))


def test_answers_without_a_score_count_nowhere():
    t = tally_of("smiley5", [5, 5, 5, 5, 5, None])
    assert t.answers == 5
    assert t.pct_positive == 100.0


@pytest.mark.parametrize(
    ("scale", "scores", "index", "pct_positive", "pct_negative"),
    [
        ("smiley5", [5, 5, 5, 4, 4, 4, 4, 3, 2, 1], 67.5, 70.0, 20.0),
        ("smiley4", [4, 4, 3, 1, 2], 60.0, 60.0, 40.0),
        ("nps", [10, 9, 8, 7, 6, 0], 400 / 6, 100 / 3, 100 / 3),
    ],
)
def test_the_index_is_the_mean_of_the_scaled_scores_on_every_scale(scale, scores, index, pct_positive, pct_negative):
    t = tally_of(scale, scores)
    assert t.index == pytest.approx(index)
    assert t.pct_positive == pytest.approx(pct_positive)
    assert t.pct_negative == pytest.approx(pct_negative)


def test_the_four_face_scale_has_no_neutral_answers():
    t = tally_of("smiley4", [1, 2, 3, 4, 4])
    assert (t.positive, t.neutral, t.negative) == (3, 0, 2)


def test_nps_is_percent_promoters_minus_percent_detractors():
    t = tally_of("nps", [10, 10, 9, 8, 7, 5, 3, 0, 10, 9])
    # Promoters 5/10, detractors 3/10.
    assert t.nps == pytest.approx(20.0)


@pytest.mark.parametrize("n", [0, 1, 4])
def test_figures_over_fewer_than_five_answers_are_suppressed(n):
    t = tally_of("smiley5", [5] * n)
    row = t.row()
    assert row["answers"] == n
    for figure in ("positive", "neutral", "negative", "pct_positive", "pct_negative", "index",
                   "pct_positive_low", "pct_positive_high", "pct_negative_low", "pct_negative_high"):
        assert row[figure] is None, figure
    assert t.nps is None


def test_five_answers_are_enough_for_figures():
    row = tally_of("smiley5", [5, 5, 4, 2, 1]).row()
    assert row["pct_positive"] == 60.0
    assert row["pct_negative"] == 40.0
    assert row["index"] == 60.0
    assert row["pct_positive_low"] < 60.0 < row["pct_positive_high"]


def test_merging_tallies_adds_their_counts():
    a, b = tally_of("smiley5", [5, 5, 1]), tally_of("smiley5", [3, 4])
    a.merge(b)
    assert a.answers == 5
    assert a.per_score("smiley5") == {1: 1, 2: 0, 3: 1, 4: 1, 5: 2}
    assert a.index == pytest.approx((100 + 100 + 0 + 50 + 75) / 5)


@pytest.mark.parametrize(
    ("moment", "day", "week", "month"),
    [
        # Midnight in Helsinki, still the old year in UTC: local time decides.
        ("2025-12-31T22:30:00", "2026-01-01", "2026-W01", "2026-01"),
        ("2025-12-31T21:30:00", "2025-12-31", "2026-W01", "2025-12"),
        # 2024-12-30 is a Monday in ISO week 1 of 2025.
        ("2024-12-29T22:00:00", "2024-12-30", "2025-W01", "2024-12"),
        ("2024-12-29T21:59:59", "2024-12-29", "2024-W52", "2024-12"),
        # 2026 has 53 ISO weeks: 1 January 2027 belongs to 2026-W53.
        ("2027-01-01T10:00:00", "2027-01-01", "2026-W53", "2027-01"),
        # A Sunday evening and the Monday just after it, local time.
        ("2026-03-15T21:59:00", "2026-03-15", "2026-W11", "2026-03"),
        ("2026-03-15T22:01:00", "2026-03-16", "2026-W12", "2026-03"),
    ],
)
def test_period_keys_name_the_local_day_iso_week_and_month(moment, day, week, month):
    at = utc(moment)
    assert stats.period_key(at, "day", HELSINKI) == day
    assert stats.period_key(at, "week", HELSINKI) == week
    assert stats.period_key(at, "month", HELSINKI) == month


def test_an_unknown_bucket_is_refused():
    with pytest.raises(ValueError, match="bucket"):
        stats.period_key(utc("2026-01-01T00:00:00"), "year", HELSINKI)


def test_the_day_clocks_go_forward_is_23_hours_long():
    start, end = stats.day_range(date(2026, 3, 29), date(2026, 3, 29), "Europe/Helsinki")
    assert start == utc("2026-03-28T22:00:00")
    assert end == utc("2026-03-29T21:00:00")
    assert end - start == timedelta(hours=23)
    # 23:30 local summer time on that day is still the 29th; half an hour later is the 30th.
    assert stats.period_key(utc("2026-03-29T20:30:00"), "day", HELSINKI) == "2026-03-29"
    assert stats.period_key(utc("2026-03-29T21:30:00"), "day", HELSINKI) == "2026-03-30"


def test_the_day_clocks_go_back_is_25_hours_long():
    start, end = stats.day_range(date(2026, 10, 25), date(2026, 10, 25), "Europe/Helsinki")
    assert end - start == timedelta(hours=25)


def test_dashboard_windows_cover_today_yesterday_and_the_week_so_far():
    monday_morning = datetime(2026, 3, 30, 9, 0, tzinfo=HELSINKI)
    windows = stats.dashboard_windows("Europe/Helsinki", now=monday_morning)
    assert windows["today"] == (utc("2026-03-29T21:00:00"), utc("2026-03-30T21:00:00"))
    # Yesterday was the short day of the change to summer time.
    assert windows["yesterday"] == (utc("2026-03-28T22:00:00"), utc("2026-03-29T21:00:00"))
    # On a Monday the week so far is just today.
    assert windows["week"] == windows["today"]
    sunday = stats.dashboard_windows("Europe/Helsinki", now=datetime(2026, 4, 5, 23, 59, tzinfo=HELSINKI))
    assert sunday["week"] == (utc("2026-03-29T21:00:00"), utc("2026-04-05T21:00:00"))
