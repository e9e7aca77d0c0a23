//! The events store: endpoints and their secrets, intakes, raw events, and the outbox's claims,
//! leases, ordering and replay, on every backend.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use dpc_store::events::*;
use dpc_store::Store;
use secrecy::{ExposeSecret as _, SecretString};

use super::{grant, new_conn, TestDb};

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn endpoint(url: &str, events: &[&str]) -> NewEndpoint {
    NewEndpoint {
        url: url.into(),
        events: events.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn event(event_type: &str, owner: &str, resource: &str) -> NewEvent {
    NewEvent {
        id: NewEvent::new_id(),
        event_type: event_type.into(),
        connector_id: "dialpad".into(),
        owner_id: owner.into(),
        model: event_type.split("::").next().unwrap().into(),
        resource_id: resource.into(),
        source: "webhook".into(),
        body: format!("{{\"event\":\"{event_type}\",\"id\":\"{resource}\"}}"),
        occurred_at: now_ms(),
    }
}

/// `n` contacts' creates for owner `o1` (`k0`, `k1`, …).
fn contact_creates(n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|i| event("genericContact::created", "o1", &format!("k{i}")))
        .collect()
}

fn ok(code: u16) -> AttemptResult {
    AttemptResult {
        status_code: Some(code),
        duration_ms: 3,
        error: None,
        response: Some("ok".into()),
    }
}

fn settle(d: &DueDelivery, result: AttemptResult, s: Settle) -> Settlement {
    Settlement {
        delivery_id: d.id.clone(),
        attempt: d.attempt,
        result,
        settle: s,
    }
}

pub async fn endpoints_crud_secrets_and_rotation(db: TestDb) {
    let s = db.store().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut n = endpoint(&format!("https://example.com/hook/{i}"), &["*"]);
        n.owner_id = (i == 0).then(|| "owner-a".to_owned());
        n.description = Some(format!("endpoint {i}"));
        let e = s
            .create_endpoint(&n, &secret(&format!("whsec_secret{i}")))
            .await
            .unwrap();
        assert!(e.id.starts_with("ep_"));
        assert_eq!(e.owner_id.as_deref(), (i == 0).then_some("owner-a"));
        ids.push(e.id);
    }
    // Pages of 2 to the end, each once.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = s.list_endpoints(cursor.as_deref(), 2).await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.into_iter().map(|e| e.id));
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    assert!(matches!(
        s.list_endpoints(Some("garbage!"), 2).await,
        Err(dpc_store::StoreError::NotFound)
    ));

    // A patch changes only what it names; Some(None) clears.
    let e = s
        .update_endpoint(
            &ids[0],
            &EndpointPatch {
                owner_id: Some(None),
                events: Some(vec!["telephonyCall::created".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(e.owner_id, None);
    assert_eq!(e.events, vec!["telephonyCall::created"]);
    assert_eq!(e.description.as_deref(), Some("endpoint 0"));
    assert_eq!(e.url, "https://example.com/hook/0");
    assert!(matches!(
        s.update_endpoint("ep_nope", &EndpointPatch::default())
            .await,
        Err(dpc_store::StoreError::NotFound)
    ));

    // Secrets: current only, then current + previous after a rotation, previous gone after
    // its time.
    let sec = s.endpoint_secrets(&ids[1]).await.unwrap().unwrap();
    assert_eq!(sec.current.expose_secret(), "whsec_secret1");
    assert!(sec.previous.is_none());
    s.rotate_endpoint_secret(&ids[1], &secret("whsec_new"), now_ms() + 60_000)
        .await
        .unwrap();
    let sec = s.endpoint_secrets(&ids[1]).await.unwrap().unwrap();
    assert_eq!(sec.current.expose_secret(), "whsec_new");
    assert_eq!(sec.previous.unwrap().expose_secret(), "whsec_secret1");
    s.rotate_endpoint_secret(&ids[1], &secret("whsec_newer"), now_ms() - 1)
        .await
        .unwrap();
    let sec = s.endpoint_secrets(&ids[1]).await.unwrap().unwrap();
    assert_eq!(sec.current.expose_secret(), "whsec_newer");
    assert!(
        sec.previous.is_none(),
        "an expired previous secret no longer signs"
    );
    assert!(format!("{sec:?}").find("whsec").is_none());

    // Disabled with a reason; enabling clears it and the failing run.
    assert_eq!(
        s.mark_endpoint_failing(&ids[2], Some(1000)).await.unwrap(),
        Some(1000)
    );
    assert_eq!(
        s.mark_endpoint_failing(&ids[2], Some(5000)).await.unwrap(),
        Some(1000),
        "the run's start is kept"
    );
    s.disable_endpoint(&ids[2], "answered 410 Gone")
        .await
        .unwrap();
    let e = s.get_endpoint(&ids[2]).await.unwrap().unwrap();
    assert!(e.disabled);
    assert_eq!(e.disabled_reason.as_deref(), Some("answered 410 Gone"));
    assert_eq!(
        s.subscribed_endpoints().await.unwrap().len(),
        5,
        "paused ones too"
    );
    let e = s
        .update_endpoint(
            &ids[2],
            &EndpointPatch {
                disabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!e.disabled);
    assert_eq!(e.disabled_reason, None);
    assert_eq!(e.failing_since, None);

    assert!(s.delete_endpoint(&ids[3]).await.unwrap());
    assert!(!s.delete_endpoint(&ids[3]).await.unwrap());
    assert!(s.get_endpoint(&ids[3]).await.unwrap().is_none());
}

pub async fn outbox_keeps_order_per_resource_and_settles(db: TestDb) {
    let s = db.store().await;
    let ep = s
        .create_endpoint(&endpoint("https://a.example/h", &["*"]), &secret("whsec_a"))
        .await
        .unwrap();
    let only_calls = s
        .create_endpoint(
            &endpoint("https://b.example/h", &["telephonyCall::created"]),
            &secret("whsec_b"),
        )
        .await
        .unwrap();
    let e1 = event("telephonyCall::created", "o1", "c1");
    let e2 = event("telephonyCall::updated", "o1", "c1");
    let e3 = event("genericContact::created", "o1", "k1");
    assert_eq!(
        s.publish_events(&[e1.clone(), e2.clone(), e3.clone()])
            .await
            .unwrap(),
        4,
        "three to the catch-all, one to the calls endpoint"
    );
    let due = s.claim_deliveries(10, 10, 30_000).await.unwrap();
    let got: HashSet<(String, String)> = due
        .iter()
        .map(|d| (d.event_id.clone(), d.endpoint_id.clone()))
        .collect();
    assert_eq!(
        got,
        HashSet::from([
            (e1.id.clone(), ep.id.clone()),
            (e3.id.clone(), ep.id.clone()),
            (e1.id.clone(), only_calls.id.clone()),
        ]),
        "the update waits for its create"
    );
    let d1 = due
        .iter()
        .find(|d| d.event_id == e1.id && d.endpoint_id == ep.id)
        .unwrap();
    assert_eq!(d1.attempt, 1);
    assert_eq!(d1.body, e1.body);
    assert_eq!(d1.url, "https://a.example/h");
    assert!(s.claim_deliveries(10, 10, 30_000).await.unwrap().is_empty());

    // The create fails once and is retried later: the update still waits.
    let later = now_ms() + 60_000;
    s.settle_deliveries(&[settle(d1, ok(500), Settle::RetryAt(later))])
        .await
        .unwrap();
    assert!(s.claim_deliveries(10, 10, 30_000).await.unwrap().is_empty());
    let rec = s.get_event(&e1.id).await.unwrap().unwrap();
    assert_eq!(rec.status, "pending");

    // Settle the others; replaying the create's event makes it due now.
    let rest: Vec<Settlement> = due
        .iter()
        .filter(|d| d.id != d1.id)
        .map(|d| settle(d, ok(200), Settle::Delivered))
        .collect();
    s.settle_deliveries(&rest).await.unwrap();
    // A lower bound, read from the due index: the update held behind the retry counts as due
    // now (the worker then waits for a settlement to wake it), never later than the retry.
    let at = s.next_due().await.unwrap().expect("something is pending");
    assert!(at <= later, "{at} > {later}");
    assert_eq!(
        s.get_event(&e3.id).await.unwrap().unwrap().status,
        "delivered"
    );
    // A pending delivery is not replayed (it is already due to go); give up on it instead.
    let again = s.claim_deliveries(10, 10, 30_000).await.unwrap();
    assert!(again.is_empty());
    s.replay_event(&e3.id).await.unwrap();
    let again = s.claim_deliveries(10, 10, 30_000).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event_id, e3.id);
    assert_eq!(
        again[0].attempt, 2,
        "a replay is another attempt of the same delivery"
    );
    s.settle_deliveries(&[settle(&again[0], ok(200), Settle::Delivered)])
        .await
        .unwrap();

    // Attempts are listed newest first, per endpoint and per event.
    let (atts, _) = s.list_attempts(None, Some(&e1.id), None, 10).await.unwrap();
    assert_eq!(atts.len(), 2);
    assert!(atts.iter().any(|a| a.status_code == Some(500)));
    let (atts, _) = s
        .list_attempts(Some(&only_calls.id), None, None, 10)
        .await
        .unwrap();
    assert_eq!(atts.len(), 1);
    assert!(matches!(
        s.replay_event("evt_nope").await,
        Err(dpc_store::StoreError::NotFound)
    ));

    // Given up on: it no longer holds the update back, and the endpoint replay brings it back.
    let deliveries = s.event_deliveries(&e1.id).await.unwrap();
    assert_eq!(deliveries.len(), 2);
    let stats = s.outbox_stats().await.unwrap();
    assert_eq!(
        stats.pending, 2,
        "the retried create and the waiting update"
    );
}

pub async fn failed_deliveries_release_the_next_and_replay(db: TestDb) {
    let s = db.store().await;
    let ep = s
        .create_endpoint(&endpoint("https://a.example/h", &["*"]), &secret("whsec_a"))
        .await
        .unwrap();
    let e1 = event("telephonyCall::created", "o1", "c1");
    let e2 = event("telephonyCall::updated", "o1", "c1");
    s.publish_events(&[e1.clone(), e2.clone()]).await.unwrap();
    let due = s.claim_deliveries(10, 10, 30_000).await.unwrap();
    assert_eq!(due.len(), 1);
    s.settle_deliveries(&[settle(&due[0], ok(500), Settle::Failed)])
        .await
        .unwrap();
    assert_eq!(s.get_event(&e1.id).await.unwrap().unwrap().status, "failed");
    let due = s.claim_deliveries(10, 10, 30_000).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].event_id, e2.id);
    s.settle_deliveries(&[settle(&due[0], ok(204), Settle::Delivered)])
        .await
        .unwrap();
    assert_eq!(s.outbox_stats().await.unwrap().failed, 1);
    assert_eq!(s.replay_endpoint(&ep.id, 0).await.unwrap(), 1);
    let due = s.claim_deliveries(10, 10, 30_000).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].event_id, e1.id);
    assert_eq!(due[0].attempt, 2);

    // Event listing: filters, status, cursor; newest first.
    let (all, next) = s
        .list_events(&EventFilter::default(), None, 1)
        .await
        .unwrap();
    assert_eq!(all[0].id, e2.id);
    let (rest, end) = s
        .list_events(&EventFilter::default(), next.as_deref(), 1)
        .await
        .unwrap();
    assert_eq!(rest[0].id, e1.id);
    assert!(end.is_none());
    let filter = EventFilter {
        event_type: Some("telephonyCall::updated".into()),
        status: Some("delivered".into()),
        ..Default::default()
    };
    let (only, _) = s.list_events(&filter, None, 10).await.unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].id, e2.id);
    let filter = EventFilter {
        owner_id: Some("someone-else".into()),
        ..Default::default()
    };
    assert!(s.list_events(&filter, None, 10).await.unwrap().0.is_empty());

    // Purge takes events with their deliveries and attempts.
    assert_eq!(s.purge_events(now_ms() + 1000).await.unwrap(), 2);
    assert!(s.get_event(&e1.id).await.unwrap().is_none());
    assert_eq!(s.outbox_stats().await.unwrap().pending, 0);
}

