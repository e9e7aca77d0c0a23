"""The official Dialpad Python SDK (python-dialpad 3.2.0), unchanged, against the simulator.

Usage: scenario.py BASE_URL API_KEY OPS_JSON

OPS_JSON lists the operations the simulator claims to serve ([{"method", "path"}]); the
operations the task requires are always exercised, a few optional ones (e.g. e911) only when
the simulator claims them. Every list is iterated to its end with the SDK's own pagination.
Any exception or failed check exits non-zero with a message naming the step.
"""

import json
import sys
import traceback

from dialpad import DialpadClient

BASE_URL, API_KEY, OPS_JSON = sys.argv[1], sys.argv[2], sys.argv[3]
with open(OPS_JSON) as f:
    SERVED = {(o["method"], o["path"]) for o in json.load(f)}

dp = DialpadClient(API_KEY, base_url=BASE_URL)

# Dialpad rate-limits every company (20 req/s, and tighter per-operation limits such as 5 call
# starts a minute) and the SDK has no retry of its own, so, as any real integration must, give
# the SDK's requests session a standard urllib3 retry for 429 only, honouring Retry-After. A 429
# means Dialpad did not execute the request, so retrying any method is safe. The SDK's code is
# untouched; against a simulator without rate limits this never fires.
from requests.adapters import HTTPAdapter  # noqa: E402
from urllib3.util.retry import Retry  # noqa: E402

_retry = Retry(
    total=20,
    connect=0,
    read=0,
    status_forcelist=[429],
    allowed_methods=None,
    respect_retry_after_header=True,
    backoff_factor=0.5,
    raise_on_status=False,
)
dp._session.mount("http://", HTTPAdapter(max_retries=_retry))
dp._session.mount("https://", HTTPAdapter(max_retries=_retry))
calls_ok = 0
step = "start"


def ok(label, value):
    """Counts one successful SDK call and returns its result."""
    global calls_ok, step
    calls_ok += 1
    step = label
    return value


def check(cond, msg):
    if not cond:
        raise AssertionError(f"after {step}: {msg}")


def served(method, path):
    return (method, path) in SERVED


def is_int64_str(v):
    return isinstance(v, str) and v.lstrip("-").isdigit()


def users():
    everyone = ok("users.list", list(dp.users.list()))
    check(len(everyone) > 0, "users.list returned no users")
    ids = [u["id"] for u in everyone]
    check(all(is_int64_str(i) for i in ids), f"user ids are not int64 strings: {ids[:3]}")
    check(len(set(ids)) == len(ids), "users.list repeated a user across pages")
    first = ok("users.get", dp.users.get(ids[0]))
    check(first["id"] == ids[0], f"users.get returned {first.get('id')} for {ids[0]}")
    if hasattr(dp.users, "me"):
        me = ok("users.me", dp.users.me())
        check("id" in me, "users.me has no id")
    office_id = first.get("office_id") or ok("offices.list", next(iter(dp.offices.list())))["id"]
    created = ok(
        "users.create",
        dp.users.create({"email": "sdk.user@example.com", "office_id": int(office_id), "first_name": "Sdk", "last_name": "User"}),
    )
    check(is_int64_str(created.get("id")), f"users.create id {created.get('id')!r}")
    after_create = ok("users.list (after create)", list(dp.users.list()))
    check(len(after_create) == len(everyone) + 1, f"user count {len(everyone)} -> {len(after_create)} after create")
    upd = ok("users.partial_update", dp.users.partial_update(created["id"], {"first_name": "Renamed", "job_title": "QA"}))
    check(upd.get("first_name") == "Renamed", f"users.partial_update first_name = {upd.get('first_name')!r}")
    got = ok("users.get (updated)", dp.users.get(created["id"]))
    check(got.get("first_name") == "Renamed", "update not visible in users.get")
    if served("PATCH", "/api/v2/users/{id}/togglednd"):
        ok("users.toggle_dnd", dp.users.toggle_dnd(ids[0], {"do_not_disturb": True}))
    if served("GET", "/api/v2/users/{id}/caller_id"):
        ok("users.get_caller_id", dp.users.get_caller_id(ids[0]))
    if served("GET", "/api/v2/users/{id}/e911"):
        ok("users.get_e911_address", dp.users.get_e911_address(ids[0]))
    if served("GET", "/api/v2/users/{id}/personas"):
        ok("users.list_personas", list(dp.users.list_personas(ids[0])))
    deleted = ok("users.delete", dp.users.delete(created["id"]))
    check(deleted.get("id") == created["id"], f"users.delete returned id {deleted.get('id')!r}")
    remaining = ok("users.list (after delete)", list(dp.users.list()))
    check(created["id"] not in [u["id"] for u in remaining if u.get("state") != "deleted"],
          "deleted user still listed as not deleted")
    return ids


