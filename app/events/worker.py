"""The webhook worker (``flask --app wsgi worker``): claims due deliveries from the
outbox, POSTs them (app/events/delivery.py) and records what happened.

Our own loop over the outbox tables, not a queue library: the deliveries are
already rows written in the transaction of the change, so a queue would be a second
copy to keep in step (and Redis a second service to run); the tables work the same
on PostgreSQL and on the embedded SQLite default.

One delivery's life:

1. **Claim** (one short transaction): the oldest due delivery of a company (pending,
   ``next_attempt_at`` passed, endpoint enabled, and no earlier delivery of the same
   ``ordering_key`` still pending for that endpoint, so one product-warehouse's
   events reach an endpoint in order). The claim moves ``next_attempt_at`` to now +
   the lease (30 s) and counts the attempt: that pair is the lease token. A worker
   that dies now leaves the delivery due again when the lease ends. PostgreSQL
   picks the row ``FOR UPDATE SKIP LOCKED``, so workers side by side never wait on
   or take the same row; on SQLite the claim is one ``UPDATE ... WHERE id IN
   (SELECT ...)``, which SQLite runs under its single writer lock, so two workers
   cannot claim one row either. Companies with due work are found first (a read),
   then each claim names its company (one shard on Citus).
2. **Deliver**, outside any transaction (at most 10 s, well inside the lease).
3. **Finish** (one short transaction): lock the endpoint row, then update the
   delivery only if its lease token is still ours (else another worker has it: the
   result is dropped), write the attempt, and disable the endpoint when the retry
   budget is spent. The endpoint first, as ``DELETE`` of an endpoint (which
   cascades to its deliveries) locks them, so the two cannot deadlock.

Outcomes: 2xx succeeded. A network error, a timeout, 408, 429 or a 5xx is retried,
after ``first retry`` x 2^(attempt-1) seconds (the first within 20 s, each wait
capped at an hour, jittered down by up to half), or after ``Retry-After`` when a 429
or 503 gives one (bounded to an hour); for 24 h from the first attempt
(``STOCKFLOW_WEBHOOK_RETRY_HOURS``). Then the delivery fails and the endpoint is
disabled with the reason. Any other answer (a 3xx: redirects are not followed, a
4xx) fails the delivery at once without disabling the endpoint: the receiver
answered, and it said no to this one event. A URL refused at delivery time (SSRF
rules, app/events/urls.py) fails the delivery with the reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask

from app import metrics
from app.events import delivery, secrets
from app.extensions import db
from app.models import Event, UTCDateTime, WebhookAttempt, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

FIRST_RETRY_S = 20.0
MAX_WAIT_S = 3600.0
RETRY_AFTER_MAX_S = 3600.0
RETRYABLE_STATUSES = {408, 429}
RETRY_AFTER_STATUSES = {429, 503}
PRUNE_EVERY = dt.timedelta(minutes=10)
ALERT_REFRESH_AFTER_MIDNIGHT = dt.timedelta(minutes=5)
PRUNE_BATCH = 1000
# companies read per pass; the rest are found on the next pass
COMPANIES_PER_PASS = 1000
ERROR_KEPT_CHARS = 4096
# how long the loop waits after a failed pass (a database fault) before the next
FAULT_PAUSE_S = 5.0

deliveries = WebhookDelivery.__table__
endpoints = WebhookEndpoint.__table__
attempts_table = WebhookAttempt.__table__
events = Event.__table__


def _stamp(name: str) -> sa.BindParameter:
    return sa.bindparam(name, type_=UTCDateTime())


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Settings:
    """How the worker behaves (from the app's config; tests shorten them)."""

    lease: dt.timedelta = dt.timedelta(seconds=30)
    retry_budget: dt.timedelta = dt.timedelta(hours=24)
    retention: dt.timedelta = dt.timedelta(days=7)
    poll_s: float = 1.0

    @classmethod
    def from_config(cls, config) -> Settings:
        return cls(
            lease=dt.timedelta(seconds=float(config["STOCKFLOW_WEBHOOK_LEASE_S"])),
            retry_budget=dt.timedelta(hours=float(config["STOCKFLOW_WEBHOOK_RETRY_HOURS"])),
            retention=dt.timedelta(days=float(config["STOCKFLOW_WEBHOOK_RETENTION_DAYS"])),
            poll_s=float(config["STOCKFLOW_WORKER_POLL_S"]),
        )


@dataclass(frozen=True)
class Claim:
    """A delivery this worker holds until ``lease_until`` (with ``attempts``, the token)."""

    company_id: int
    delivery_id: int
    endpoint_id: int
    attempts: int
    lease_until: dt.datetime
    url: str
    salt: str
    event_uid: str
    event_type: str
    payload: str


def backoff(attempt: int, rng: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 = the first): the
    base doubles each time up to an hour, and is jittered down by up to half, so
    receivers that fail together are not retried in lockstep."""
    base = min(MAX_WAIT_S, FIRST_RETRY_S * 2 ** min(attempt - 1, 30))
    return rng(base / 2, base)


def retryable(result: delivery.Result) -> bool:
    """Whether the attempt may succeed later: no answer, or an answer that says so."""
    if result.refused:
        return False
    if result.status_code is None:
        return True
    return result.status_code >= 500 or result.status_code in RETRYABLE_STATUSES


class Worker:
    """Claims, delivers and finishes; ``run_once`` does the due work, ``run`` loops."""

    def __init__(
        self,
        app: Flask,
        settings: Settings | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        stop: threading.Event | None = None,
    ):
        self.app = app
        self.settings = settings or Settings.from_config(app.config)
        self.clock = clock
        self.stop = stop or threading.Event()
        self.last_pruned: dt.datetime | None = None
        self.heartbeat = app.config.get("STOCKFLOW_WORKER_HEARTBEAT")
        self.refreshes_alerts = bool(app.config.get("STOCKFLOW_WORKER_REFRESHES_ALERTS", True))
        self.alerts_current_for: dt.date | None = None

    # -- the loops

    def run(self) -> None:
        """Work until ``stop`` is set (SIGTERM/SIGINT); the delivery in flight is
        finished first. A database fault is logged and retried after a pause."""
        log.info("webhook worker started", extra={"poll_s": self.settings.poll_s})
        if self.settings.lease.total_seconds() <= delivery.TOTAL_TIMEOUT_S:
            # a delivery may outlast its lease: another worker would send it again
            log.warning(
                "STOCKFLOW_WEBHOOK_LEASE_S is not longer than one delivery may take",
                extra={"lease_s": self.settings.lease.total_seconds()},
            )
        while not self.stop.is_set():
            self.beat()
            try:
                if self.refreshes_alerts:
                    self.refresh_alert_state_if_due()
                done = self.run_once()
            except Exception:
                # the database restarting, say: log it, wait a little, go on
                log.exception("webhook worker pass failed; retrying")
                with self.app.app_context():
                    db.session.rollback()
                    db.session.remove()
                self.stop.wait(max(self.settings.poll_s, FAULT_PAUSE_S))
                continue
            if not done:
                self.stop.wait(self.settings.poll_s)
        log.info("webhook worker stopped")

    def run_once(self) -> int:
        """Deliver what is due now, one delivery per company in turn, until nothing
        due is left (or ``stop``); prune when it is time. How many attempts."""
        with self.app.app_context():
            done = 0
            companies = self.due_companies(self.clock())
            while companies and not self.stop.is_set():
                still_due = []
                for company_id in companies:
                    if self.stop.is_set():
                        break
                    claim = self.claim(company_id, self.clock())
                    if claim is not None:
                        self.attempt(claim)
                        self.beat()
                        done += 1
                        still_due.append(company_id)
                companies = still_due
            if not self.stop.is_set():
                self.prune_if_due()
            db.session.remove()
            return done

    def beat(self) -> None:
        """Touch the heartbeat file (``STOCKFLOW_WORKER_HEARTBEAT``), if there is one:
        the container's health check wants it fresh."""
        if not self.heartbeat:
            return
        try:
            with open(self.heartbeat, "a"):
                os.utime(self.heartbeat)
        except OSError:
            log.warning("cannot touch the heartbeat file", extra={"path": self.heartbeat})

    # -- claim, deliver, finish

    def due_companies(self, now: dt.datetime) -> list[int]:
        """Companies with a due delivery to an enabled endpoint (a read, every shard)."""
        statement = (
            sa.select(deliveries.c.company_id)
            .join(
                endpoints,
                sa.and_(
                    endpoints.c.company_id == deliveries.c.company_id,
                    endpoints.c.id == deliveries.c.endpoint_id,
                ),
            )
            .where(
                deliveries.c.status == "pending",
                deliveries.c.next_attempt_at <= _stamp("now"),
                endpoints.c.enabled,
            )
            .distinct()
            .limit(COMPANIES_PER_PASS)
        )
        company_ids = list(db.session.scalars(statement, {"now": now}))
        db.session.commit()
        return sorted(company_ids)

    def claim(self, company_id: int, now: dt.datetime) -> Claim | None:
        """Take the company's oldest due delivery for one lease (one short transaction)."""
        due = deliveries.alias("due")
        earlier = deliveries.alias("earlier")
        # a scalar subquery, run per candidate on ix_webhook_deliveries_pending_order
        # (one index probe); a NOT EXISTS anti-join lets a planner without statistics
        # (a queue table that just filled up) compare every pending row with every other
        head = (
            sa.select(sa.func.min(earlier.c.id))
            .where(
                earlier.c.company_id == company_id,
                earlier.c.endpoint_id == due.c.endpoint_id,
                earlier.c.ordering_key == due.c.ordering_key,
                earlier.c.status == "pending",
            )
            .scalar_subquery()
        )
        pick = (
            sa.select(due.c.id)
            .join(
                endpoints,
                sa.and_(
                    endpoints.c.company_id == due.c.company_id, endpoints.c.id == due.c.endpoint_id
                ),
            )
            .where(
                due.c.company_id == company_id,
                due.c.status == "pending",
                due.c.next_attempt_at <= _stamp("now"),
                endpoints.c.enabled,
                # one product-warehouse's events in order, per endpoint: only the head
                # of its key's pending deliveries
                sa.or_(due.c.ordering_key.is_(None), due.c.id == head),
            )
            # not by id too: rows written together share next_attempt_at, and a tie
            # broken by id would make PostgreSQL read them all before the first
            .order_by(due.c.next_attempt_at)
            .limit(1)
            # PostgreSQL: a row another worker is claiming is skipped, not waited on
            # (SQLite has no row locks; this renders nothing there)
            .with_for_update(of=due, skip_locked=True)
        )
        claimed = db.session.execute(
            sa.update(deliveries)
            # ``=`` a scalar subquery: run once (an InitPlan). ``IN (...)`` may run it again
            # per row, and each run, skipping the row the last one locked, adds another
            .where(deliveries.c.company_id == company_id, deliveries.c.id == pick.scalar_subquery())
            .values(attempts=deliveries.c.attempts + 1, next_attempt_at=_stamp("lease_until"))
            .returning(
                deliveries.c.id,
                deliveries.c.endpoint_id,
                deliveries.c.event_id,
                deliveries.c.attempts,
            ),
            {"now": now, "lease_until": now + self.settings.lease},
        ).one_or_none()
        if claimed is None:
            db.session.commit()
            return None
        endpoint = db.session.execute(
            sa.select(endpoints.c.url, endpoints.c.secret_salt).where(
                endpoints.c.company_id == company_id, endpoints.c.id == claimed.endpoint_id
            )
        ).one()
        event = db.session.execute(
            sa.select(events.c.uid, events.c.type, events.c.payload).where(
                events.c.company_id == company_id, events.c.id == claimed.event_id
            )
        ).one()
        db.session.commit()
        return Claim(
            company_id=company_id,
            delivery_id=claimed.id,
            endpoint_id=claimed.endpoint_id,
            attempts=claimed.attempts,
            lease_until=now + self.settings.lease,
            url=endpoint.url,
            salt=endpoint.secret_salt,
            event_uid=event.uid,
            event_type=event.type,
            payload=event.payload,
        )

    def attempt(self, claim: Claim) -> str:
        """POST the claimed delivery and record the result; the outcome."""
        body = claim.payload.encode()
        secret = secrets.derive(claim.company_id, claim.endpoint_id, claim.salt)
        headers = {
            "StockFlow-Event-Id": claim.event_uid,
            "StockFlow-Event-Type": claim.event_type,
            "StockFlow-Delivery-Id": str(claim.delivery_id),
            "StockFlow-Delivery-Attempt": str(claim.attempts),
            "StockFlow-Signature": secrets.sign(secret, body),
        }
        attempted_at = self.clock()
        result = delivery.post(claim.url, body, headers)
        outcome = self.finish(claim, result, attempted_at, self.clock())
        metrics.WEBHOOK_ATTEMPTS.labels(outcome).inc()
        log.info(
            "webhook attempt",
            extra={
                "company_id": claim.company_id,
                "delivery_id": claim.delivery_id,
                "endpoint_id": claim.endpoint_id,
                "event_type": claim.event_type,
                "attempt": claim.attempts,
                "status_code": result.status_code,
                "duration_ms": result.duration_ms,
                "outcome": outcome,
                "error": result.error,
            },
        )
        return outcome

    def finish(
        self, claim: Claim, result: delivery.Result, attempted_at: dt.datetime, now: dt.datetime
    ) -> str:
        """Record the attempt, if the lease is still ours (one short transaction).

        Outcomes: ``succeeded``, ``retry``, ``failed`` (no retry), ``gave_up`` (the
        retry budget is spent: failed, endpoint disabled) and ``stale`` (the lease
        was lost, or the endpoint deleted: nothing recorded)."""
        where_endpoint = sa.and_(
            endpoints.c.company_id == claim.company_id, endpoints.c.id == claim.endpoint_id
        )
        # lock order: the endpoint, then its delivery (as an endpoint's DELETE does)
        if (
            db.session.execute(
                sa.select(endpoints.c.id).where(where_endpoint).with_for_update(key_share=True)
            ).first()
            is None
        ):
            db.session.rollback()
            return "stale"
        values: dict = {
            "last_attempt_at": attempted_at,
            "last_status_code": result.status_code,
            "last_error": result.error[:ERROR_KEPT_CHARS] if result.error else None,
        }
        next_retry = disable = None
        if result.status_code is not None and 200 <= result.status_code < 300:
            outcome = "succeeded"
            # a finished delivery's next_attempt_at is when it finished: pruning's clock
            values.update(status="succeeded", delivered_at=now, next_attempt_at=now)
        elif retryable(result):
            deadline = self._first_attempt(claim, attempted_at) + self.settings.retry_budget
            if now >= deadline:
                outcome = "gave_up"
                values.update(status="failed", next_attempt_at=now)
                disable = (
                    f"Deliveries kept failing for {_hours(self.settings.retry_budget)} since "
                    f"{(deadline - self.settings.retry_budget):%Y-%m-%d %H:%M:%S} UTC "
                    f"(delivery {claim.delivery_id}, {claim.attempts} attempts); "
                    f"the last attempt: {result.error}"
                )[:ERROR_KEPT_CHARS]
            else:
                outcome = "retry"
                next_retry = min(now + dt.timedelta(seconds=self._wait(claim, result)), deadline)
                values.update(next_attempt_at=next_retry)
        else:
            outcome = "failed"
            values.update(status="failed", next_attempt_at=now)
        updated = db.session.execute(
            sa.update(deliveries)
            .where(
                deliveries.c.company_id == claim.company_id,
                deliveries.c.id == claim.delivery_id,
                deliveries.c.status == "pending",
                deliveries.c.attempts == claim.attempts,
                deliveries.c.next_attempt_at == _stamp("lease_until"),
            )
            .values(**values),
            {"lease_until": claim.lease_until},
        ).rowcount
        if updated != 1:
            # the lease ended and another worker claimed it (or it was redelivered):
            # that worker records its own attempt
            db.session.rollback()
            return "stale"
        db.session.execute(
            sa.insert(attempts_table).values(
                company_id=claim.company_id,
                delivery_id=claim.delivery_id,
                attempted_at=attempted_at,
                status_code=result.status_code,
                duration_ms=result.duration_ms,
                error=values["last_error"],
                next_retry_at=next_retry,
            )
        )
        if disable:
            db.session.execute(
                sa.update(endpoints)
                .where(where_endpoint, endpoints.c.enabled)
                .values(enabled=False, disabled_reason=disable, disabled_at=now, updated_at=now)
            )
        db.session.commit()
        return outcome

    def _first_attempt(self, claim: Claim, attempted_at: dt.datetime) -> dt.datetime:
        """When this delivery was first attempted (this attempt, if it is the first
        recorded one): the retry budget counts from there."""
        first = db.session.scalar(
            sa.select(sa.func.min(attempts_table.c.attempted_at)).where(
                attempts_table.c.company_id == claim.company_id,
                attempts_table.c.delivery_id == claim.delivery_id,
            )
        )
        if first is None:
            return attempted_at
        if isinstance(first, str):  # SQLite hands an aggregate back as text
            first = dt.datetime.fromisoformat(first)
        if first.tzinfo is None:
            first = first.replace(tzinfo=dt.UTC)
        return min(first, attempted_at)

    @staticmethod
    def _wait(claim: Claim, result: delivery.Result) -> float:
        if result.status_code in RETRY_AFTER_STATUSES and result.retry_after_s is not None:
            return min(max(result.retry_after_s, 1.0), RETRY_AFTER_MAX_S)
        return backoff(claim.attempts)

    # -- the daily alert-state refresh

    def refresh_alert_state_if_due(self, today: dt.date | None = None) -> list[int]:
        """Once per UTC day, at 00:05 (and at start): move every company whose alert state is
        behind to today's window, as ``flask refresh-alert-state`` does, so no cron is
        needed. Companies already current are skipped, so a restart, or several
        workers, redo nothing; two workers on one company lock its rows in the same
        order and the second finds them current. The companies refreshed."""
        from app.alerts import state
        from app.models import AlertState, Company

        # from 00:05 UTC: a request that wrote just before midnight has committed by then
        # (README, "Time passing")
        today = today or (dt.datetime.now(dt.UTC) - ALERT_REFRESH_AFTER_MIDNIGHT).date()
        if self.alerts_current_for == today:
            return []
        with self.app.app_context():
            # two plain reads, not an outer join: on Citus ``companies`` is a reference
            # table and ``alert_state`` is distributed
            current = set(
                db.session.scalars(
                    sa.select(AlertState.company_id).where(AlertState.as_of >= today)
                )
            )
            behind = [
                company_id
                for company_id in db.session.scalars(sa.select(Company.id).order_by(Company.id))
                if company_id not in current
            ]
            db.session.commit()
            for company_id in behind:
                if self.stop.is_set():
                    return []  # the next start finishes it
                state.refresh(company_id, today)
                self.beat()
            db.session.remove()
        if behind:
            log.info("alert state refreshed", extra={"companies": len(behind), "as_of": str(today)})
        self.alerts_current_for = today
        return behind

    # -- pruning

    def prune_if_due(self) -> None:
        now = self.clock()
        if self.last_pruned is None or now - self.last_pruned >= PRUNE_EVERY:
            self.prune(now)
            self.last_pruned = now

    def prune(self, now: dt.datetime) -> tuple[int, int]:
        """Delete finished deliveries (and their attempts) and events with no delivery
        left, older than the retention period; a company at a time, at most
        ``PRUNE_BATCH`` rows a statement, each batch its own transaction. How many
        deliveries and events went."""
        cutoff = now - self.settings.retention
        params = {"cutoff": cutoff}
        finished = sa.and_(
            deliveries.c.status.in_(("succeeded", "failed")),
            deliveries.c.next_attempt_at < _stamp("cutoff"),
        )
        company_ids = set(
            db.session.scalars(
                sa.select(deliveries.c.company_id).where(finished).distinct(), params
            )
        ) | set(
            db.session.scalars(
                sa.select(events.c.company_id)
                .where(events.c.created_at < _stamp("cutoff"))
                .distinct(),
                params,
            )
        )
        db.session.commit()
        pruned_deliveries = pruned_events = 0
        for company_id in sorted(company_ids):
            batch = (
                sa.select(deliveries.c.id)
                .where(deliveries.c.company_id == company_id, finished)
                .order_by(deliveries.c.id)
                .limit(PRUNE_BATCH)
            )
            while not self.stop.is_set():
                ids = list(db.session.scalars(batch, params))
                if ids:
                    db.session.execute(
                        sa.delete(attempts_table).where(
                            attempts_table.c.company_id == company_id,
                            attempts_table.c.delivery_id.in_(ids),
                        )
                    )
                    db.session.execute(
                        sa.delete(deliveries).where(
                            deliveries.c.company_id == company_id, deliveries.c.id.in_(ids)
                        )
                    )
                db.session.commit()
                pruned_deliveries += len(ids)
                if len(ids) < PRUNE_BATCH:
                    break
            owed = sa.exists().where(
                deliveries.c.company_id == company_id, deliveries.c.event_id == events.c.id
            )
            old_events = (
                sa.select(events.c.id)
                .where(
                    events.c.company_id == company_id,
                    events.c.created_at < _stamp("cutoff"),
                    ~owed,
                )
                .order_by(events.c.id)
                .limit(PRUNE_BATCH)
            )
            while not self.stop.is_set():
                ids = list(db.session.scalars(old_events, params))
                if ids:
                    db.session.execute(
                        sa.delete(events).where(
                            events.c.company_id == company_id, events.c.id.in_(ids), ~owed
                        ),
                        params,
                    )
                db.session.commit()
                pruned_events += len(ids)
                if len(ids) < PRUNE_BATCH:
                    break
        if pruned_deliveries or pruned_events:
            log.info(
                "webhook outbox pruned",
                extra={"deliveries": pruned_deliveries, "events": pruned_events},
            )
        return pruned_deliveries, pruned_events


def _hours(budget: dt.timedelta) -> str:
    hours = budget.total_seconds() / 3600
    return f"{hours:g} h"
