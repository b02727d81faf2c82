"""What changed, and why: a unit's week against its own recent weeks, noise left unsaid.

The tests (pure functions over counts, standard library only):

- % positive and % negative: a two-proportion z-test, or Fisher's exact test when an
  expected cell count is below 5;
- a reason's share of the negative (or positive) answers: the same test;
- % positive within each segment value: the same test;
- a drop in volume: the exact conditional test of two Poisson rates (the week's count
  given the week's and the baseline's total is binomial under equal rates), one-sided.

A test is only made when both periods have at least MIN_COUNT answers in its denominator
(and a reason at least MIN_MENTIONS mentions in the two together). Every test made in one
call is corrected together (Benjamini–Hochberg, q = 0.05), and a change must also be large
enough to matter (MIN_EFFECT percentage points, or a MIN_DROP fall in volume).
"""

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import String, case, cast, func

from . import rollup, stats
from .labels import reason_label
from .models import Response, db, pick_lang

Q = 0.05  # false discovery rate across every test made at once
MIN_COUNT = 5  # answers in a denominator, in each period
MIN_MENTIONS = 5  # mentions of a reason, both periods together
MIN_EFFECT = 0.10  # ten percentage points
MIN_DROP = 0.40  # volume at least 40 % below the baseline's weekly mean
MIN_WEEKLY_VOLUME = 10  # baseline weekly mean below which a drop says nothing
BASELINE_WEEKS = 8


# --- Counts ------------------------------------------------------------------------------


@dataclass
class Counts:
    """What a unit's counted answers add up to over one period of whole weeks."""

    weeks: int = 1
    answers: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    reasons_positive: Counter = field(default_factory=Counter)  # reason -> positive answers
    reasons_negative: Counter = field(default_factory=Counter)  # reason -> negative answers
    segment_answers: Counter = field(default_factory=Counter)  # (key, value) -> answers
    segment_positive: Counter = field(default_factory=Counter)  # (key, value) -> positive answers

    def add(self, polarity, reason=None, segment=None, n=1):
        """Count n answers of the polarity with an optional reason and segment."""
        self.answers += n
        setattr(self, polarity, getattr(self, polarity) + n)
        if reason and polarity == "positive":
            self.reasons_positive[reason] += n
        elif reason and polarity == "negative":
            self.reasons_negative[reason] += n
        self.add_segment(polarity, segment, n)

    def add_segment(self, polarity, segment, n=1):
        """Count n answers of the polarity under each of their segment answers."""
        for item in (segment or {}).items():
            if not isinstance(item[1], str):
                continue
            self.segment_answers[item] += n
            if polarity == "positive":
                self.segment_positive[item] += n


@dataclass
class Change:
    """One tested change: what moved, how much, and how sure we are."""

    kind: str  # positive | negative | reason_positive | reason_negative | segment | volume
    direction: str  # better | worse
    now: float  # a fraction, or answers in the week for volume
    before: float  # a fraction, or the baseline's weekly mean for volume
    p: float
    reason: str | None = None
    segment: tuple | None = None
    key: object = None  # whose change it is (a unit), set by notable_changes

    @property
    def effect(self):
        """The size of the change: percentage points as a fraction, or the relative volume drop."""
        if self.kind == "volume":
            return (self.before - self.now) / self.before if self.before else 0.0
        return self.now - self.before

    @property
    def large_enough(self):
        if self.kind == "volume":
            return self.effect >= MIN_DROP
        return abs(self.effect) >= MIN_EFFECT - 1e-9


# --- Tests -------------------------------------------------------------------------------


def normal_sf(z):
    """Return P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def fisher_exact(x1, n1, x2, n2):
    """Return the two-sided p-value of Fisher's exact test for x1/n1 against x2/n2."""
    total = x1 + x2
    low, high = max(0, total - n2), min(n1, total)

    def log_pmf(k):
        return _log_comb(n1, k) + _log_comb(n2, total - k) - _log_comb(n1 + n2, total)

    observed = log_pmf(x1)
    tolerance = 1e-7
    p = sum(math.exp(lp) for lp in map(log_pmf, range(low, high + 1)) if lp <= observed + tolerance)
    return min(1.0, p)