def contacts(user_ids):
    shared = ok("contacts.list", list(dp.contacts.list()))
    with_local = ok("contacts.list(include_local)", list(dp.contacts.list(include_local=True)))
    check(len(with_local) >= len(shared), f"include_local listed fewer contacts ({len(with_local)} < {len(shared)})")
    check({c["id"] for c in shared} <= {c["id"] for c in with_local}, "include_local lost shared contacts")
    c = ok("contacts.create", dp.contacts.create({
        "first_name": "Ada", "last_name": "Lovelace", "emails": ["ada@example.com"], "phones": ["+14155550100"],
    }))
    check(c.get("first_name") == "Ada" and c.get("primary_phone") == "+14155550100", f"contacts.create returned {c}")
    after = ok("contacts.list (after create)", list(dp.contacts.list()))
    check(len(after) == len(shared) + 1, f"contact count {len(shared)} -> {len(after)} after create")
    u1 = ok("contacts.create_or_update", dp.contacts.create_or_update({"first_name": "Grace", "last_name": "Hopper", "uid": "sdk-1"}))
    u2 = ok("contacts.create_or_update (again)", dp.contacts.create_or_update({"first_name": "Grace", "last_name": "Brewster", "uid": "sdk-1"}))
    check(u1["id"] == u2["id"] and u2.get("last_name") == "Brewster", f"create_or_update by uid made {u1['id']} then {u2['id']}")
    after_uid = ok("contacts.list (after uid)", list(dp.contacts.list()))
    check(len(after_uid) == len(after) + 1, "create_or_update twice with one uid did not add exactly one contact")
    got = ok("contacts.get", dp.contacts.get(c["id"]))
    check(got["id"] == c["id"], "contacts.get id mismatch")
    upd = ok("contacts.partial_update", dp.contacts.partial_update(c["id"], {"job_title": "Analyst"}))
    check(upd.get("job_title") == "Analyst", f"partial_update job_title = {upd.get('job_title')!r}")
    d = ok("contacts.delete", dp.contacts.delete(c["id"]))
    check(d.get("id") == c["id"], "contacts.delete returned another contact")
    ok("contacts.delete (uid)", dp.contacts.delete(u1["id"]))
    final = ok("contacts.list (after delete)", list(dp.contacts.list()))
    check(len(final) == len(shared), f"contact count {len(final)} after deletes, expected {len(shared)}")
    local_owner = next((x.get("owner_id") for x in with_local if x.get("type") == "local"), None)
    if local_owner:
        mine = ok("contacts.list(owner_id)", list(dp.contacts.list(owner_id=int(local_owner))))
        check(mine and all(x.get("owner_id") == local_owner for x in mine), "owner_id filter returned others' contacts")


