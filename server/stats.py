"""Every figure Hymy shows, defined once: scales, tallies, indices, Wilson intervals."""

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MIN_ANSWERS = 5  # any figure over fewer answers is shown as "fewer than 5 answers"
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Scale:
    name: str
    low: int
    high: int
    positive: frozenset
    neutral: frozenset
    negative: frozenset

    @property
    def scores(self):
        return list(range(self.low, self.high + 1))

    def polarity(self, score):
        if score in self.positive:
            return "positive"
        if score in self.negative:
            return "negative"
        return "neutral"


SCALES = {
    "smiley5": Scale("smiley5", 1, 5, frozenset({4, 5}), frozenset({3}), frozenset({1, 2})),
    "smiley4": Scale("smiley4", 1, 4, frozenset({3, 4}), frozenset(), frozenset({1, 2})),
    "nps": Scale("nps", 0, 10, frozenset({9, 10}), frozenset({7, 8}), frozenset(range(0, 7))),
}


def wilson(successes, n, z=Z95):
    """Return the Wilson score interval (low, high) for a proportion, as fractions 0..1."""
    if n == 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At 0 and n the bound is exactly 0 or 1; rounding must not move it off the edge.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


@dataclass
class Tally:
    """Counts per score and the figures derived from them, for one unit and period."""

    counts: dict = field(default_factory=lambda: defaultdict(int))  # (scale, score) -> n
    index_sum: float = 0.0

    def add(self, scale_name, score, n=1):
        """Count n answers with the score on the scale; answers without a score count nowhere."""
        if score is None:
            return
        self.counts[(scale_name, score)] += n
        scale = SCALES[scale_name]
        self.index_sum += n * (score - scale.low) / (scale.high - scale.low) * 100

    def merge(self, other):
        """Add another tally's counts to this one."""
        for key, n in other.counts.items():
            self.counts[key] += n
        self.index_sum += other.index_sum

    def _count(self, polarity):
        return sum(n for (s, score), n in self.counts.items() if SCALES[s].polarity(score) == polarity)

    def per_score(self, scale_name):
        """Return {score: count} for every score of the scale, zeros included."""
        return {score: self.counts.get((scale_name, score), 0) for score in SCALES[scale_name].scores}

    @property
    def answers(self):
        return sum(self.counts.values())

    @property
    def positive(self):
        return self._count("positive")

    @property
    def neutral(self):
        return self._count("neutral")

    @property
    def negative(self):
        return self._count("negative")

    @property
    def enough(self):
        return self.answers >= MIN_ANSWERS

    def _pct(self, k):
        return 100.0 * k / self.answers if self.enough else None

    def _ci(self, k):
        interval = wilson(k, self.answers) if self.enough else None
        return (100 * interval[0], 100 * interval[1]) if interval else None

    @property
    def pct_positive(self):
        return self._pct(self.positive)

    @property
    def pct_negative(self):
        return self._pct(self.negative)

    @property
    def pct_positive_ci(self):
        return self._ci(self.positive)

    @property
    def pct_negative_ci(self):
        return self._ci(self.negative)

    @property
    def index(self):
        return self.index_sum / self.answers if self.enough else None

    @property
    def nps(self):
        """NPS = % positive − % negative; meaningful on the nps scale."""
        if not self.enough:
            return None
        return self.pct_positive - self.pct_negative

    def row(self):
        """The tally figures as a flat mapping; figures over too few answers are None."""
        enough = self.enough
        pos_ci, neg_ci = self.pct_positive_ci, self.pct_negative_ci
        return {
            "answers": self.answers,
            "positive": self.positive if enough else None,
            "neutral": self.neutral if enough else None,
            "negative": self.negative if enough else None,
            "pct_positive": _round(self.pct_positive),
            "pct_negative": _round(self.pct_negative),
            "index": _round(self.index),
            "pct_positive_low": _round(pos_ci and pos_ci[0]),
            "pct_positive_high": _round(pos_ci and pos_ci[1]),
            "pct_negative_low": _round(neg_ci and neg_ci[0]),
            "pct_negative_high": _round(neg_ci and neg_ci[1]),
        }


TALLY_COLUMNS = [
    "unit", "period", "answers", "positive", "neutral", "negative", "pct_positive", "pct_negative",
    "index", "pct_positive_low", "pct_positive_high", "pct_negative_low", "pct_negative_high",
]


def _round(value):
    return None if value is None else round(value, 1)


def period_key(moment, bucket, tz):
    """Name the day, ISO week or month of a UTC moment in the deployment's zone."""
    local = moment.astimezone(tz)
    if bucket == "day":
        return local.strftime("%Y-%m-%d")
    if bucket == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if bucket == "month":
        return local.strftime("%Y-%m")
    raise ValueError(f"unknown bucket {bucket!r}")


def local_day_start(day, tz):
    """The UTC moment a local calendar day begins."""
    # Convert to UTC: arithmetic between aware times of one zone ignores DST changes.
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def day_range(first, last, tz_name):
    """UTC [start, end) covering the local days first..last inclusive."""
    tz = ZoneInfo(tz_name)
    return local_day_start(first, tz), local_day_start(last + timedelta(days=1), tz)


def today(tz_name, now=None):
    """Return the local calendar day of now (default: this moment) in the zone."""
    now = now or datetime.now(ZoneInfo(tz_name))
    return now.astimezone(ZoneInfo(tz_name)).date()


def week_start(day: date):
    """Return the Monday of the ISO week the day belongs to."""
    return day - timedelta(days=day.weekday())


def dashboard_windows(tz_name, now=None):
    """Return {"today", "yesterday", "week"}: UTC [start, end) of each, in local days."""
    day = today(tz_name, now)
    yesterday = day - timedelta(days=1)
    return {
        "today": day_range(day, day, tz_name),
        "yesterday": day_range(yesterday, yesterday, tz_name),
        "week": day_range(week_start(day), day, tz_name),
    }


def tally_rows(rows, bucket, tz_name):
    """Bucket (unit_code, scale, score, answered_at) rows into {(unit_code, period): Tally}."""
    tz = ZoneInfo(tz_name)
    tallies = defaultdict(Tally)
    for unit_code, scale, score, answered_at in rows:
        if score is None:
            continue
        tallies[(unit_code, period_key(answered_at, bucket, tz))].add(scale, score)
    return dict(sorted(tallies.items()))
