//! Event subscriptions: `/api/v2/subscriptions/{call,sms,contact,agent_status,changelog}`.
//!
//! One generic handler, [`Subscriptions<K>`], parameterised by a marker
//! type implementing [`SubscriptionKind`], so each kind keeps its own typed
//! models while sharing the CRUD code.

use std::marker::PhantomData;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::calls::{CallState, Direction};
use crate::client::{api, Client};
use crate::contacts::ContactType;
use crate::error::Result;
use crate::pagination::ListRequest;
use crate::users::TargetType;
use crate::webhooks::{Webhook, Websocket};
use crate::wire::{self, string_enum};

/// A kind of event subscription.
pub trait SubscriptionKind: Send + Sync + 'static {
    /// Path segment after `/api/v2/subscriptions/`.
    const PATH: &'static str;
    /// Subscription as returned by Dialpad.
    type Subscription: DeserializeOwned + Send + 'static;
    /// Create body.
    type Create: Serialize + Sync;
    /// Update (PATCH) body.
    type Update: Serialize + Sync;
}

macro_rules! kind {
    ($(#[$m:meta])* $name:ident, $path:literal, $sub:ty, $create:ty, $update:ty) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;
        impl SubscriptionKind for $name {
            const PATH: &'static str = $path;
            type Subscription = $sub;
            type Create = $create;
            type Update = $update;
        }
    };
}

kind!(/// Call events.
    CallEvents, "call", CallSubscription, CallSubscriptionRequest, CallSubscriptionRequest);
kind!(/// SMS events.
    SmsEvents, "sms", SmsSubscription, CreateSmsSubscription, UpdateSmsSubscription);
kind!(/// Contact change events.
    ContactEvents, "contact", ContactSubscription, ContactSubscriptionRequest, ContactSubscriptionRequest);
kind!(/// Call-center agent status events.
    AgentStatusEvents, "agent_status", AgentStatusSubscription, CreateAgentStatusSubscription, UpdateAgentStatusSubscription);
kind!(/// Change-log (user/office/… configuration change) events.
    ChangelogEvents, "changelog", ChangelogSubscription, ChangelogSubscriptionRequest, ChangelogSubscriptionRequest);

string_enum! {
    /// Which SMS directions a subscription covers.
    pub enum SmsDirection {
        All = "all",
        Inbound = "inbound",
        Outbound = "outbound",
    }
}

impl From<Direction> for SmsDirection {
    fn from(d: Direction) -> Self {
        SmsDirection::from(d.as_str())
    }
}

string_enum! {
    /// Agent type for agent-status subscriptions.
    pub enum AgentType {
        Callcenter = "callcenter",
    }
}

/// Call event subscription (`CallEventSubscriptionProto`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CallSubscription {
    #[serde(with = "wire::opt_int64")]
    pub id: Option<i64>,
    #[serde(deserialize_with = "wire::null_default")]
    pub call_states: Vec<CallState>,
    pub enabled: Option<bool>,
    pub group_calls_only: Option<bool>,
    #[serde(with = "wire::opt_int64")]
    pub target_id: Option<i64>,
    pub target_type: Option<TargetType>,
    pub webhook: Option<Webhook>,
    pub websocket: Option<Websocket>,
}

/// Create/update body for call subscriptions (the spec uses the same fields
/// for both, all optional). `endpoint_id` is a webhook or websocket id.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallSubscriptionRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_states: Option<Vec<CallState>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_calls_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
}

/// SMS event subscription (`SmsEventSubscriptionProto`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct SmsSubscription {
    #[serde(with = "wire::opt_int64")]
    pub id: Option<i64>,
    pub direction: Option<SmsDirection>,
    pub enabled: Option<bool>,
    pub include_internal: Option<bool>,
    /// Also deliver message status updates.
    pub status: Option<bool>,
    #[serde(with = "wire::opt_int64")]
    pub target_id: Option<i64>,
    pub target_type: Option<TargetType>,
    pub webhook: Option<Webhook>,
    pub websocket: Option<Websocket>,
}

/// Create body for SMS subscriptions (`direction` is required).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateSmsSubscription {
    pub direction: SmsDirection,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_internal: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
}

impl CreateSmsSubscription {
    pub fn new(direction: SmsDirection, endpoint_id: i64) -> Self {
        CreateSmsSubscription {
            direction,
            endpoint_id: Some(endpoint_id),
            enabled: None,
            include_internal: None,
            status: None,
            target_id: None,
            target_type: None,
        }
    }
}

/// Update body for SMS subscriptions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpdateSmsSubscription {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<SmsDirection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_internal: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
}

/// Contact event subscription (`ContactEventSubscriptionProto`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ContactSubscription {
    #[serde(with = "wire::opt_int64")]
    pub id: Option<i64>,
    pub contact_type: Option<ContactType>,
    pub enabled: Option<bool>,
    pub webhook: Option<Webhook>,
    pub websocket: Option<Websocket>,
}

/// Create/update body for contact subscriptions (`contact_type` required in both).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactSubscriptionRequest {
    pub contact_type: ContactType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<i64>,
}

/// Agent status event subscription (`AgentStatusEventSubscriptionProto`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AgentStatusSubscription {
    #[serde(with = "wire::opt_int64")]
    pub id: Option<i64>,
    pub agent_type: Option<AgentType>,
    pub enabled: Option<bool>,
    pub webhook: Option<Webhook>,
    pub websocket: Option<Websocket>,
}