def offices():
    offs = ok("offices.list", list(dp.offices.list()))
    check(len(offs) > 0, "no offices")
    o = ok("offices.get", dp.offices.get(int(offs[0]["id"])))
    check(o["id"] == offs[0]["id"], "offices.get id mismatch")
    created = ok("offices.create", dp.offices.create({
        "name": "SDK Office",
        "annual_commit_monthly_billing": False,
        "billing_address": {"address_line_1": "1 Test St", "city": "Vancouver", "country": "CA", "postal_code": "V6B 1A1", "region": "BC"},
        "country": "CA", "currency": "CAD",
        "e911_address": {"address": "1 Test St", "city": "Vancouver", "state": "BC", "zip": "V6B 1A1", "country": "CA"}, "invoiced": False, "plan_period": "monthly", "unified_billing": True,
    }))
    new_office = created.get("office", created)
    check(is_int64_str(new_office.get("id")), f"offices.create returned {created}")
    after = ok("offices.list (after create)", list(dp.offices.list()))
    check(len(after) == len(offs) + 1, f"office count {len(offs)} -> {len(after)} after create")
    # The SDK has no office PATCH; its office update is the e911 address.
    if served("GET", "/api/v2/offices/{id}/e911"):
        ok("offices.get_e911_address", dp.offices.get_e911_address(int(o["id"])))
    if served("PUT", "/api/v2/offices/{id}/e911"):
        ok("offices.update_e911_address", dp.offices.update_e911_address(int(new_office["id"]), {
            "address": "2 Test St", "city": "Vancouver", "state": "BC", "zip": "V6B 1A1", "country": "CA"}))
    if served("GET", "/api/v2/offices/{id}/operators"):
        ok("offices.list_operators", dp.offices.list_operators(int(o["id"])))
    if served("GET", "/api/v2/offices/{office_id}/plan"):
        ok("offices.get_billing_plan", dp.offices.get_billing_plan(int(o["id"])))
    comp = ok("company.get", dp.company.get())
    check(is_int64_str(comp.get("id")), f"company id {comp.get('id')!r}")


def calls(user_ids):
    history = ok("calls.list", list(dp.calls.list()))
    check(len(history) > 0, "no calls in the seeded history")
    cids = [c["call_id"] for c in history]
    check(len(set(cids)) == len(cids), "calls.list repeated a call across pages")
    one = ok("calls.get", dp.calls.get(int(cids[0])))
    check(one["call_id"] == cids[0], "calls.get call_id mismatch")
    labels = ok("call_labels.list", dp.call_labels.list())
    check(isinstance(labels.get("labels", []), list), f"call_labels.list returned {labels}")
    transcribed = None
    for cid in cids[:200]:
        try:
            t = dp.transcripts.get(int(cid))
        except Exception:
            continue
        transcribed = ok("transcripts.get", t)
        break
    check(transcribed is not None, "no call in the history has a transcript")
    check(transcribed.get("lines"), f"transcript of {transcribed.get('call_id')} has no lines")
    tcid = int(transcribed["call_id"])
    url = ok("transcripts.get_url", dp.transcripts.get_url(tcid))
    check(str(url.get("call_id")) == str(tcid) and url.get("url", "").startswith("http"), f"transcripts.get_url returned {url}")
    # python-dialpad 3.2.0 has no resource method for the AI recap: use the client's own
    # generic request (same auth, same session).
    recap = ok("ai_recap (client.request)", dp.request("GET", f"/api/v2/call/{tcid}/ai_recap"))
    check(str(recap.get("call_id")) == str(tcid), f"ai_recap call_id {recap.get('call_id')!r}")

    rung = ok("calls.initiate_ring_call", dp.calls.initiate_ring_call({"phone_number": "+14155550123", "user_id": int(user_ids[0])}))
    rid = rung.get("call_id")
    check(is_int64_str(rid), f"ring call returned {rung}")
    live = ok("calls.get (ringing)", dp.calls.get(int(rid)))
    check(live["call_id"] == rid, "new call not retrievable")
    labelled = ok("calls.set_call_label", dp.calls.set_call_label(int(rid), {"labels": ["sdk"]}))
    check("sdk" in (labelled.get("labels") or []), f"set_call_label returned labels {labelled.get('labels')}")
    to = {"target_id": int(user_ids[1]), "target_type": "user"} if len(user_ids) > 1 else {"number": "+14155550124"}
    tr = ok("calls.transfer", dp.calls.transfer(int(rid), {"to": to}))
    check(tr.get("call_id") == rid, f"transfer returned {tr}")
    ap = ok("calls.add_participant", dp.calls.add_participant(int(rid), {"participant": {"number": "+14155550125"}}))
    check("call_id" in ap, f"add_participant returned {ap}")
    ok("calls.hangup_call", dp.calls.hangup_call(int(rid)))
    if served("POST", "/api/v2/users/{id}/initiate_call"):
        init = ok("users.initiate_call", dp.users.initiate_call(user_ids[0], {"phone_number": "+14155550126"}))
        check(isinstance(init, dict), f"initiate_call returned {init!r}")

    sms = ok("sms.send", dp.sms.send({"user_id": int(user_ids[0]), "to_numbers": ["+14155550127"], "text": "hi from the SDK"}))
    check(is_int64_str(sms.get("id")) and sms.get("text") == "hi from the SDK", f"sms.send returned {sms}")