def _log_comb(n, k):
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def two_proportion_p(x1, n1, x2, n2):
    """Return the two-sided p-value for x1/n1 differing from x2/n2 (z-test, or Fisher's for small counts)."""
    pooled = (x1 + x2) / (n1 + n2)
    expected = min(n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled))
    if expected < 5:
        return fisher_exact(x1, n1, x2, n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 2 * normal_sf(abs(x1 / n1 - x2 / n2) / se)


def binomial_cdf(k, n, p):
    """Return P(X <= k) for X ~ Binomial(n, p)."""
    if k >= n:
        return 1.0
    return min(1.0, sum(
        math.exp(_log_comb(n, i) + i * math.log(p) + (n - i) * math.log1p(-p)) for i in range(k + 1)
    ))


def volume_drop_p(now, baseline_total, baseline_weeks):
    """Return the one-sided p-value for a week's count lying below the baseline's weekly rate."""
    return binomial_cdf(now, now + baseline_total, 1 / (baseline_weeks + 1))


def benjamini_hochberg(pvalues, q=Q):
    """Return, for each p-value, whether it is a discovery at false discovery rate q."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    cutoff = 0
    for rank, i in enumerate(order, start=1):
        if pvalues[i] <= q * rank / m:
            cutoff = rank
    keep = set(order[:cutoff])
    return [i in keep for i in range(m)]


# --- The detector ------------------------------------------------------------------------


def _proportion(kind, x1, n1, x2, n2, worse_when_up, **extra):
    """Test x1/n1 (this week) against x2/n2 (baseline); None when the counts are too small."""
    if n1 < MIN_COUNT or n2 < MIN_COUNT:
        return None
    now, before = x1 / n1, x2 / n2
    up = now > before
    direction = "worse" if up == worse_when_up else "better"
    return Change(kind, direction, now, before, two_proportion_p(x1, n1, x2, n2), **extra)


def candidate_changes(current, baseline):
    """Return every change tested for one unit (significant or not), given enough counts."""
    tests = [
        _proportion("positive", current.positive, current.answers, baseline.positive, baseline.answers, False),
    ]
    # Without neutral answers, % negative is 100 minus % positive: saying it twice says nothing new.
    if current.neutral or baseline.neutral:
        tests.append(_proportion(
            "negative", current.negative, current.answers, baseline.negative, baseline.answers, True,
        ))
    for polarity, worse_when_up in (("negative", True), ("positive", False)):
        now_reasons = getattr(current, f"reasons_{polarity}")
        before_reasons = getattr(baseline, f"reasons_{polarity}")
        for reason in sorted(set(now_reasons) | set(before_reasons)):
            if now_reasons[reason] + before_reasons[reason] < MIN_MENTIONS:
                continue
            tests.append(_proportion(
                f"reason_{polarity}", now_reasons[reason], getattr(current, polarity),
                before_reasons[reason], getattr(baseline, polarity), worse_when_up, reason=reason,
            ))
    for segment in sorted(set(current.segment_answers) & set(baseline.segment_answers)):
        tests.append(_proportion(
            "segment", current.segment_positive[segment], current.segment_answers[segment],
            baseline.segment_positive[segment], baseline.segment_answers[segment], False, segment=segment,
        ))
    mean = baseline.answers / baseline.weeks if baseline.weeks else 0
    if baseline.weeks >= 2 and mean >= MIN_WEEKLY_VOLUME and current.answers < mean:
        tests.append(Change(
            "volume", "worse", current.answers, mean,
            volume_drop_p(current.answers, baseline.answers, baseline.weeks),
        ))
    return [t for t in tests if t is not None]


def notable_changes(pairs, q=Q):
    """Return {key: [Change, ...]}, strongest first, for {key: (current, baseline)} Counts.

    Every test made for every key is corrected together, so that looking at many units
    and reasons at once does not turn noise into news.
    """
    tested = []
    for key, (current, baseline) in pairs.items():
        for change in candidate_changes(current, baseline):
            change.key = key
            tested.append(change)
    discoveries = benjamini_hochberg([c.p for c in tested], q)
    result = {key: [] for key in pairs}
    for change, discovered in zip(tested, discoveries, strict=True):
        if discovered and change.large_enough:
            result[change.key].append(change)
    for changes in result.values():
        changes.sort(key=lambda c: (c.p, -abs(c.effect)))
    return result


# --- Weeks and queries -------------------------------------------------------------------


def parse_week(value):
    """Return the Monday of an ISO week written YYYY-Www; raise ValueError otherwise."""
    try:
        year, week = value.split("-W")
        if len(year) != 4 or len(week) != 2:
            raise ValueError
        return date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise ValueError(f"a week looks like 2026-W40; got {value!r}") from None


def week_name(monday):
    year, week, _day = monday.isocalendar()
    return f"{year}-W{week:02d}"


def last_complete_week(tz_name, now=None):
    """Return the Monday of the last complete ISO week in the zone."""
    return stats.week_start(stats.today(tz_name, now)) - timedelta(weeks=1)


def unit_counts(units, monday, tz_name, baseline_weeks=BASELINE_WEEKS):
    """Return {unit: (Counts of the week, Counts of the weeks before)}, counted in the database.

    The baseline starts at the unit's first week with an answer, so that a new unit is
    not compared with the empty weeks before it existed.
    """
    first_monday = monday - timedelta(weeks=baseline_weeks)
    # Each local week's start in UTC: the database sorts answers into weeks and counts them.
    bounds = [stats.day_range(first_monday + timedelta(weeks=i), first_monday + timedelta(weeks=i), tz_name)[0]
              for i in range(baseline_weeks + 2)]
    week = case(*((Response.answered_at < bound, index) for index, bound in enumerate(bounds[1:])), else_=-1)
    by_id = {u.id: u for u in units}
    weekly = {u.id: [Counts() for _ in range(baseline_weeks + 1)] for u in units}
    where = (Response.unit_id.in_(list(by_id)), Response.score.is_not(None), Response.flags == "",
             Response.answered_at >= bounds[0], Response.answered_at < bounds[-1])
    if rollup.ready(tz_name):
        week_index = {first_monday + timedelta(weeks=i): i for i in range(baseline_weeks + 1)}
        counts = ((unit_id, week_index[week_monday], scale, score, reason, n)
                  for unit_id, week_monday, scale, score, reason, n
                  in rollup.week_counts(list(by_id), first_monday, monday, by_reason=True))
    else:
        counts = db.session.execute(
            db.select(Response.unit_id, week, Response.scale, Response.score, Response.reason, func.count())
            .where(*where).group_by(Response.unit_id, week, Response.scale, Response.score, Response.reason)
        )
    polarities = {}
    for unit_id, index, scale, score, reason, n in counts:
        polarity = polarities.get((scale, score))
        if polarity is None:
            polarity = polarities[scale, score] = stats.SCALES[scale].polarity(score)
        weekly[unit_id][index].add(polarity, reason, None, n)
    # Segments apart: few answers carry one, and the covering index does not hold them.
    segment_text = cast(Response.segment, String)
    segments = (
        db.select(Response.unit_id, week, Response.scale, Response.score, segment_text, func.count())
        .where(*where, Response.segment.is_not(None))
        .group_by(Response.unit_id, week, Response.scale, Response.score, segment_text)
    )
    for unit_id, index, scale, score, segment, n in db.session.execute(segments):
        segment = json.loads(segment) if segment else None
        if isinstance(segment, dict):
            weekly[unit_id][index].add_segment(stats.SCALES[scale].polarity(score), segment, n)
    result = {}
    for unit_id, weeks in weekly.items():
        history = weeks[:-1]
        while history and history[0].answers == 0:
            history = history[1:]
        result[by_id[unit_id]] = (weeks[-1], pool(history))
    return result


def pool(weeks):
    """Add up weekly Counts into one Counts over all those weeks."""
    pooled = Counts(weeks=len(weeks))
    for week in weeks:
        for name in ("answers", "positive", "neutral", "negative"):
            setattr(pooled, name, getattr(pooled, name) + getattr(week, name))
        for name in ("reasons_positive", "reasons_negative", "segment_answers", "segment_positive"):
            getattr(pooled, name).update(getattr(week, name))
    return pooled


# --- Sentences ---------------------------------------------------------------------------


def _pct(fraction):
    return round(100 * fraction)


def segment_label(unit, segment):
    """Return the translated label of a segment answer such as ("who", "relative")."""
    key, value = segment
    for question in unit.segment_questions or []:
        if question.get("key") == key:
            for option in question.get("options", []):
                if option.get("value") == value:
                    return pick_lang(option.get("labels") or {}) or str(value)
    return str(value)


def describe(change, unit):
    """Say the change in one plain sentence in the current language."""
    values = {"now": _pct(change.now), "before": _pct(change.before)}
    up = change.now > change.before
    if change.kind == "positive":
        if up:
            return _("%(now)s %% of answers were positive this week, up from %(before)s %%.", **values)
        return _("%(now)s %% of answers were positive this week, down from %(before)s %%.", **values)
    if change.kind == "negative":
        if up:
            return _("%(now)s %% of answers were negative this week, up from %(before)s %%.", **values)
        return _("%(now)s %% of answers were negative this week, down from %(before)s %%.", **values)
    if change.kind == "reason_negative":
        values["reason"] = reason_label(unit, change.reason)
        if up:
            return _("%(reason)s was the reason in %(now)s %% of negative answers this week, up from %(before)s %%.",
                     **values)
        return _("%(reason)s was the reason in %(now)s %% of negative answers this week, down from %(before)s %%.",
                 **values)
    if change.kind == "reason_positive":
        values["reason"] = reason_label(unit, change.reason)
        if up:
            return _("%(reason)s was the reason in %(now)s %% of positive answers this week, up from %(before)s %%.",
                     **values)
        return _("%(reason)s was the reason in %(now)s %% of positive answers this week, down from %(before)s %%.",
                 **values)
    if change.kind == "segment":
        values["segment"] = segment_label(unit, change.segment)
        if up:
            return _("Answers from %(segment)s were %(now)s %% positive this week, up from %(before)s %%.", **values)
        return _("Answers from %(segment)s were %(now)s %% positive this week, down from %(before)s %%.", **values)
    return ngettext(
        "Only %(num)d answer this week, against about %(before)d a week before: is the kiosk working?",
        "Only %(num)d answers this week, against about %(before)d a week before: is the kiosk working?",
        int(change.now), before=round(change.before),
    )


def as_json(change, unit):
    """The change as the digest's JSON contract has it."""
    return {"direction": change.direction, "reason": change.reason, "text": describe(change, unit)}


def explain(units, monday, tz_name, baseline_weeks=BASELINE_WEEKS):
    """Return {unit: (Counts of the week, [Change, ...] strongest first)} for the units' week."""
    pairs = unit_counts(units, monday, tz_name, baseline_weeks)
    changes = notable_changes(pairs)
    return {unit: (pairs[unit][0], changes[unit]) for unit in units}
