//! Channels (team chat): `/api/v2/channels`.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{api, Client};
use crate::error::Result;
use crate::pagination::ListRequest;
use crate::wire::{self, string_enum};

string_enum! {
    /// Visibility of a channel.
    pub enum PrivacyType {
        Private = "private",
        Public = "public",
    }
}

/// A channel (`ChannelProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Channel {
    #[serde(with = "wire::opt_int64")]
    pub id: Option<i64>,
    pub name: Option<String>,
}

/// A channel member (`MembersProto`): the user's id and name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ChannelMember {
    #[serde(with = "wire::opt_int64")]
    pub id: Option<i64>,
    pub name: Option<String>,
}

/// Body of `POST /api/v2/channels` (`CreateChannelMessage`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateChannel {
    pub name: String,
    pub description: String,
    pub privacy_type: PrivacyType,
    /// Creator/owner; defaults to the API key's user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
}

impl CreateChannel {
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        privacy: PrivacyType,
    ) -> Self {
        CreateChannel {
            name: name.into(),
            description: description.into(),
            privacy_type: privacy,
            user_id: None,
        }
    }
}

#[derive(Serialize)]
struct MemberBody {
    user_id: i64,
}

/// Handler for channels; from [`Client::channels`].
#[derive(Debug, Clone, Copy)]
pub struct Channels<'c> {
    pub(crate) client: &'c Client,
}

impl Channels<'_> {
    /// `GET /api/v2/channels`.
    pub fn list(&self) -> ListRequest<Channel> {
        ListRequest::new(self.client, api(Method::GET, &["channels"]))
    }

    /// `POST /api/v2/channels`.
    pub async fn create(&self, body: &CreateChannel) -> Result<Channel> {
        self.client
            .json(api(Method::POST, &["channels"]).json(body)?)
            .await
    }

    /// `GET /api/v2/channels/{id}`.
    pub async fn get(&self, id: i64) -> Result<Channel> {
        let id = id.to_string();
        self.client.json(api(Method::GET, &["channels", &id])).await
    }

    /// `DELETE /api/v2/channels/{id}`.
    pub async fn delete(&self, id: i64) -> Result<()> {
        let id = id.to_string();
        self.client
            .empty(api(Method::DELETE, &["channels", &id]))
            .await
    }

    /// `GET /api/v2/channels/{id}/members`.
    pub fn members(&self, channel_id: i64) -> ListRequest<ChannelMember> {
        let id = channel_id.to_string();
        ListRequest::new(self.client, api(Method::GET, &["channels", &id, "members"]))
    }

    /// `POST /api/v2/channels/{id}/members`.
    pub async fn add_member(&self, channel_id: i64, user_id: i64) -> Result<ChannelMember> {
        let id = channel_id.to_string();
        self.client
            .json(api(Method::POST, &["channels", &id, "members"]).json(&MemberBody { user_id })?)
            .await
    }

    /// `DELETE /api/v2/channels/{id}/members`. The spec puts `user_id` in a
    /// JSON request body (not the query), so that is what is sent.
    pub async fn remove_member(&self, channel_id: i64, user_id: i64) -> Result<()> {
        let id = channel_id.to_string();
        self.client
            .empty(
                api(Method::DELETE, &["channels", &id, "members"]).json(&MemberBody { user_id })?,
            )
            .await
    }
}

impl Client {
    /// Channels (`/api/v2/channels`).
    pub fn channels(&self) -> Channels<'_> {
        Channels { client: self }
    }
}

impl ListRequest<Channel> {
    /// Filter by channel state.
    pub fn state(self, state: impl Into<String>) -> Self {
        self.param("state", state.into())
    }
}
