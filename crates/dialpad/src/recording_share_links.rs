//! Recording share links: `/api/v2/recordingsharelink`.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::calls::RecordingType;
use crate::client::{api, Client};
use crate::error::Result;
use crate::wire::{self, string_enum, Timestamp};

string_enum! {
    /// Who can open a recording share link.
    pub enum SharePrivacy {
        Admin = "admin",
        Company = "company",
        Owner = "owner",
        Public = "public",
    }
}

/// Body of `POST /api/v2/recordingsharelink` (`CreateRecordingShareLink`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateRecordingShareLink {
    /// The recording's id (a call's `recording_details[].id`).
    pub recording_id: String,
    pub recording_type: RecordingType,
    /// Dialpad's default: `owner`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy: Option<SharePrivacy>,
}

impl CreateRecordingShareLink {
    pub fn new(recording_id: impl Into<String>, recording_type: RecordingType) -> Self {
        CreateRecordingShareLink {
            recording_id: recording_id.into(),
            recording_type,
            privacy: None,
        }
    }
}

#[derive(Serialize)]
struct UpdateBody<'a> {
    privacy: &'a SharePrivacy,
}

/// A recording share link (`RecordingShareLink`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RecordingShareLink {
    pub id: Option<String>,
    /// Where the recording can be listened to or downloaded.
    pub access_link: Option<String>,
    #[serde(with = "wire::opt_int64")]
    pub call_id: Option<i64>,
    #[serde(with = "wire::opt_int64")]
    pub created_by_id: Option<i64>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub date_added: Option<Timestamp>,
    /// The shared recording's id.
    pub item_id: Option<String>,
    pub privacy: Option<SharePrivacy>,
    #[serde(rename = "type")]
    pub recording_type: Option<RecordingType>,
}

/// Handler for recording share links; from [`Client::recording_share_links`].
#[derive(Debug, Clone, Copy)]
pub struct RecordingShareLinks<'c> {
    pub(crate) client: &'c Client,
}

impl RecordingShareLinks<'_> {
    /// `POST /api/v2/recordingsharelink` (100 a minute, paced).
    pub async fn create(&self, body: &CreateRecordingShareLink) -> Result<RecordingShareLink> {
        self.client
            .json(api(Method::POST, &["recordingsharelink"]).json(body)?)
            .await
    }

    /// `GET /api/v2/recordingsharelink/{id}`.
    pub async fn get(&self, id: &str) -> Result<RecordingShareLink> {
        self.client
            .json(api(Method::GET, &["recordingsharelink", id]))
            .await
    }

    /// `PUT /api/v2/recordingsharelink/{id}`: changes who can open the link.
    pub async fn update(&self, id: &str, privacy: &SharePrivacy) -> Result<RecordingShareLink> {
        self.client
            .json(api(Method::PUT, &["recordingsharelink", id]).json(&UpdateBody { privacy })?)
            .await
    }

    /// `DELETE /api/v2/recordingsharelink/{id}`; returns the deleted link.
    pub async fn delete(&self, id: &str) -> Result<RecordingShareLink> {
        self.client
            .json(api(Method::DELETE, &["recordingsharelink", id]))
            .await
    }
}

impl Client {
    /// Recording share links (`/api/v2/recordingsharelink`).
    pub fn recording_share_links(&self) -> RecordingShareLinks<'_> {
        RecordingShareLinks { client: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_shape_and_body() {
        let l: RecordingShareLink = serde_json::from_str(
            r#"{"access_link":"https://dialpad.example.com/recording/voicemail/l3","call_id":"1006",
                "created_by_id":"2","date_added":"2013-01-01T00:00:00","id":"l3",
                "item_id":"uuid-+14155558888-1","privacy":"owner","type":"voicemail"}"#,
        )
        .unwrap();
        assert_eq!(l.call_id, Some(1006));
        assert_eq!(l.privacy, Some(SharePrivacy::Owner));
        assert_eq!(l.recording_type, Some(RecordingType::Voicemail));
        assert!(l.date_added.is_some());
        let b = CreateRecordingShareLink::new("r1", RecordingType::CallRecording);
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            serde_json::json!({"recording_id":"r1","recording_type":"callrecording"})
        );
    }
}
