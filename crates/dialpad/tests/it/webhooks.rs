//! Webhooks CRUD.

use dialpad::webhooks::WebhookRequest;
use dialpad::ExposeSecret;
use futures::TryStreamExt;

use crate::helpers::{assert_api, spawn, TestSim};

pub async fn scenario(t: &TestSim) {
    let c = &t.client;
    let before: Vec<_> = c.webhooks().list().stream().try_collect().await.unwrap();

    let plain = c
        .webhooks()
        .create(&WebhookRequest::new("https://hooks.example.com/plain"))
        .await
        .expect("create");
    let plain_id = plain.id.expect("id");
    assert_eq!(
        plain.hook_url.as_deref(),
        Some("https://hooks.example.com/plain")
    );
    assert!(plain.signature.is_none(), "no secret, no signature");

    let signed = c
        .webhooks()
        .create(
            &WebhookRequest::new("https://hooks.example.com/signed").secret("s3cret".to_owned()),
        )
        .await
        .expect("create signed");
    let signed_id = signed.id.expect("id");
    let sig = signed.signature.clone().expect("signature");
    assert_eq!(sig.algo.as_deref(), Some("HS256"));
    assert_eq!(sig.signature_type.as_deref(), Some("jwt"));
    assert_eq!(
        sig.secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned())
            .as_deref(),
        Some("s3cret")
    );
    assert!(
        !format!("{signed:?}").contains("s3cret"),
        "secret leaked in Debug"
    );

    let got = c.webhooks().get(signed_id).await.expect("get");
    assert_eq!(got.hook_url, signed.hook_url);
    assert_eq!(got.id, Some(signed_id));

    let listed: Vec<_> = c.webhooks().list().stream().try_collect().await.unwrap();
    assert_eq!(listed.len(), before.len() + 2);
    assert!(listed.iter().any(|w| w.id == Some(plain_id)));

    let updated = c
        .webhooks()
        .update(
            plain_id,
            &WebhookRequest::new("https://hooks.example.com/moved"),
        )
        .await
        .expect("update");
    assert_eq!(
        updated.hook_url.as_deref(),
        Some("https://hooks.example.com/moved")
    );
    let upd_secret = WebhookRequest {
        hook_url: None,
        secret: Some("other".to_owned().into()),
    };
    let resigned = c
        .webhooks()
        .update(plain_id, &upd_secret)
        .await
        .expect("update secret");
    assert_eq!(
        resigned.hook_url.as_deref(),
        Some("https://hooks.example.com/moved")
    );
    assert!(resigned.signature.is_some());
    assert_eq!(
        c.webhooks()
            .get(plain_id)
            .await
            .unwrap()
            .hook_url
            .as_deref(),
        Some("https://hooks.example.com/moved")
    );

    let deleted = c.webhooks().delete(plain_id).await.expect("delete");
    assert_eq!(deleted.id, Some(plain_id));
    assert_api(
        &c.webhooks().get(plain_id).await.unwrap_err(),
        404,
        "notFound",
    );
    let listed: Vec<_> = c.webhooks().list().stream().try_collect().await.unwrap();
    assert!(!listed.iter().any(|w| w.id == Some(plain_id)));
    c.webhooks().delete(signed_id).await.expect("delete signed");

    let msg = assert_api(
        &c.webhooks()
            .create(&WebhookRequest::new("ftp://nope"))
            .await
            .unwrap_err(),
        400,
        "badRequest",
    );
    assert!(msg.contains("hook_url"), "{msg}");
}

#[tokio::test]
async fn webhooks_round_trip() {
    let t = spawn().await;
    scenario(&t).await;
}
