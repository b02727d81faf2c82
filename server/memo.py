"""A few seconds' memory of what every answer reads: the kiosk behind a token, a unit's alert rule.

Each answer from a kiosk looked up its device and unit, and each negative one its unit's alert
rule, although these change a few times a year: on SQLite the two statements cost a fifth of an
answer's processor time. Remembering them for RECENT_SECONDS takes that away.

A change made through this process's session (a device revoked or enrolled anew, a unit's scale,
reasons or questions edited, a rule changed) empties the memory at its flush and its commit. A
change made by another process (another app server, a `hymy` command) shows here within
RECENT_SECONDS.
"""

import threading
import time
from itertools import chain

from flask import current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

RECENT_SECONDS = 10
MAX_ENTRIES = 10_000


class Recent:
    """Values by key, each kept for `seconds`; a load that raced with forget() is not kept."""

    def __init__(self, seconds=RECENT_SECONDS, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.values = {}
        self.generation = 0
        self.lock = threading.Lock()

    def get(self, key, load):
        """Return the remembered value of key, else load(key) (remembered unless None)."""
        hit = self.values.get(key)
        now = self.clock()
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self.generation
        value = load(key)
        if value is not None:
            self._keep(key, value, now + self.seconds, generation)
        return value

    def replace(self, key, value):
        """Keep a newer value of a remembered key until the old one would have gone."""
        hit = self.values.get(key)
        if hit is not None:
            self._keep(key, value, hit[0], self.generation)

    def _keep(self, key, value, until, generation):
        with self.lock:
            if generation != self.generation:
                return  # forgotten while it loaded: the value may predate the change
            if len(self.values) >= MAX_ENTRIES and key not in self.values:
                self.values.clear()
            self.values[key] = (until, value)

    def forget(self):
        with self.lock:
            self.generation += 1
            self.values.clear()


class Memory:
    """An app's memory: each app (each test's too) has its own database and so its own."""

    def __init__(self):
        self.kiosks = Recent()  # server.api.Kiosk by device token hash
        self.alert_rules = Recent()  # the negative-share rule's figures by unit id

    def forget(self):
        self.kiosks.forget()
        self.alert_rules.forget()


def init_app(app):
    app.extensions["hymy_memory"] = Memory()


def of_app():
    """The current app's memory."""
    return current_app.extensions["hymy_memory"]


# By table, the columns whose change must reach the answer path at once (None: every column);
# the modules that remember rows name them beside their queries, with watch(). A heartbeat's
# changes (version, queue, last seen) leave the memory as it is.
WATCHED = {}


def watch(table, columns=None):
    """Forget everything remembered when a row of the table changes in one of the columns (or in any)."""
    WATCHED[table] = None if columns is None else tuple(columns)


def _changes_what_answers_read(session):
    for obj in chain(session.new, session.deleted, session.dirty):
        table = getattr(obj, "__tablename__", None)
        if table not in WATCHED:
            continue
        if obj in session.new or obj in session.deleted or WATCHED[table] is None:
            return True
        attrs = inspect(obj).attrs
        if any(attrs[name].history.has_changes() for name in WATCHED[table]):
            return True
    return False


@event.listens_for(Session, "after_flush")
def _forget_on_change(session, flush_context):
    if has_app_context() and _changes_what_answers_read(session):
        of_app().forget()
        # Again at the commit: another thread may read the rows as they were until then.
        session.info["hymy_forget"] = True


@event.listens_for(Session, "after_commit")
def _forget_on_commit(session):
    if session.info.pop("hymy_forget", False) and has_app_context():
        of_app().forget()


@event.listens_for(Session, "after_soft_rollback")
def _nothing_to_forget(session, previous_transaction):
    session.info.pop("hymy_forget", None)