pub async fn expired_leases_are_claimed_again_and_stale_settlements_ignored(db: TestDb) {
    let s = db.store().await;
    s.create_endpoint(&endpoint("https://a.example/h", &["*"]), &secret("whsec_a"))
        .await
        .unwrap();
    let e = event("genericContact::created", "o1", "k1");
    s.publish_events(std::slice::from_ref(&e)).await.unwrap();
    let first = s.claim_deliveries(10, 10, 50).await.unwrap();
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let second = s.claim_deliveries(10, 10, 30_000).await.unwrap();
    assert_eq!(
        second.len(),
        1,
        "a worker that died leaves a lease that runs out"
    );
    assert_eq!(second[0].id, first[0].id);
    assert_eq!(second[0].attempt, 2);
    // The first worker finally answers: recorded, but the delivery is the second's.
    s.settle_deliveries(&[settle(&first[0], ok(500), Settle::Failed)])
        .await
        .unwrap();
    let d = &s.event_deliveries(&e.id).await.unwrap()[0];
    assert_eq!(d.status, "delivering");
    s.settle_deliveries(&[settle(&second[0], ok(200), Settle::Delivered)])
        .await
        .unwrap();
    let d = &s.event_deliveries(&e.id).await.unwrap()[0];
    assert_eq!(d.status, "delivered");
    let (atts, _) = s.list_attempts(None, Some(&e.id), None, 10).await.unwrap();
    assert_eq!(atts.len(), 2);
}

