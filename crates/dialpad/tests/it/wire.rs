//! Wire format: int64 ids as JSON strings, omitted fields, cursor paging, page size cap and the
//! error envelope for 400/401/403/404.

use dialpad::contacts::CreateContact;
use dialpad::{Error, Method};
use futures::TryStreamExt;
use serde_json::Value;

use crate::helpers::{assert_api, spawn};

async fn raw_json(c: &dialpad::Client, path: &str) -> Value {
    let resp = c.raw(Method::GET, path).send().await.expect("raw");
    assert_eq!(resp.status().as_u16(), 200, "{path}");
    serde_json::from_slice(&resp.bytes().await.unwrap()).expect("json")
}

#[tokio::test]
async fn int64_ids_arrive_as_strings_and_decode_to_integers() {
    let t = spawn().await;
    let c = &t.client;

    let raw_users = raw_json(c, "/api/v2/users?limit=5").await;
    let typed = c.users().list().limit(5).send().await.unwrap();
    let raw_items = raw_users["items"].as_array().unwrap();
    assert_eq!(raw_items.len(), typed.items.len());
    for (raw, user) in raw_items.iter().zip(&typed.items) {
        let s = raw["id"].as_str().expect("user id is a JSON string");
        assert_eq!(s.parse::<i64>().unwrap(), user.id.unwrap());
        assert!(user.id.unwrap() >= 1 << 52, "16-digit Dialpad-style ids");
        let office = raw["office_id"]
            .as_str()
            .expect("office_id is a JSON string");
        assert_eq!(office.parse::<i64>().ok(), user.office_id);
    }

    let raw_company = raw_json(c, "/api/v2/company").await;
    let company = c.company().get().await.unwrap();
    assert_eq!(
        raw_company["id"]
            .as_str()
            .expect("company id string")
            .parse::<i64>()
            .ok(),
        company.id
    );

    let raw_calls = raw_json(c, "/api/v2/call?limit=3").await;
    let calls = c.calls().list().limit(3).send().await.unwrap();
    for (raw, call) in raw_calls["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&calls.items)
    {
        let id = raw["call_id"].as_str().expect("call_id string");
        assert_eq!(id.parse::<i64>().ok(), call.call_id);
        // Timestamps are epoch-millisecond strings too.
        let started = raw["date_started"].as_str().expect("date_started string");
        assert_eq!(
            started.parse::<i64>().ok(),
            call.date_started.map(|d| d.as_millis())
        );
    }
}

#[tokio::test]
async fn omitted_fields_decode_as_none_or_empty() {
    let t = spawn().await;
    let c = &t.client;
    let created = c
        .contacts()
        .create(&CreateContact::new("Bare", "Minimum"))
        .await
        .unwrap();
    let id = created.id.clone().unwrap();
    let raw = raw_json(c, &format!("/api/v2/contacts/{id}")).await;
    let obj = raw.as_object().unwrap();
    for absent in [
        "company_name",
        "emails",
        "phones",
        "urls",
        "primary_email",
        "owner_id",
        "job_title",
    ] {
        assert!(
            !obj.contains_key(absent),
            "{absent} should be omitted: {raw}"
        );
    }
    let got = c.contacts().get(&id).await.unwrap();
    assert_eq!(got.company_name, None);
    assert_eq!(got.primary_email, None);
    assert_eq!(got.owner_id, None);
    assert!(got.emails.is_empty() && got.phones.is_empty() && got.urls.is_empty());

    // A fresh call leg has no end, duration or labels on the wire.
    let user = crate::helpers::some_user_id(c).await;
    let rung = c
        .calls()
        .ring(&dialpad::calls::RingCall::new(user, "+14155550177"))
        .await
        .unwrap();
    let call_id = rung.call_id.unwrap();
    let raw = raw_json(c, &format!("/api/v2/call/{call_id}")).await;
    assert!(raw.get("date_ended").is_none() && raw.get("labels").is_none());
    let call = c.calls().get(call_id).await.unwrap();
    assert_eq!(call.date_ended, None);
    assert_eq!(call.duration, None);
    assert!(call.labels.is_empty() && call.recording_details.is_empty());
}

#[tokio::test]
async fn streaming_equals_paging_by_hand() {
    let t = spawn().await;
    let c = &t.client;
    let expected = t
        .handle
        .sim
        .db()
        .read()
        .users
        .values()
        .filter(|u| u.state != "deleted")
        .count();
    assert!(expected > 7, "need several pages");

    // By hand.
    let mut by_hand = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut req = c.users().list().limit(7);
        if let Some(cur) = cursor.take() {
            req = req.cursor(cur);
        }
        let page = req.send().await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 7);
        by_hand.extend(page.items);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(by_hand.len(), expected);
    assert_eq!(pages, expected.div_ceil(7));

    // Streamed: same items, same order, and it stops when the cursor is absent.
    let before = t.requests().get("GET /api/v2/users").copied().unwrap_or(0);
    let streamed: Vec<_> = c
        .users()
        .list()
        .limit(7)
        .stream()
        .try_collect()
        .await
        .unwrap();
    let used = t.requests()["GET /api/v2/users"] - before;
    assert_eq!(streamed, by_hand);
    assert_eq!(
        used as usize, pages,
        "one request per page, none after the last"
    );

    // The last page carries no cursor on the wire.
    let last_offset = (pages - 1) * 7;
    let mut cur = None;
    for _ in 0..pages - 1 {
        let mut req = c.users().list().limit(7);
        if let Some(x) = cur.take() {
            req = req.cursor(x);
        }
        cur = req.send().await.unwrap().cursor;
    }
    let raw = raw_json(c, &format!("/api/v2/users?limit=7&cursor={}", cur.unwrap())).await;
    assert!(raw.get("cursor").is_none(), "{raw}");
    assert_eq!(
        raw["items"].as_array().unwrap().len(),
        expected - last_offset
    );

    // A stream started from a cursor continues from there.
    let first = c.users().list().limit(7).send().await.unwrap();
    let rest: Vec<_> = c
        .users()
        .list()
        .limit(7)
        .cursor(first.cursor.clone().unwrap())
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(first.items.len() + rest.len(), expected);
    assert_eq!(rest[0], by_hand[7]);
}

