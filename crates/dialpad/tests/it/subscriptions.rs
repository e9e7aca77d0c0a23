//! Event subscriptions (call, sms, contact, agent_status, changelog): CRUD for each kind.

use dialpad::calls::CallState;
use dialpad::contacts::ContactType;
use dialpad::subscriptions::{
    AgentStatusEvents, AgentType, CallSubscriptionRequest, ChangelogSubscriptionRequest,
    ContactSubscriptionRequest, CreateAgentStatusSubscription, CreateSmsSubscription, SmsDirection,
    UpdateAgentStatusSubscription, UpdateSmsSubscription,
};
use dialpad::users::TargetType;
use dialpad::webhooks::WebhookRequest;
use futures::TryStreamExt;

use crate::helpers::{assert_api, some_user_id, spawn, TestSim};

pub async fn scenario(t: &TestSim) {
    let c = &t.client;
    let hook = c
        .webhooks()
        .create(&WebhookRequest::new("https://hooks.example.com/events"))
        .await
        .unwrap();
    let hook_id = hook.id.unwrap();
    let other_hook = c
        .webhooks()
        .create(&WebhookRequest::new("https://hooks.example.com/other"))
        .await
        .unwrap()
        .id
        .unwrap();
    let user_id = some_user_id(c).await;

    // Call events.
    let subs = c.call_subscriptions();
    let created = subs
        .create(&CallSubscriptionRequest {
            call_states: Some(vec![CallState::Ringing, CallState::Hangup]),
            enabled: Some(true),
            endpoint_id: Some(hook_id),
            group_calls_only: None,
            target_id: Some(user_id),
            target_type: Some(TargetType::User),
        })
        .await
        .expect("create call sub");
    let id = created.id.expect("id");
    assert_eq!(
        created.call_states,
        vec![CallState::Ringing, CallState::Hangup]
    );
    assert_eq!(created.enabled, Some(true));
    assert_eq!(created.target_id, Some(user_id));
    assert_eq!(created.target_type, Some(TargetType::User));
    assert_eq!(created.webhook.as_ref().and_then(|w| w.id), Some(hook_id));
    let got = subs.get(id).await.expect("get call sub");
    assert_eq!(got.call_states, created.call_states);
    assert_eq!(got.target_id, Some(user_id));
    let listed: Vec<_> = subs.list().stream().try_collect().await.unwrap();
    assert!(listed.iter().any(|s| s.id == Some(id)));
    let filtered: Vec<_> = subs
        .list()
        .target_id(user_id)
        .target_type(TargetType::User)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert!(filtered.iter().all(|s| s.target_id == Some(user_id)));
    assert!(filtered.iter().any(|s| s.id == Some(id)));
    let updated = subs
        .update(
            id,
            &CallSubscriptionRequest {
                enabled: Some(false),
                call_states: Some(vec![CallState::Connected]),
                endpoint_id: Some(other_hook),
                ..Default::default()
            },
        )
        .await
        .expect("update call sub");
    assert_eq!(updated.enabled, Some(false));
    assert_eq!(updated.call_states, vec![CallState::Connected]);
    assert_eq!(updated.webhook.and_then(|w| w.id), Some(other_hook));
    assert_eq!(subs.delete(id).await.expect("delete").id, Some(id));
    assert_api(&subs.get(id).await.unwrap_err(), 404, "notFound");

    // SMS events.
    let subs = c.sms_subscriptions();
    let mut body = CreateSmsSubscription::new(SmsDirection::Inbound, hook_id);
    body.include_internal = Some(true);
    let created = subs.create(&body).await.expect("create sms sub");
    let id = created.id.expect("id");
    assert_eq!(created.direction, Some(SmsDirection::Inbound));
    assert_eq!(created.include_internal, Some(true));
    assert_eq!(
        subs.get(id).await.unwrap().direction,
        Some(SmsDirection::Inbound)
    );
    let listed: Vec<_> = subs.list().stream().try_collect().await.unwrap();
    assert!(listed.iter().any(|s| s.id == Some(id)));
    let updated = subs
        .update(
            id,
            &UpdateSmsSubscription {
                direction: Some(SmsDirection::All),
                status: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("update sms sub");
    assert_eq!(updated.direction, Some(SmsDirection::All));
    assert_eq!(updated.status, Some(true));
    assert_eq!(updated.include_internal, Some(true), "unchanged field kept");
    subs.delete(id).await.expect("delete sms sub");
    assert_api(&subs.get(id).await.unwrap_err(), 404, "notFound");

    // Contact events.
    let subs = c.contact_subscriptions();
    let created = subs
        .create(&ContactSubscriptionRequest {
            contact_type: ContactType::Shared,
            enabled: Some(true),
            endpoint_id: Some(hook_id),
        })
        .await
        .expect("create contact sub");
    let id = created.id.expect("id");
    assert_eq!(created.contact_type, Some(ContactType::Shared));
    assert_eq!(
        subs.get(id).await.unwrap().contact_type,
        Some(ContactType::Shared)
    );
    assert!(subs
        .list()
        .send()
        .await
        .unwrap()
        .items
        .iter()
        .any(|s| s.id == Some(id)));
    let updated = subs
        .update(
            id,
            &ContactSubscriptionRequest {
                contact_type: ContactType::Local,
                enabled: Some(false),
                endpoint_id: None,
            },
        )
        .await
        .expect("update contact sub");
    assert_eq!(updated.contact_type, Some(ContactType::Local));
    assert_eq!(updated.enabled, Some(false));
    subs.delete(id).await.expect("delete contact sub");
    assert_api(&subs.get(id).await.unwrap_err(), 404, "notFound");

    // Agent status events (through the generic accessor).
    let subs = c.subscriptions::<AgentStatusEvents>();
    let created = subs
        .create(&CreateAgentStatusSubscription {
            agent_type: AgentType::Callcenter,
            enabled: Some(true),
            endpoint_id: Some(hook_id),
        })
        .await
        .expect("create agent status sub");
    let id = created.id.expect("id");
    assert_eq!(created.agent_type, Some(AgentType::Callcenter));
    assert_eq!(
        subs.get(id).await.unwrap().agent_type,
        Some(AgentType::Callcenter)
    );
    assert!(subs
        .list()
        .send()
        .await
        .unwrap()
        .items
        .iter()
        .any(|s| s.id == Some(id)));
    let updated = subs
        .update(
            id,
            &UpdateAgentStatusSubscription {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .expect("update agent status sub");
    assert_eq!(updated.enabled, Some(false));
    assert_eq!(
        c.agent_status_subscriptions().delete(id).await.unwrap().id,
        Some(id)
    );
    assert_api(&subs.get(id).await.unwrap_err(), 404, "notFound");

    // Change-log events.
    let subs = c.changelog_subscriptions();
    let created = subs
        .create(&ChangelogSubscriptionRequest {
            enabled: Some(true),
            endpoint_id: Some(hook_id),
        })
        .await
        .expect("create changelog sub");
    let id = created.id.expect("id");
    assert_eq!(created.enabled, Some(true));
    assert_eq!(created.webhook.as_ref().and_then(|w| w.id), Some(hook_id));
    assert_eq!(subs.get(id).await.unwrap().id, Some(id));
    assert!(subs
        .list()
        .send()
        .await
        .unwrap()
        .items
        .iter()
        .any(|s| s.id == Some(id)));
    let updated = subs
        .update(
            id,
            &ChangelogSubscriptionRequest {
                enabled: Some(false),
                endpoint_id: Some(other_hook),
            },
        )
        .await
        .expect("update changelog sub");
    assert_eq!(updated.enabled, Some(false));
    assert_eq!(updated.webhook.and_then(|w| w.id), Some(other_hook));
    subs.delete(id).await.expect("delete changelog sub");
    assert_api(&subs.get(id).await.unwrap_err(), 404, "notFound");
}

#[tokio::test]
async fn subscriptions_round_trip() {
    let t = spawn().await;
    scenario(&t).await;
}

#[tokio::test]
async fn subscription_to_unknown_webhook_is_rejected() {
    let t = spawn().await;
    let err = t
        .client
        .changelog_subscriptions()
        .create(&ChangelogSubscriptionRequest {
            enabled: Some(true),
            endpoint_id: Some(42),
        })
        .await
        .unwrap_err();
    let msg = assert_api(&err, 404, "notFound");
    assert!(msg.contains("Webhook"), "{msg}");
}