pub async fn per_endpoint_concurrency_is_bounded(db: TestDb) {
    let s = db.store().await;
    let slow = s
        .create_endpoint(
            &endpoint("https://slow.example/h", &["*"]),
            &secret("whsec_a"),
        )
        .await
        .unwrap();
    let events = contact_creates(20);
    s.publish_events(&events).await.unwrap();
    let a = s.claim_deliveries(100, 3, 30_000).await.unwrap();
    assert_eq!(a.len(), 3);
    assert!(a.iter().all(|d| d.endpoint_id == slow.id));
    assert!(
        s.claim_deliveries(100, 3, 30_000).await.unwrap().is_empty(),
        "three in flight already"
    );
    s.settle_deliveries(&[settle(&a[0], ok(200), Settle::Delivered)])
        .await
        .unwrap();
    assert_eq!(s.claim_deliveries(100, 3, 30_000).await.unwrap().len(), 1);
    // A disabled endpoint's deliveries wait (kept, not claimed).
    s.disable_endpoint(&slow.id, "failing").await.unwrap();
    assert!(s
        .claim_deliveries(100, 100, 30_000)
        .await
        .unwrap()
        .is_empty());
    // Kept, but not counted as waiting: they are not due until the endpoint is enabled.
    assert_eq!(s.outbox_stats().await.unwrap().pending, 0);
    assert_eq!(s.outbox_stats().await.unwrap().oldest_due_age_ms, 0);
    let kept = s.event_deliveries(&events[19].id).await.unwrap();
    assert_eq!(kept[0].status, "pending");
}