def channels(user_ids):
    before = ok("channels.list", list(dp.channels.list()))
    ch = ok("channels.create", dp.channels.create({"name": "sdk-channel", "description": "made by the SDK scenario", "privacy_type": "public", "user_id": int(user_ids[0])}))
    check(ch.get("name") == "sdk-channel" and is_int64_str(ch.get("id")), f"channels.create returned {ch}")
    after = ok("channels.list (after create)", list(dp.channels.list()))
    check(len(after) == len(before) + 1, f"channel count {len(before)} -> {len(after)}")
    got = ok("channels.get", dp.channels.get(int(ch["id"])))
    check(got["id"] == ch["id"], "channels.get id mismatch")
    members0 = ok("channels.list_members", list(dp.channels.list_members(int(ch["id"]))))
    other = next(u for u in user_ids if u not in [m.get("id") for m in members0])
    added = ok("channels.add_member", dp.channels.add_member(int(ch["id"]), {"user_id": int(other)}))
    check(added.get("id") == other, f"add_member returned {added}")
    members1 = ok("channels.list_members (after add)", list(dp.channels.list_members(int(ch["id"]))))
    check(len(members1) == len(members0) + 1, f"member count {len(members0)} -> {len(members1)}")
    ok("channels.remove_member", dp.channels.remove_member(int(ch["id"]), {"user_id": int(other)}))
    members2 = ok("channels.list_members (after remove)", list(dp.channels.list_members(int(ch["id"]))))
    check(len(members2) == len(members0), "remove_member did not remove")
    ok("channels.delete", dp.channels.delete(int(ch["id"])))
    final = ok("channels.list (after delete)", list(dp.channels.list()))
    check(ch["id"] not in [c["id"] for c in final], "deleted channel still listed")


