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


# --- The dashboard's figures: shares, index interval, weeks, hours, reasons, segments, FFT ----


def share(k, n):
    """Return (percent, (low, high)) for k of n, or (None, None) over fewer than MIN_ANSWERS."""
    if n < MIN_ANSWERS:
        return None, None
    low, high = wilson(k, n)
    return 100.0 * k / n, (100 * low, 100 * high)


def face_shares(tally, scale_name):
    """Return, for every score of the scale, its count and its share of all answers with an interval."""
    total = tally.answers
    rows = []
    for score, count in tally.per_score(scale_name).items():
        pct, ci = share(count, total)
        rows.append({"score": score, "count": count, "pct": pct, "ci": ci})
    return rows


def index_ci(tally):
    """Return the 95 % interval (low, high) of the index, by the normal approximation; None under 5 answers."""
    if not tally.enough:
        return None
    n = tally.answers
    mean = tally.index_sum / n
    squares = 0.0
    for (scale_name, score), count in tally.counts.items():
        scale = SCALES[scale_name]
        squares += count * ((score - scale.low) / (scale.high - scale.low) * 100 - mean) ** 2
    half = Z95 * math.sqrt(squares / (n - 1)) / math.sqrt(n)
    return max(0.0, mean - half), min(100.0, mean + half)


def is_praise(scale_name, score, kind):
    """Tell whether an entry is praise: logged as praise, or a client's positive answer."""
    if kind is not None:
        return kind == "praise"
    return score is not None and SCALES[scale_name].polarity(score) == "positive"


def default_period(tz_name, now=None, weeks=4):
    """Return (first, last) local days: the current ISO week so far and the weeks - 1 before it."""
    day = today(tz_name, now)
    return week_start(day) - timedelta(weeks=weeks - 1), day


def week_mondays(first, last):
    """Return the Monday of every ISO week that days first..last touch, oldest first."""
    monday, mondays = week_start(first), []
    while monday <= last:
        mondays.append(monday)
        monday += timedelta(weeks=1)
    return mondays


def weekly_tallies(hourly, first, last, tz_name):
    """Bucket (utc hour, scale, score, n) counts into [(monday, Tally)] for every week of first..last."""
    tz = ZoneInfo(tz_name)
    weeks = {monday: Tally() for monday in week_mondays(first, last)}
    for moment, scale_name, score, n in hourly:
        monday = week_start(moment.astimezone(tz).date())
        if monday in weeks:
            weeks[monday].add(scale_name, score, n)
    return list(weeks.items())


def heatmap(hourly, tz_name):
    """Bucket (utc hour, scale, score, n) counts into a local grid [weekday 0=Monday][hour 0..23].

    The database groups by UTC hour; that converts exactly in zones whose offset is whole hours.
    """
    tz = ZoneInfo(tz_name)
    grid = [[0] * 24 for _day in range(7)]
    for moment, _scale, score, n in hourly:
        if score is None:
            continue
        local = moment.astimezone(tz)
        grid[local.weekday()][local.hour] += n
    return grid


HEAT_LEVELS = 4


def heat_level(count, top):
    """Return the intensity bucket 0..HEAT_LEVELS of a heatmap cell; 0 only for an empty cell."""
    if not count or not top:
        return 0
    return max(1, math.ceil(HEAT_LEVELS * count / top))


def reason_shares(rows):
    """Turn (scale, score, reason, n) counts into each polarity's reasons with counts and shares.

    A reason's share is of all the polarity's answers, with or without a reason, as the change
    detector counts it. Returns {"positive"|"negative": {"answers", "without", "reasons": [...]}}.
    """
    result = {}
    for polarity in ("positive", "negative"):
        counts, answers, without = defaultdict(int), 0, 0
        for scale_name, score, reason, n in rows:
            if score is None or SCALES[scale_name].polarity(score) != polarity:
                continue
            answers += n
            if reason:
                counts[reason] += n
            else:
                without += n
        reasons = []
        for reason, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            pct, ci = share(n, answers)
            reasons.append({"reason": reason, "count": n, "pct": pct, "ci": ci})
        result[polarity] = {"answers": answers, "without": without, "reasons": reasons}
    return result


def segment_tallies(rows):
    """Turn (segment mapping, scale, score, n) counts into {(key, value): Tally}, sorted by key and value."""
    tallies = defaultdict(Tally)
    for segment, scale_name, score, n in rows:
        for key, value in (segment or {}).items():
            if isinstance(value, str):
                tallies[(key, value)].add(scale_name, score, n)
    return dict(sorted(tallies.items()))


def attention_key(tally, worse_changes, open_alerts):
    """Sort key putting first what needs attention: alerts and changes for the worse, then a surely high % negative.

    Units with fewer than MIN_ANSWERS answers are never ranked: the caller lists them apart.
    """
    ci = tally.pct_negative_ci
    return (0 if (worse_changes or open_alerts) else 1, -(ci[0] if ci else 0.0), -(tally.pct_negative or 0.0))


# NHS Friends and Family Test: a monthly summary on the five-point scale.
FFT_COLUMNS = [
    "unit", "period", "very_good", "good", "neither", "poor", "very_poor", "dont_know", "answers",
    "pct_positive", "pct_negative",
]
FFT_FACES = {"very_good": 5, "good": 4, "neither": 3, "poor": 2, "very_poor": 1}


def fft_row(unit_code, period, tally):
    """One FFT summary row; % positive = (very good + good) / all answers, as the FFT defines it.

    A month of fewer than MIN_ANSWERS answers shows only its answer count: every other count and
    percentage is left empty. Hymy asks no "don't know", so that count is left empty too.
    """
    per = tally.per_score("smiley5")
    enough = tally.enough
    row = {"unit": unit_code, "period": period}
    row |= {name: per[score] if enough else None for name, score in FFT_FACES.items()}
    row |= {
        "dont_know": None,
        "answers": tally.answers,
        "pct_positive": _round(tally.pct_positive),
        "pct_negative": _round(tally.pct_negative),
    }
    return row