pub async fn an_endpoint_at_its_limit_does_not_starve_the_others(db: TestDb) {
    let s = db.store().await;
    let slow = s
        .create_endpoint(
            &endpoint("https://slow.example/h", &["genericContact::created"]),
            &secret("whsec_a"),
        )
        .await
        .unwrap();
    // The slow endpoint's backlog comes first in the due order, far more than a claim's
    // candidate window (4 × its limit).
    let backlog: Vec<NewEvent> = (0..200)
        .map(|i| event("genericContact::created", "o1", &format!("s{i}")))
        .collect();
    s.publish_events(&backlog).await.unwrap();
    let fast = s
        .create_endpoint(
            &endpoint("https://fast.example/h", &["genericUser::created"]),
            &secret("whsec_b"),
        )
        .await
        .unwrap();
    let later: Vec<NewEvent> = (0..5)
        .map(|i| event("genericUser::created", "o1", &format!("f{i}")))
        .collect();
    s.publish_events(&later).await.unwrap();
    let first = s.claim_deliveries(4, 2, 30_000).await.unwrap();
    assert_eq!(
        first.iter().filter(|d| d.endpoint_id == slow.id).count(),
        2,
        "the slow endpoint up to its limit"
    );
    // The slow endpoint is at its limit (its two still in flight): the next claims take the
    // fast endpoint's deliveries, though 198 of the slow one's come before them.
    let mut fast_got: Vec<DueDelivery> = first
        .into_iter()
        .filter(|d| d.endpoint_id == fast.id)
        .collect();
    for _ in 0..5 {
        let next = s.claim_deliveries(4, 2, 30_000).await.unwrap();
        assert!(
            next.iter().all(|d| d.endpoint_id == fast.id),
            "nothing more of the slow endpoint"
        );
        for d in &next {
            s.settle_deliveries(&[settle(d, ok(200), Settle::Delivered)])
                .await
                .unwrap();
        }
        fast_got.extend(next);
    }
    assert_eq!(fast_got.len(), 5, "every delivery of the fast endpoint");
}