def webhooks_and_subscriptions():
    before = ok("webhooks.list", list(dp.webhooks.list()))
    hook = ok("webhooks.create", dp.webhooks.create({"hook_url": "http://127.0.0.1:9/hook", "secret": "s3cret"}))
    check(is_int64_str(hook.get("id")) and hook.get("hook_url") == "http://127.0.0.1:9/hook", f"webhooks.create returned {hook}")
    after = ok("webhooks.list (after create)", list(dp.webhooks.list()))
    check(len(after) == len(before) + 1, "webhook count did not grow")
    check(ok("webhooks.get", dp.webhooks.get(int(hook["id"])))["id"] == hook["id"], "webhooks.get id mismatch")
    upd = ok("webhooks.partial_update", dp.webhooks.partial_update(hook["id"], {"hook_url": "http://127.0.0.1:9/hook2"}))
    check(upd.get("hook_url") == "http://127.0.0.1:9/hook2", f"webhooks.partial_update returned {upd}")

    kinds = [
        ("call", dp.call_event_subscriptions, {"call_states": ["ringing", "hangup"], "enabled": True}, {"call_states": ["hangup"]}),
        ("sms", dp.sms_event_subscriptions, {"direction": "all", "enabled": True}, {"direction": "inbound"}),
        ("contact", dp.contact_event_subscriptions, {"contact_type": "shared", "enabled": True}, {"contact_type": "local", "enabled": False}),
        ("agent_status", dp.agent_status_event_subscriptions, {"agent_type": "callcenter", "enabled": True}, {"enabled": False}),
    ]
    if hasattr(dp, "changelog_event_subscriptions") and served("POST", "/api/v2/subscriptions/changelog"):
        kinds.append(("changelog", dp.changelog_event_subscriptions, {"enabled": True}, {"enabled": False}))
    for kind, res, create, update in kinds:
        create = dict(create, endpoint_id=int(hook["id"]))
        n0 = len(ok(f"{kind} subscriptions.list", list(res.list())))
        sub = ok(f"{kind} subscriptions.create", res.create(create))
        check(is_int64_str(sub.get("id")), f"{kind} subscription create returned {sub}")
        check((sub.get("webhook") or {}).get("id") == hook["id"], f"{kind} subscription is not tied to webhook {hook['id']}: {sub}")
        n1 = len(ok(f"{kind} subscriptions.list (after create)", list(res.list())))
        check(n1 == n0 + 1, f"{kind} subscription count {n0} -> {n1}")
        check(ok(f"{kind} subscriptions.get", res.get(int(sub["id"])))["id"] == sub["id"], f"{kind} get id mismatch")
        u = ok(f"{kind} subscriptions.partial_update", res.partial_update(sub["id"], update))
        for k, v in update.items():
            check(u.get(k, False if v is False else None) == v, f"{kind} update {k}: sent {v!r}, got {u.get(k)!r}")
        d = ok(f"{kind} subscriptions.delete", res.delete(int(sub["id"])))
        check(d.get("id") == sub["id"], f"{kind} delete returned {d}")
        n2 = len(ok(f"{kind} subscriptions.list (after delete)", list(res.list())))
        check(n2 == n0, f"{kind} subscription count {n2} after delete, expected {n0}")

    d = ok("webhooks.delete", dp.webhooks.delete(int(hook["id"])))
    check(d.get("id") == hook["id"], f"webhooks.delete returned {d}")
    final = ok("webhooks.list (after delete)", list(dp.webhooks.list()))
    check(len(final) == len(before), "webhook count did not shrink back")


def user_devices(user_ids):
    found = None
    for uid in user_ids:
        devs = ok("user_devices.list", list(dp.user_devices.list(user_id=int(uid))))
        check(all(d.get("user_id") == uid for d in devs), f"user_devices.list(user_id={uid}) returned others' devices")
        if devs:
            found = devs[0]
            break
    check(found is not None, "no user has a device")
    got = ok("user_devices.get", dp.user_devices.get(found["id"]))
    check(got["id"] == found["id"], "user_devices.get id mismatch")


def main():
    try:
        ids = users()
        contacts(ids)
        offices()
        calls(ids)
        channels(ids)
        webhooks_and_subscriptions()
        user_devices(ids)
    except Exception as e:  # noqa: BLE001 - report any failure with the step it followed
        resp = getattr(e, "response", None)
        detail = ""
        if resp is not None:
            req = resp.request
            detail = f"\n  request: {req.method} {req.url}\n  body sent: {req.body!r}\n  status: {resp.status_code}\n  body: {resp.text[:1000]}"
        print(f"FAILED after {calls_ok} ok calls (last ok step: {step}): {type(e).__name__}: {e}{detail}", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    print(f"python-dialpad 3.2.0 scenario: {calls_ok} calls ok")


main()