#[tokio::test]
async fn limit_500_yields_pages_of_at_most_100() {
    let t = spawn().await;
    let c = &t.client;
    let total = t
        .handle
        .sim
        .db()
        .read()
        .calls
        .values()
        .filter(|x| x.date_ended.is_some())
        .count();
    assert!(total > 100);
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    let mut pages = Vec::new();
    loop {
        let mut req = c.calls().list().limit(500);
        if let Some(cur) = cursor.take() {
            req = req.cursor(cur);
        }
        let page = req.send().await.unwrap();
        pages.push(page.items.len());
        seen += page.items.len();
        match page.cursor {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert!(pages.iter().all(|&n| n <= 100), "{pages:?}");
    assert_eq!(pages[0], 100);
    assert_eq!(seen, total);
    let streamed = c
        .calls()
        .list()
        .limit(500)
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(streamed.len(), total);
}

#[tokio::test]
async fn error_envelopes_decode() {
    let t = spawn().await;
    let c = &t.client;

    // 400: a bad field, named in the message.
    let mut bad = CreateContact::new("Bad", "Number");
    bad.phones = vec!["not-a-number".into()];
    let err = c.contacts().create(&bad).await.unwrap_err();
    let msg = assert_api(&err, 400, "badRequest");
    assert!(msg.contains("phones"), "{msg}");
    assert!(!err.is_retryable());
    let err = c.users().list().limit(0).send().await.unwrap_err();
    assert!(assert_api(&err, 400, "badRequest").contains("limit"));
    match &err {
        Error::Api { body, .. } => {
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["error"]["code"], 400);
        }
        _ => unreachable!(),
    }

    // 401: a wrong key. The client reports 401s as `Error::Unauthorized`, with the envelope's
    // message and the body (whose reason is `unauthorized`).
    let err = t
        .client_with_key("wrong-key")
        .users()
        .list()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    match &err {
        Error::Unauthorized { message, body } => {
            assert!(message.contains("Invalid API key"), "{message}");
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["error"]["errors"][0]["reason"], "unauthorized");
            assert_eq!(v["error"]["code"], 401);
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(
        !format!("{err:?}").contains("wrong-key"),
        "key leaked into the error"
    );

    // 403: an OAuth token without `calls:list` listing calls.
    let oauth = t.oauth_client("offline_access").await;
    let err = oauth.calls().list().send().await.unwrap_err();
    let msg = assert_api(&err, 403, "forbidden");
    assert!(msg.contains("calls:list"), "{msg}");

    // 404.
    let err = c.contacts().get("missing").await.unwrap_err();
    let msg = assert_api(&err, 404, "notFound");
    assert_eq!(msg, "Contact not found");
    assert!(err.is_not_found());
    assert_eq!(err.reason(), Some("notFound"));
    // Path segments are encoded: a `/` in an id cannot reach another route.
    let err = c.contacts().get("a/b").await.unwrap_err();
    assert_api(&err, 404, "notFound");
}