pub async fn two_stores_never_claim_one_delivery_twice(db: TestDb) {
    let a = db.store().await;
    let b = db.store().await;
    for i in 0..3 {
        a.create_endpoint(
            &endpoint(&format!("https://{i}.example/h"), &["*"]),
            &secret("whsec_a"),
        )
        .await
        .unwrap();
    }
    let events = contact_creates(100);
    a.publish_events(&events).await.unwrap();
    let claim = |s: Arc<dyn Store>| async move {
        let mut mine = Vec::new();
        loop {
            let due = s.claim_deliveries(7, 1000, 30_000).await.unwrap();
            if due.is_empty() {
                break;
            }
            mine.extend(due.into_iter().map(|d| d.id));
        }
        mine
    };
    let (x, y) = tokio::join!(claim(a.clone()), claim(b.clone()));
    let all: HashSet<&String> = x.iter().chain(y.iter()).collect();
    assert_eq!(x.len() + y.len(), 300, "every delivery claimed");
    assert_eq!(all.len(), 300, "none twice");
}

pub async fn inbound_events_dedup_lease_and_publish_once(db: TestDb) {
    let s = db.store().await;
    let c1 = s
        .insert_connection(new_conn("dialpad", "o1"))
        .await
        .unwrap();
    let c2 = s
        .insert_connection(new_conn("dialpad", "o2"))
        .await
        .unwrap();
    s.create_endpoint(&endpoint("https://a.example/h", &["*"]), &secret("whsec_a"))
        .await
        .unwrap();
    fn ins<'a>(conn: &'a str, key: &'a str) -> NewInbound<'a> {
        NewInbound {
            connection_id: conn,
            dedup_key: key,
            kind: "call",
            payload: "{\"call_id\":1}",
            chain: None,
        }
    }
    let out = s
        .insert_inbound(&[
            ins(&c1.id, "1|ringing|1"),
            ins(&c1.id, "1|connected|2"),
            ins(&c1.id, "1|ringing|1"),
            ins(&c2.id, "1|ringing|1"),
        ])
        .await
        .unwrap();
    assert!(matches!(out[0], InboundOutcome::Stored(_)));
    assert!(matches!(out[1], InboundOutcome::Stored(_)));
    assert_eq!(out[2], InboundOutcome::Duplicate);
    assert!(
        matches!(out[3], InboundOutcome::Stored(_)),
        "keys are per connection"
    );
    assert_eq!(
        s.insert_inbound(&[ins(&c1.id, "1|connected|2")])
            .await
            .unwrap(),
        vec![InboundOutcome::Duplicate]
    );

    // Worker A takes c1's two events in order (and c2's); B finds nothing of c1 to take.
    let a = s.claim_inbound("A", 1, 30_000).await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].connection_id, c1.id);
    let b = s.claim_inbound("B", 10, 30_000).await.unwrap();
    assert!(
        b.iter().all(|e| e.connection_id == c2.id),
        "c1 is A's until A is done"
    );
    let a2 = s.claim_inbound("A", 10, 30_000).await.unwrap();
    assert_eq!(a2.len(), 1);
    assert_eq!(a2[0].connection_id, c1.id);

    let e = event("telephonyCall::created", "o1", "1");
    let made = s
        .finish_inbound("A", &[(a[0].id.clone(), vec![e.clone()])])
        .await
        .unwrap();
    assert_eq!(made, 1);
    // Finishing again (or by another worker) publishes nothing more.
    assert_eq!(
        s.finish_inbound(
            "A",
            &[(
                a[0].id.clone(),
                vec![event("telephonyCall::created", "o1", "1")]
            )]
        )
        .await
        .unwrap(),
        0
    );
    assert_eq!(
        s.finish_inbound(
            "B",
            &[(
                a2[0].id.clone(),
                vec![event("telephonyCall::updated", "o1", "1")]
            )]
        )
        .await
        .unwrap(),
        0
    );
    assert_eq!(
        s.resources_seen(
            "dialpad",
            "o1",
            "telephonyCall",
            &["1".into(), "404".into()]
        )
        .await
        .unwrap(),
        vec!["1".to_string()]
    );
    assert!(s
        .resources_seen("dialpad", "o2", "telephonyCall", &["1".into()])
        .await
        .unwrap()
        .is_empty());

    // A failure puts it back (or gives up).
    s.fail_inbound("A", &a2[0].id, "Dialpad was down", false)
        .await
        .unwrap();
    let again = s.claim_inbound("B", 10, 30_000).await.unwrap();
    assert!(again.iter().any(|e| e.id == a2[0].id && e.attempts == 2));
    s.fail_inbound("B", &a2[0].id, "still down", true)
        .await
        .unwrap();
    assert_eq!(s.outbox_stats().await.unwrap().inbound_pending, 1, "c2's");

    // Content-keyed events: the latest key of a chain, per connection, in arrival order.
    assert_eq!(
        s.latest_inbound_key(&c1.id, "contact:9:").await.unwrap(),
        None
    );
    fn contact<'a>(conn: &'a str, key: &'a str) -> NewInbound<'a> {
        NewInbound {
            connection_id: conn,
            dedup_key: key,
            kind: "contact",
            payload: "{}",
            chain: Some("contact:9:"),
        }
    }
    let (k1, k2) = (c1.id.as_str(), c2.id.as_str());
    s.insert_inbound(&[contact(k1, "contact:9:a:p1"), contact(k1, "contact:9:b:p2")])
        .await
        .unwrap();
    s.insert_inbound(&[contact(k2, "contact:9:c:p1")])
        .await
        .unwrap();
    assert_eq!(
        s.latest_inbound_key(&c1.id, "contact:9:")
            .await
            .unwrap()
            .as_deref(),
        Some("contact:9:b:p2")
    );
    assert_eq!(
        s.latest_inbound_key(&c2.id, "contact:9:")
            .await
            .unwrap()
            .as_deref(),
        Some("contact:9:c:p1")
    );
    assert_eq!(
        s.latest_inbound_key(&c1.id, "contact:8:").await.unwrap(),
        None
    );
    // Keys without a chain are not in one.
    assert_eq!(s.latest_inbound_key(&c1.id, "").await.unwrap(), None);
}