/// Create body for agent status subscriptions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateAgentStatusSubscription {
    pub agent_type: AgentType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<i64>,
}

/// Update body for agent status subscriptions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpdateAgentStatusSubscription {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<AgentType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<i64>,
}

/// Change-log event subscription (`ChangeLogEventSubscriptionProto`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ChangelogSubscription {
    #[serde(with = "wire::opt_int64")]
    pub id: Option<i64>,
    pub enabled: Option<bool>,
    pub webhook: Option<Webhook>,
    pub websocket: Option<Websocket>,
}

/// Create/update body for change-log subscriptions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChangelogSubscriptionRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<i64>,
}

/// CRUD handler for one subscription kind; from [`Client::subscriptions`]
/// or the per-kind shortcuts such as [`Client::call_subscriptions`].
#[derive(Debug)]
pub struct Subscriptions<'c, K> {
    client: &'c Client,
    _kind: PhantomData<K>,
}

impl<K: SubscriptionKind> Subscriptions<'_, K> {
    /// `GET /api/v2/subscriptions/{kind}`.
    pub fn list(&self) -> ListRequest<K::Subscription> {
        ListRequest::new(self.client, api(Method::GET, &["subscriptions", K::PATH]))
    }

    /// `POST /api/v2/subscriptions/{kind}`.
    pub async fn create(&self, body: &K::Create) -> Result<K::Subscription> {
        self.client
            .json(api(Method::POST, &["subscriptions", K::PATH]).json(body)?)
            .await
    }

    /// `GET /api/v2/subscriptions/{kind}/{id}`.
    pub async fn get(&self, id: i64) -> Result<K::Subscription> {
        let id = id.to_string();
        self.client
            .json(api(Method::GET, &["subscriptions", K::PATH, &id]))
            .await
    }

    /// `PATCH /api/v2/subscriptions/{kind}/{id}`.
    pub async fn update(&self, id: i64, body: &K::Update) -> Result<K::Subscription> {
        let id = id.to_string();
        self.client
            .json(api(Method::PATCH, &["subscriptions", K::PATH, &id]).json(body)?)
            .await
    }

    /// `DELETE /api/v2/subscriptions/{kind}/{id}`; returns the deleted subscription.
    pub async fn delete(&self, id: i64) -> Result<K::Subscription> {
        let id = id.to_string();
        self.client
            .json(api(Method::DELETE, &["subscriptions", K::PATH, &id]))
            .await
    }
}

impl Client {
    /// Event subscriptions of kind `K`, e.g. `client.subscriptions::<CallEvents>()`.
    pub fn subscriptions<K: SubscriptionKind>(&self) -> Subscriptions<'_, K> {
        Subscriptions {
            client: self,
            _kind: PhantomData,
        }
    }

    /// `/api/v2/subscriptions/call`.
    pub fn call_subscriptions(&self) -> Subscriptions<'_, CallEvents> {
        self.subscriptions()
    }

    /// `/api/v2/subscriptions/sms`.
    pub fn sms_subscriptions(&self) -> Subscriptions<'_, SmsEvents> {
        self.subscriptions()
    }

    /// `/api/v2/subscriptions/contact`.
    pub fn contact_subscriptions(&self) -> Subscriptions<'_, ContactEvents> {
        self.subscriptions()
    }

    /// `/api/v2/subscriptions/agent_status`.
    pub fn agent_status_subscriptions(&self) -> Subscriptions<'_, AgentStatusEvents> {
        self.subscriptions()
    }

    /// `/api/v2/subscriptions/changelog`.
    pub fn changelog_subscriptions(&self) -> Subscriptions<'_, ChangelogEvents> {
        self.subscriptions()
    }
}

impl ListRequest<CallSubscription> {
    /// Only subscriptions for this target id.
    pub fn target_id(self, id: i64) -> Self {
        self.param("target_id", id)
    }

    /// Only subscriptions for this target type.
    pub fn target_type(self, t: TargetType) -> Self {
        self.param("target_type", t)
    }
}

impl ListRequest<SmsSubscription> {
    /// Only subscriptions for this target id.
    pub fn target_id(self, id: i64) -> Self {
        self.param("target_id", id)
    }

    /// Only subscriptions for this target type.
    pub fn target_type(self, t: TargetType) -> Self {
        self.param("target_type", t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_subscription_decodes() {
        let s: CallSubscription = serde_json::from_str(
            r#"{"id":"5","call_states":["ringing","hangup","levitating"],"enabled":true,
                "target_type":"office","target_id":"6",
                "webhook":{"id":"9","hook_url":"https://x.test","signature":null},"websocket":null}"#,
        )
        .unwrap();
        assert_eq!(s.id, Some(5));
        assert_eq!(
            s.call_states,
            vec![
                CallState::Ringing,
                CallState::Hangup,
                CallState::Unknown("levitating".into())
            ]
        );
        assert_eq!(s.webhook.unwrap().id, Some(9));
        assert_eq!(s.target_type, Some(TargetType::Office));
    }

    #[test]
    fn bodies() {
        let b = CreateSmsSubscription::new(SmsDirection::Inbound, 9);
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            serde_json::json!({"direction":"inbound","endpoint_id":9})
        );
        let b = ContactSubscriptionRequest {
            contact_type: ContactType::Shared,
            enabled: Some(true),
            endpoint_id: None,
        };
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            serde_json::json!({"contact_type":"shared","enabled":true})
        );
        assert_eq!(
            <AgentStatusEvents as SubscriptionKind>::PATH,
            "agent_status"
        );
    }
}
