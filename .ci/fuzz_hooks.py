"""Schemathesis hooks for .ci/fuzz-openapi.

A JSON schema cannot state a bound relative to the present: a job's
`run_at` at most 7 days ahead, an override's `until` in the next 31 days, a
month that has begun. The document says these in words; here each generated
value outside them is moved inside, so that the run still checks that every
request the schema allows is accepted. A window's `end` must also differ
from its `start`, which a schema cannot say either. So with what a job may
depend on (jobs the daemon holds, refs of the same batch without a cycle:
dependencies are dropped, refs made unique) and a group's stages (names
unique, each machine in one stage: repeats are renamed or dropped).

Explicit machine ids in schedules, windows and overrides must be in the
daemon's last listing of the account, or are refused with 422 (documented
in the request's `allow_unknown` property); generated ids almost never are.
So every schedule, window and override body (create and full update) gets
`allow_unknown = True`: the run then checks the rest of the body, and
`tests/api/unknown_targets.rs` checks the refusal. The history's query
(`GET /v1/history`) gets `after=0` when it has `wait` alone and loses its
`cursor` when it has `after` (those pairs are refused with 400, as
documented), and its `wait` is cut to one second, so that long polls do
not slow the run. Nothing else is changed.
"""

from datetime import datetime, timedelta, timezone

import schemathesis


def _now():
    return datetime.now(timezone.utc)


def _instant(text):
    try:
        return datetime.fromisoformat(text.replace("z", "Z").replace("t", "T").replace("Z", "+00:00"))
    except (ValueError, AttributeError, TypeError):
        return None


def _month_begun(month):
    now = _now()
    if isinstance(month, str) and len(month) == 7 and month[:4].isdigit() and month[5:].isdigit():
        if (int(month[:4]), int(month[5:])) > (now.year, now.month):
            return f"{now.year:04}-{now.month:02}"
    return month


def _job(body, now):
    run_at = _instant(body.get("run_at"))
    if run_at is not None and run_at - now > timedelta(days=6):
        body["run_at"] = (now + timedelta(hours=1)).isoformat()
    _template(body)


def _template(body):
    args = body.get("args")
    if body.get("kind") == "utilization" and isinstance(args, dict) and "month" in args:
        args["month"] = _month_begun(args["month"])


def _batch(body, now):
    jobs = body.get("jobs")
    if not isinstance(jobs, list):
        return
    for i, job in enumerate(jobs):
        if not isinstance(job, dict):
            continue
        job.pop("depends_on", None)
        if "ref" in job:
            job["ref"] = f"r{i}"
        _job(job, now)


def _stages(body):
    stages = body.get("stages")
    if not isinstance(stages, list):
        return
    # Lists, not sets: the negative phases put lists and objects where
    # names and ids go, which a set cannot hold; those are left for the
    # server to refuse.
    names, machines = [], []
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict):
            continue
        if isinstance(stage.get("name"), str) and stage["name"] in names:
            stage["name"] = f"s{i}"
        names.append(stage.get("name"))
        ids = stage.get("machine_ids")
        if isinstance(ids, list) and ids:
            kept = []
            for m in ids:
                if not isinstance(m, str) or (m not in machines and m not in kept):
                    kept.append(m)
            if not kept:
                kept = [f"psfuzz{i}"]
            stage["machine_ids"] = kept
            machines.extend(kept)


def _history(query):
    # `wait` needs `after`, and `after` excludes `cursor`: combinations a
    # schema of independent parameters cannot state. A long poll waits up
    # to `wait` seconds for an event; one second is enough to exercise it
    # without making the run wait.
    if "after" in query:
        query.pop("cursor", None)
    elif "wait" in query:
        query["after"] = 0
    # Some phases hand the query over as text ("24"), not as a number.
    wait = query.get("wait")
    if isinstance(wait, (str, float)):
        try:
            wait = int(wait)
        except (ValueError, OverflowError):
            return
    if isinstance(wait, int) and not isinstance(wait, bool):
        query["wait"] = min(wait, 1)


# The bodies whose machine ids are checked against the account's listing.
_MACHINE_ID_BODIES = {
    ("/v1/schedules", "POST"),
    ("/v1/schedules/{key}", "PUT"),
    ("/v1/windows", "POST"),
    ("/v1/windows/{key}", "PUT"),
    ("/v1/windows/{key}/overrides", "POST"),
}


@schemathesis.hook
def before_call(context, case, kwargs):
    # Every phase's requests pass here (the coverage phase's skip `map_body`).
    if case.operation.path == "/v1/history" and isinstance(case.query, dict):
        _history(case.query)
    body = case.body
    if not isinstance(body, dict):
        return
    path, method = case.operation.path, case.method.upper()
    now = _now()
    if (path, method) in _MACHINE_ID_BODIES:
        body["allow_unknown"] = True
    if path == "/v1/jobs" and method == "POST":
        body.pop("depends_on", None)
        _job(body, now)
    elif path == "/v1/jobs/batch":
        _batch(body, now)
    elif path.startswith("/v1/groups"):
        _stages(body)
    elif path.startswith("/v1/schedules") and method in ("POST", "PUT"):
        if isinstance(body.get("template"), dict):
            _template(body["template"])
    elif path == "/v1/reports/utilization/pull":
        body["month"] = _month_begun(body.get("month"))
    elif path == "/v1/windows/{key}/overrides":
        until = _instant(body.get("until"))
        if until is not None and not (now + timedelta(minutes=5) < until < now + timedelta(days=30)):
            body["until"] = (now + timedelta(hours=2)).isoformat()
    elif path.startswith("/v1/windows") and isinstance(body.get("hours"), dict):
        hours = body["hours"]
        if hours.get("start") is not None and hours.get("start") == hours.get("end"):
            hours["end"] = "12:34" if hours["start"] != "12:34" else "12:35"