pub async fn intakes_route_secrets_and_cascade(db: TestDb) {
    let s = db.store().await;
    let c = s
        .insert_connection(new_conn("dialpad", "o1"))
        .await
        .unwrap();
    let token = "rt_0123456789abcdef";
    let i = s
        .create_intake(&NewIntake {
            connection_id: &c.id,
            mode: "webhook",
            route_token: token,
            secret: &secret("jwt-secret-1"),
        })
        .await
        .unwrap();
    assert_eq!(i.status, "pending");
    assert!(matches!(
        s.create_intake(&NewIntake {
            connection_id: &c.id,
            mode: "webhook",
            route_token: "other",
            secret: &secret("x"),
        })
        .await,
        Err(dpc_store::StoreError::Conflict)
    ));
    let found = s.intake_by_route(token).await.unwrap().unwrap();
    assert_eq!(found.connection_id, c.id);
    assert_eq!(found.secret.expose_secret(), "jwt-secret-1");
    assert!(s.intake_by_route("rt_wrong").await.unwrap().is_none());
    assert!(format!("{found:?}").find("jwt-secret").is_none());
    s.set_intake_remote(
        &c.id,
        &IntakeRemote {
            remote_id: Some("123".into()),
            subscriptions: "[{\"kind\":\"call\",\"id\":\"9\"}]".into(),
            status: "active".into(),
            last_error: None,
        },
    )
    .await
    .unwrap();
    let i = s.get_intake(&c.id).await.unwrap().unwrap();
    assert_eq!(i.remote_id.as_deref(), Some("123"));
    assert_eq!(i.status, "active");
    assert!(i.checked_at.is_some());
    assert_eq!(s.list_intakes().await.unwrap().len(), 1);
    s.delete_connection("dialpad", "o1").await.unwrap();
    assert!(
        s.get_intake(&c.id).await.unwrap().is_none(),
        "goes with its connection"
    );
    assert!(s.intake_by_route(token).await.unwrap().is_none());
}

pub async fn rotate_key_reseals_event_secrets(db: TestDb) {
    let old = db.store().await;
    let c = old
        .insert_connection(new_conn("dialpad", "o1"))
        .await
        .unwrap();
    let ep = old
        .create_endpoint(
            &endpoint("https://a.example/h", &["*"]),
            &secret("whsec_one"),
        )
        .await
        .unwrap();
    old.rotate_endpoint_secret(&ep.id, &secret("whsec_two"), now_ms() + 60_000)
        .await
        .unwrap();
    old.create_intake(&NewIntake {
        connection_id: &c.id,
        mode: "webhook",
        route_token: "rt_x",
        secret: &secret("jwt-secret"),
    })
    .await
    .unwrap();
    let new_key = dpc_store::Cipher::generate_key_base64();
    let both = db
        .store_with(dpc_store::Cipher::from_base64(&new_key, &[&db.key]).unwrap())
        .await;
    let mut total = 0;
    loop {
        let p = both.reseal_batch(1).await.unwrap();
        total += p.resealed;
        if p.remaining == 0 {
            break;
        }
    }
    assert!(total >= 3, "two endpoint secrets and the intake's: {total}");
    let only_new = db
        .store_with(dpc_store::Cipher::from_base64(&new_key, &[]).unwrap())
        .await;
    let s = only_new.endpoint_secrets(&ep.id).await.unwrap().unwrap();
    assert_eq!(s.current.expose_secret(), "whsec_two");
    assert_eq!(s.previous.unwrap().expose_secret(), "whsec_one");
    let i = only_new.intake_by_route("rt_x").await.unwrap().unwrap();
    assert_eq!(i.secret.expose_secret(), "jwt-secret");
}

