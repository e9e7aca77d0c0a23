//! SMS send.

use dialpad::calls::Direction;
use dialpad::sms::{MessageStatus, SendSms};

use crate::helpers::{assert_api, some_user_id, spawn, TestSim};

pub async fn scenario(t: &TestSim) {
    let c = &t.client;
    let user_id = some_user_id(c).await;
    let before = t.handle.sim.db().read().sms.len();

    let mut body = SendSms::text(
        vec!["+14155550144".into(), "+14155550145".into()],
        "hello from the integration tests",
    );
    body.user_id = Some(user_id);
    let sent = c.sms().send(&body).await.expect("send sms");
    assert!(sent.id.is_some());
    assert_eq!(
        sent.text.as_deref(),
        Some("hello from the integration tests")
    );
    assert_eq!(sent.to_numbers, vec!["+14155550144", "+14155550145"]);
    assert_eq!(sent.user_id, Some(user_id));
    assert_eq!(sent.direction, Some(Direction::Outbound));
    assert_eq!(sent.message_status, Some(MessageStatus::Pending));
    assert_eq!(sent.target_id, Some(user_id));
    assert!(sent.created_date.is_some());
    assert_eq!(t.handle.sim.db().read().sms.len(), before + 1);

    // MMS: media only.
    let mut mms = SendSms {
        to_numbers: vec!["+14155550146".into()],
        user_id: Some(user_id),
        ..Default::default()
    }
    .media_bytes(b"\x89PNG fake image");
    mms.text = None;
    let sent = c.sms().send(&mms).await.expect("send mms");
    assert_eq!(sent.to_numbers, vec!["+14155550146"]);

    // No recipients.
    let mut bad = SendSms::text(vec![], "nobody");
    bad.user_id = Some(user_id);
    let msg = assert_api(&c.sms().send(&bad).await.unwrap_err(), 400, "badRequest");
    assert!(msg.contains("to_numbers"), "{msg}");
}

#[tokio::test]
async fn sms_round_trip() {
    let t = spawn().await;
    scenario(&t).await;
}
