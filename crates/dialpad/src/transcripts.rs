//! Transcripts: `/api/v2/transcripts/{call_id}`.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{api, Client};
use crate::error::Result;
use crate::wire::{self, string_enum, Timestamp};

string_enum! {
    /// Kind of transcript line.
    pub enum TranscriptLineType {
        AiQuestion = "ai_question",
        CustomMoment = "custom_moment",
        Moment = "moment",
        RealTimeMoment = "real_time_moment",
        Transcript = "transcript",
    }
}

/// One line of a transcript (`TranscriptLineProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TranscriptLine {
    #[serde(deserialize_with = "wire::opt_string_or_number")]
    pub contact_id: Option<String>,
    pub content: Option<String>,
    /// Speaker name.
    pub name: Option<String>,
    /// When it was said; Dialpad sends a zone-less ISO date-time (UTC).
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub time: Option<Timestamp>,
    #[serde(rename = "type")]
    pub line_type: Option<TranscriptLineType>,
    #[serde(with = "wire::opt_int64")]
    pub user_id: Option<i64>,
}

/// A call transcript (`TranscriptProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Transcript {
    #[serde(with = "wire::opt_int64")]
    pub call_id: Option<i64>,
    #[serde(deserialize_with = "wire::null_default")]
    pub lines: Vec<TranscriptLine>,
}

/// Link to the transcript in the Dialpad app (`TranscriptUrlProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TranscriptUrl {
    #[serde(with = "wire::opt_int64")]
    pub call_id: Option<i64>,
    pub url: Option<String>,
}

/// Handler for transcripts; from [`Client::transcripts`]. AI recaps live on
/// [`Calls::ai_recap`](crate::calls::Calls::ai_recap).
#[derive(Debug, Clone, Copy)]
pub struct Transcripts<'c> {
    pub(crate) client: &'c Client,
}

impl Transcripts<'_> {
    /// `GET /api/v2/transcripts/{call_id}`.
    pub async fn get(&self, call_id: i64) -> Result<Transcript> {
        let id = call_id.to_string();
        self.client
            .json(api(Method::GET, &["transcripts", &id]))
            .await
    }

    /// `GET /api/v2/transcripts/{call_id}/url`.
    pub async fn url(&self, call_id: i64) -> Result<TranscriptUrl> {
        let id = call_id.to_string();
        self.client
            .json(api(Method::GET, &["transcripts", &id, "url"]))
            .await
    }
}

impl Client {
    /// Call transcripts (`/api/v2/transcripts`).
    pub fn transcripts(&self) -> Transcripts<'_> {
        Transcripts { client: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_lines() {
        let t: Transcript = serde_json::from_str(
            r#"{"call_id":"6473016367898624","lines":[
                {"content":"hi","name":"Ada","time":"2024-01-02T03:04:05.123456","type":"transcript","user_id":"7"},
                {"content":"x","type":"sentiment_shift","time":null,"contact_id":12}]}"#,
        )
        .unwrap();
        assert_eq!(t.call_id, Some(6473016367898624));
        assert_eq!(t.lines[0].time.unwrap().as_millis(), 1_704_164_645_123);
        assert_eq!(t.lines[0].user_id, Some(7));
        assert_eq!(
            t.lines[1].line_type,
            Some(TranscriptLineType::Unknown("sentiment_shift".into()))
        );
        assert_eq!(t.lines[1].contact_id.as_deref(), Some("12"));
    }
}
