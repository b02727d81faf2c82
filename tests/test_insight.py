"""The change detector: finds planted changes of realistic size, stays quiet on noise."""

import math
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from server import insight
from server.insight import Counts, notable_changes

NEGATIVE_REASONS = {"waiting_time": 0.12, "staff_attitude": 0.2, "information": 0.15, "being_heard": 0.1,
                    "facilities": 0.08, "other": 0.1}
POSITIVE_REASONS = {"staff_attitude": 0.3, "being_heard": 0.15, "information": 0.1, "waiting_time": 0.1,
                    "facilities": 0.05}
SMILEY5 = {"positive": 0.8, "neutral": 0.1, "negative": 0.1}


def poisson(rng, mean):
    """Draw a Poisson count (Knuth's method: fine for the means used here)."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def mix_of(polarities, negative_reasons=NEGATIVE_REASONS, positive_reasons=POSITIVE_REASONS, segments=None):
    """Return {(polarity, reason, segment): probability} for one synthetic unit."""
    segments = segments or {None: (1.0, polarities)}
    mix = {}
    for segment, (share, seg_polarities) in segments.items():
        for polarity, p in seg_polarities.items():
            reasons = {"negative": negative_reasons, "positive": positive_reasons}.get(polarity, {})
            for reason, r in reasons.items():
                mix[(polarity, reason, segment)] = share * p * r
            mix[(polarity, None, segment)] = share * p * (1 - sum(reasons.values()))
    return mix


def simulate_week(rng, volume, mix):
    """Return the Counts of one synthetic week drawn from the mix."""
    counts = Counts()
    categories = list(mix)
    draws = rng.choices(categories, [mix[c] for c in categories], k=poisson(rng, volume))
    for (polarity, reason, segment), n in Counter(draws).items():
        counts.add(polarity, reason, {"who": segment} if segment else None, n=n)
    return counts


def simulate_unit(rng, volume, mix, week_mix=None, week_volume=None, baseline_weeks=8):
    """Return (this week, baseline) for a unit whose week may differ from its baseline."""
    history = [simulate_week(rng, volume, mix) for _ in range(baseline_weeks)]
    week = simulate_week(rng, week_volume or volume, week_mix or mix)
    return week, insight.pool(history)


def stationary_units(rng, count=10):
    """Return {name: (week, baseline)} for units with nothing going on, of varied size and scale."""
    units = {}
    for i in range(count):
        volume = rng.choice([15, 30, 60, 120, 200, 300])
        if i % 3 == 2:  # a four-face unit: no neutral answers
            polarities = {"positive": 0.75, "negative": 0.25}
        else:
            polarities = dict(SMILEY5)
        segments = None
        if i % 4 == 0:  # a unit that asks who answers
            segments = {"client": (0.7, polarities), "relative": (0.3, {"positive": 0.6, "neutral": 0.2,
                                                                         "negative": 0.2})}
        units[f"unit{i}"] = simulate_unit(rng, volume, mix_of(polarities, segments=segments))
    return units


def detection_rate(plant, seeds=40, neighbours=9):
    """Return the share of seeds in which the planted unit reports the expected change.

    The planted unit is judged together with stationary neighbours, as in an area's digest:
    their tests count in the same correction.
    """
    found = 0
    for seed in range(seeds):
        rng = random.Random(1000 + seed)
        units = stationary_units(rng, neighbours)
        units["planted"], expected = plant(rng)
        changes = notable_changes(units)["planted"]
        found += any(expected(c) for c in changes)
    return found / seeds


# --- Planted changes of realistic size -------------------------------------------------


def test_it_finds_waiting_time_rising_among_negative_answers():
    polarities = {"positive": 0.7, "neutral": 0.1, "negative": 0.2}  # ~40 negative answers a week

    def plant(rng):
        shifted = {k: v * (1 - 0.41) / (1 - 0.12) for k, v in NEGATIVE_REASONS.items()} | {"waiting_time": 0.41}
        unit = simulate_unit(rng, 200, mix_of(polarities), week_mix=mix_of(polarities, shifted))
        return unit, lambda c: c.kind == "reason_negative" and c.reason == "waiting_time" and c.direction == "worse"

    alone, in_area = detection_rate(plant, neighbours=0), detection_rate(plant)
    print(f"\nwaiting_time 12 % -> 41 % of ~40 negatives: found in {alone:.0%} of seeds for the unit alone, "
          f"{in_area:.0%} within an area of 10 units")
    # Forty negative answers are few: among ten units' tests the correction costs some power.
    assert alone >= 0.9 and in_area >= 0.75


def test_it_finds_positive_share_falling_from_80_to_60_percent():
    def plant(rng):
        after = {"positive": 0.6, "neutral": 0.15, "negative": 0.25}
        unit = simulate_unit(rng, 150, mix_of(SMILEY5), week_mix=mix_of(after))
        return unit, lambda c: c.kind == "positive" and c.direction == "worse"

    rate = detection_rate(plant)
    print(f"\n% positive 80 -> 60 with ~150 answers: found in {rate:.0%} of seeds within an area of 10 units")
    assert rate >= 0.95


def test_it_reads_a_collapse_in_volume_as_a_possibly_silent_kiosk():
    def plant(rng):
        unit = simulate_unit(rng, 120, mix_of(SMILEY5), week_volume=30)
        return unit, lambda c: c.kind == "volume" and c.direction == "worse" and c.reason is None

    assert detection_rate(plant, seeds=20) == 1.0


def test_it_finds_a_segment_that_moved():
    relatives_before = {"positive": 0.8, "neutral": 0.1, "negative": 0.1}
    relatives_after = {"positive": 0.4, "neutral": 0.2, "negative": 0.4}

    def plant(rng):
        before = mix_of(SMILEY5, segments={"client": (0.6, SMILEY5), "relative": (0.4, relatives_before)})
        after = mix_of(SMILEY5, segments={"client": (0.6, SMILEY5), "relative": (0.4, relatives_after)})
        unit = simulate_unit(rng, 150, before, week_mix=after)
        return unit, lambda c: c.kind == "segment" and c.segment == ("who", "relative") and c.direction == "worse"

    assert detection_rate(plant, seeds=20) >= 0.9


# --- Quiet on noise ------------------------------------------------------------------------


def test_it_stays_quiet_on_stationary_units_across_many_seeds():
    seeds, noisy = 200, 0
    for seed in range(seeds):
        rng = random.Random(seed)
        changes = notable_changes(stationary_units(rng, 10))
        noisy += any(changes.values())
    rate = noisy / seeds
    print(f"\nfalse-alarm rate: {rate:.1%} of {seeds} seeds x 10 stationary units reported anything")
    assert rate < 0.05


def test_it_says_nothing_about_a_change_smaller_than_ten_points():
    week = Counts(answers=20000, positive=15000, neutral=2000, negative=3000)
    baseline = Counts(weeks=8, answers=160000, positive=126400, neutral=16000, negative=17600)
    assert notable_changes({"big": (week, baseline)})["big"] == []  # 75 % against 79 %: real but small


def test_it_tests_nothing_below_the_minimum_counts():
    week = Counts(answers=4, positive=0, negative=4)
    baseline = Counts(weeks=8, answers=400, positive=360, negative=40)
    kinds = {c.kind for c in insight.candidate_changes(week, baseline)}
    assert "positive" not in kinds and "negative" not in kinds


def test_it_puts_the_strongest_change_first():
    week = Counts(answers=300, positive=195, neutral=45, negative=60)
    week.reasons_negative.update(waiting_time=36)  # 60 % of negatives, from 17 %: the clearest change
    baseline = Counts(weeks=8, answers=2400, positive=1920, neutral=240, negative=240)
    baseline.reasons_negative.update(waiting_time=40)
    changes = notable_changes({"u": (week, baseline)})["u"]
    assert [(c.kind, c.direction) for c in changes] == [
        ("reason_negative", "worse"), ("positive", "worse"), ("negative", "worse"),
    ]


# --- The statistics, on hand-computed numbers --------------------------------------------------


def test_fisher_exact_matches_the_lady_tasting_tea():
    assert insight.fisher_exact(3, 4, 1, 4) == pytest.approx(0.4857, abs=1e-4)
    assert insight.fisher_exact(4, 4, 0, 4) == pytest.approx(0.02857, abs=1e-5)


def test_two_proportion_z_test_matches_a_textbook_value():
    # 60/100 against 45/100: z = 2.1232, two-sided p = 0.0337.
    assert insight.two_proportion_p(60, 100, 45, 100) == pytest.approx(0.0337, abs=1e-4)


def test_normal_tail_and_binomial_cdf():
    assert insight.normal_sf(1.959963984540054) == pytest.approx(0.025)
    assert insight.binomial_cdf(2, 10, 0.5) == pytest.approx(56 / 1024)


def test_benjamini_hochberg_steps_up():
    # m = 4: thresholds 0.0125, 0.025, 0.0375, 0.05.
    assert insight.benjamini_hochberg([0.01, 0.04, 0.03, 0.5]) == [True, False, False, False]
    # 0.03 misses its own line (0.025) but rides along with 0.036, which meets rank 3's line.
    assert insight.benjamini_hochberg([0.01, 0.036, 0.03, 0.5]) == [True, True, True, False]
    assert insight.benjamini_hochberg([0.02, 0.04, 0.5]) == [False, False, False]


# --- Weeks and the query helper ------------------------------------------------------------


def test_weeks_are_read_and_named_as_iso_weeks():
    assert insight.parse_week("2026-W40") == date(2026, 9, 28)
    assert insight.week_name(date(2026, 9, 28)) == "2026-W40"
    for bad in ("2026-40", "2026-W4", "2026-W54", "next week"):
        with pytest.raises(ValueError):
            insight.parse_week(bad)


def test_the_default_week_is_the_last_complete_one_in_local_time():
    # Monday 00:30 in Helsinki is still Sunday in UTC: the last complete week is the one that just ended.
    now = datetime(2026, 10, 4, 21, 30, tzinfo=UTC)
    assert insight.last_complete_week("Europe/Helsinki", now) == date(2026, 9, 28)


def test_unit_counts_pool_the_weeks_before_and_skip_flagged_answers(app, make_unit):
    from server.models import Response, db

    unit = make_unit("Counts")
    monday = date(2026, 9, 28)

    def answer(day, score, reason=None, flags=""):
        at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
        db.session.add(Response(id=f"{day}-{score}-{reason}-{flags}-{len(db.session.new)}", unit_id=unit.id,
                                channel="kiosk", score=score, scale="smiley5", reason=reason, flags=flags,
                                answered_at=at))

    answer(monday + timedelta(days=2), 1, "waiting_time")
    answer(monday + timedelta(days=2), 1, flags="repeat")
    answer(monday - timedelta(weeks=2), 5)
    answer(monday - timedelta(weeks=3), 4)
    answer(monday - timedelta(weeks=20), 4)  # outside the baseline
    db.session.commit()
    week, baseline = insight.unit_counts([unit], monday, "Europe/Helsinki")[unit]
    assert (week.answers, week.negative, week.reasons_negative["waiting_time"]) == (1, 1, 1)
    assert (baseline.answers, baseline.positive, baseline.weeks) == (2, 2, 3)
