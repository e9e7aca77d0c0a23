//! Coverage: every operation in `dialpad_sim::operations::all()` that the client implements was
//! exercised by a round trip. Each area's scenario runs on its own simulator and the per-operation
//! request counters (`"METHOD /path/{template}"`) are merged.

use std::collections::BTreeMap;

use crate::helpers::{spawn, TestSim};

/// Simulator operations the typed client has no method for (yet). Listed so that the check
/// fails for any *other* operation nobody exercised, including ones added later.
const NOT_IN_CLIENT: &[&str] = &[
    "webhook_channel_event_subscription.list",
    "webhook_channel_event_subscription.create",
    "webhook_channel_event_subscription.get",
    "webhook_channel_event_subscription.update",
    "webhook_channel_event_subscription.delete",
    "webhook_fax_event_subscription.list",
    "webhook_fax_event_subscription.create",
    "webhook_fax_event_subscription.get",
    "webhook_fax_event_subscription.update",
    "webhook_fax_event_subscription.delete",
    // The server's websocket intake reaches these with `Client::request`.
    "websockets.list",
    "websockets.create",
    "websockets.get",
    "websockets.update",
    "websockets.delete",
];

/// `/api/v2/call/{id}` and `/api/v2/call/{call_id}` name the same route.
fn normalize(method: &str, path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for ch in path.chars() {
        match ch {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(ch),
        }
    }
    format!(
        "{} {}",
        method.to_ascii_uppercase(),
        out.trim_end_matches('/')
    )
}

async fn merge(total: &mut BTreeMap<String, u64>, t: TestSim) {
    for (key, n) in t.requests() {
        let (method, path) = key.split_once(' ').expect("METHOD /path");
        *total.entry(normalize(method, path)).or_default() += n;
    }
}

#[tokio::test]
async fn every_client_operation_is_exercised() {
    let mut hits = BTreeMap::new();
    macro_rules! run {
        ($($area:ident),* $(,)?) => {$(
            let t = spawn().await;
            crate::$area::scenario(&t).await;
            merge(&mut hits, t).await;
        )*};
    }
    run!(
        actions,
        contacts,
        users,
        offices,
        calls,
        transcripts,
        channels,
        sms,
        webhooks,
        subscriptions,
        devices,
        oauth,
        raw
    );

    let ops = dialpad_sim::operations::all();
    for skip in NOT_IN_CLIENT {
        assert!(
            ops.iter().any(|o| o.operation_id == *skip),
            "NOT_IN_CLIENT names {skip}, which the simulator does not serve"
        );
    }
    let mut covered = Vec::new();
    let mut missing = Vec::new();
    for op in &ops {
        let key = normalize(op.method, op.path);
        let n = hits.get(&key).copied().unwrap_or(0);
        if n > 0 {
            covered.push(format!("{} ({key}: {n})", op.operation_id));
        } else if !NOT_IN_CLIENT.contains(&op.operation_id) {
            missing.push(format!("{} ({key})", op.operation_id));
        }
    }
    println!("covered {} of {} operations:", covered.len(), ops.len());
    for c in &covered {
        println!("  {c}");
    }
    println!("not in the client: {NOT_IN_CLIENT:?}");
    assert!(
        missing.is_empty(),
        "operations no round trip exercised: {missing:#?}"
    );
    assert!(covered.len() + NOT_IN_CLIENT.len() == ops.len());
}
