//! Transcripts (get, url) and AI recaps.

use dialpad::calls::SummaryFormat;
use dialpad::transcripts::TranscriptLineType;

use crate::helpers::{assert_api, spawn, TestSim};

pub async fn scenario(t: &TestSim) {
    let c = &t.client;
    let (call_id, lines, untranscribed) = {
        let db = t.handle.sim.db().read();
        let (id, tr) = db.transcripts.iter().next().expect("a seeded transcript");
        let untranscribed = db
            .calls
            .keys()
            .copied()
            .find(|k| !db.transcripts.contains_key(k))
            .expect("a call without transcript");
        (*id, tr.lines.len(), untranscribed)
    };

    let tr = c.transcripts().get(call_id).await.expect("transcript");
    assert_eq!(tr.call_id, Some(call_id));
    assert_eq!(tr.lines.len(), lines);
    assert!(tr
        .lines
        .iter()
        .all(|l| l.time.is_some() && l.content.is_some()));
    assert!(tr
        .lines
        .iter()
        .any(|l| l.line_type == Some(TranscriptLineType::Transcript)));

    let url = c.transcripts().url(call_id).await.expect("transcript url");
    assert_eq!(url.call_id, Some(call_id));
    assert!(url
        .url
        .as_deref()
        .is_some_and(|u| u.contains(&call_id.to_string())));

    let recap = c.calls().ai_recap(call_id, None).await.expect("recap");
    assert_eq!(recap.call_id.as_deref(), Some(call_id.to_string().as_str()));
    let summary = recap.summary.expect("summary");
    assert_eq!(summary.format.as_deref(), Some("medium"));
    assert!(summary.content.as_deref().is_some_and(|s| !s.is_empty()));
    assert!(!recap.purposes.is_empty());
    assert!(recap.date_created.is_some());
    let short = c
        .calls()
        .ai_recap(call_id, Some(SummaryFormat::Short))
        .await
        .expect("short recap");
    assert_eq!(
        short.summary.and_then(|s| s.format).as_deref(),
        Some("short")
    );

    assert_api(
        &c.transcripts().get(untranscribed).await.unwrap_err(),
        404,
        "notFound",
    );
    assert_api(
        &c.transcripts().url(untranscribed).await.unwrap_err(),
        404,
        "notFound",
    );
}

#[tokio::test]
async fn transcripts_and_recap_round_trip() {
    let t = spawn().await;
    scenario(&t).await;
}

#[tokio::test]
async fn ai_recap_needs_its_scope() {
    let t = spawn().await;
    let call_id = *t.handle.sim.db().read().transcripts.keys().next().unwrap();
    let oauth = t.oauth_client("calls:list").await;
    let err = oauth.calls().ai_recap(call_id, None).await.unwrap_err();
    assert_api(&err, 403, "forbidden");
}