pub async fn polls_claim_once_snapshot_and_publish(db: TestDb) {
    const MODELS: &[&str] = &["genericUser", "genericWorkspace"];
    let s = db.store().await;
    let other = db.store().await;
    let pending = s
        .insert_connection(new_conn("dialpad", "o0"))
        .await
        .unwrap();
    let c = s
        .insert_connection(new_conn("dialpad", "o1"))
        .await
        .unwrap();
    s.authorize(&c.id, &grant("tok", Some("u1"), &[]))
        .await
        .unwrap();
    s.create_endpoint(&endpoint("https://a.example/h", &["*"]), &secret("whsec_a"))
        .await
        .unwrap();

    // Only the authorized connection is polled, each model once, by one of two stores.
    let (a, b) = tokio::join!(
        s.claim_polls("w1", MODELS, 10, 60_000, true),
        other.claim_polls("w2", MODELS, 10, 60_000, true)
    );
    let mut claims: Vec<PollClaim> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    claims.sort_by(|x, y| x.model.cmp(&y.model));
    assert_eq!(claims.len(), 2, "{claims:?}");
    assert!(claims
        .iter()
        .all(|p| p.connection_id == c.id && !p.baselined));
    assert!(claims.iter().all(|p| p.connection_id != pending.id));
    assert!(s
        .claim_polls("w3", MODELS, 10, 60_000, true)
        .await
        .unwrap()
        .is_empty());

    // Released by whichever worker holds it (the other's release is a no-op), then claimed
    // by w1.
    let users = claims.remove(0);
    assert_eq!(users.model, "genericUser");
    s.fail_poll("w1", &users, "x", 0).await.unwrap();
    s.fail_poll("w2", &users, "x", 0).await.unwrap();
    let users = s
        .claim_polls("w1", &["genericUser"], 1, 60_000, true)
        .await
        .unwrap()
        .remove(0);
    let mine = "w1";
    let rec = |fp: &str| SnapshotRecord {
        fingerprint: fp.into(),
        body: format!("{{\"fp\":\"{fp}\"}}"),
    };
    let baseline = vec![
        SnapshotChange {
            resource_id: "1".into(),
            seen: Some(rec("a")),
        },
        SnapshotChange {
            resource_id: "2".into(),
            seen: Some(rec("b")),
        },
    ];
    // Another worker cannot finish it.
    assert!(!s
        .finish_poll("w9", &users, &baseline, &[], now_ms())
        .await
        .unwrap());
    assert!(s
        .finish_poll(mine, &users, &baseline, &[], now_ms())
        .await
        .unwrap());
    let mut snap = s.poll_snapshot(&c.id, "genericUser").await.unwrap();
    snap.sort();
    assert_eq!(
        snap,
        vec![("1".into(), "a".into()), ("2".into(), "b".into())]
    );

    // Due again at once (next_at = now): baselined now; a change and a deletion publish events.
    let again = s
        .claim_polls("w1", &["genericUser"], 1, 60_000, true)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert!(again[0].baselined);
    let gone = s
        .snapshot_bodies(&c.id, "genericUser", &["2".into()])
        .await
        .unwrap();
    assert_eq!(gone, vec![("2".into(), "{\"fp\":\"b\"}".into())]);
    let changes = vec![
        SnapshotChange {
            resource_id: "1".into(),
            seen: Some(rec("a2")),
        },
        SnapshotChange {
            resource_id: "2".into(),
            seen: None,
        },
    ];
    let events = vec![
        event("genericUser::updated", "o1", "1"),
        event("genericUser::deleted", "o1", "2"),
    ];
    let later = now_ms() + 3_600_000;
    assert!(s
        .finish_poll("w1", &again[0], &changes, &events, later)
        .await
        .unwrap());
    assert_eq!(
        s.poll_snapshot(&c.id, "genericUser").await.unwrap(),
        vec![("1".into(), "a2".into())]
    );
    assert_eq!(s.outbox_stats().await.unwrap().pending, 2);
    assert!(s
        .claim_polls("w1", &["genericUser"], 1, 60_000, true)
        .await
        .unwrap()
        .is_empty());

    // A shorter interval brings the next poll forward; the status shows it.
    s.set_poll_interval(&c.id, MODELS, Some(1), 1)
        .await
        .unwrap();
    let st = s.poll_status(&c.id).await.unwrap();
    let u = st.iter().find(|p| p.model == "genericUser").unwrap();
    assert_eq!(u.interval_ms, Some(1));
    assert_eq!(u.records, 1);
    assert!(u.next_poll_at <= u.last_polled_at.unwrap() + 1);
    assert!(u.baselined_at.is_some());
    tokio::time::sleep(Duration::from_millis(5)).await;
    let due = s
        .claim_polls("w1", &["genericUser"], 1, 60_000, true)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].interval_ms, Some(1));

    // Nobody wants it: forgotten, so the next poll takes a fresh baseline.
    s.forget_poll("w1", &due[0], now_ms()).await.unwrap();
    assert!(s
        .poll_snapshot(&c.id, "genericUser")
        .await
        .unwrap()
        .is_empty());
    let fresh = s
        .claim_polls("w1", &["genericUser"], 1, 60_000, true)
        .await
        .unwrap();
    assert!(!fresh[0].baselined);
    s.fail_poll("w1", &fresh[0], "Dialpad said no", now_ms() + 1000)
        .await
        .unwrap();
    let st = s.poll_status(&c.id).await.unwrap();
    assert_eq!(
        st.iter()
            .find(|p| p.model == "genericUser")
            .unwrap()
            .last_error
            .as_deref(),
        Some("Dialpad said no")
    );

    // An expired lease is claimed again by someone else.
    let ws = s
        .claim_polls("w1", &["genericWorkspace"], 1, 60_000, true)
        .await
        .unwrap();
    assert!(ws.is_empty(), "still held from the first claim");
    s.set_poll_interval(&c.id, MODELS, None, 300_000)
        .await
        .unwrap();
    s.delete_connection("dialpad", "o1").await.unwrap();
    assert!(
        s.poll_status(&c.id).await.unwrap().is_empty(),
        "goes with the connection"
    );
    assert!(s
        .poll_snapshot(&c.id, "genericUser")
        .await
        .unwrap()
        .is_empty());
}

/// The retention purge deletes more than one slice (5,000 per transaction), each event with
/// its deliveries and their attempts, and leaves newer events alone.
pub async fn purge_goes_in_slices_and_takes_the_attempts(db: TestDb) {
    let s = db.store().await;
    s.create_endpoint(&endpoint("https://a.example/h", &["*"]), &secret("whsec_a"))
        .await
        .unwrap();
    let old = contact_creates(5_003);
    s.publish_events(&old).await.unwrap();
    let due = s.claim_deliveries(50, 100, 30_000).await.unwrap();
    assert_eq!(due.len(), 50);
    let done: Vec<Settlement> = due
        .iter()
        .map(|d| settle(d, ok(200), Settle::Delivered))
        .collect();
    s.settle_deliveries(&done).await.unwrap();
    let cutoff = now_ms() + 1;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let kept = event("genericContact::created", "o1", "new");
    s.publish_events(std::slice::from_ref(&kept)).await.unwrap();

    let (atts, _) = s
        .list_attempts(None, Some(&due[0].event_id), None, 10)
        .await
        .unwrap();
    assert_eq!(atts.len(), 1);
    assert_eq!(s.purge_events(cutoff).await.unwrap(), 5_003);
    let (atts, _) = s
        .list_attempts(None, Some(&due[0].event_id), None, 10)
        .await
        .unwrap();
    assert!(atts.is_empty(), "the attempts went with their deliveries");
    assert!(s.get_event(&old[0].id).await.unwrap().is_none());
    assert!(s.get_event(&old[5_002].id).await.unwrap().is_none());
    assert!(s
        .event_deliveries(&due[0].event_id)
        .await
        .unwrap()
        .is_empty());
    assert!(s.get_event(&kept.id).await.unwrap().is_some());
    assert_eq!(
        s.outbox_stats().await.unwrap().pending,
        1,
        "only the new one waits"
    );
    assert_eq!(s.purge_events(cutoff).await.unwrap(), 0);
}
