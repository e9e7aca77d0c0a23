//! `telephonyCallTranscript` ⇄ `/api/v2/transcripts/{call_id}`, with the AI recap from
//! `/api/v2/call/{id}/ai_recap` (or Dialpad's `recap_*` call events).

use serde::Serialize;
use serde_json::Value;

use super::{field, record_id, to_fields, Mapped, Model, ModelInfo, ResourceRef, Support};
use crate::read::{iso, Reader, UNKNOWN_VALUE};

pub const LINE_TYPES: &[&str] = &[
    "transcript",
    "moment",
    "custom_moment",
    "real_time_moment",
    "ai_question",
];

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    /// Seconds from the first transcript line.
    pub start: f64,
    pub end: f64,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Speaker {
    pub id: String,
    /// `internal` (a user), `external` (a contact) or `unknown`.
    pub origin: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::ExpandableRef>)]
    pub user: Option<ResourceRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::ExpandableRef>)]
    pub contact: Option<ResourceRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Moment {
    #[serde(rename = "type")]
    pub kind: String,
    /// What Dialpad detected (the line's content).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Seconds from the first transcript line (may be negative for a moment before it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recap {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub action_items: Vec<String>,
    pub purposes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transcript {
    #[schema(value_type = super::ExpandableRef)]
    pub call: ResourceRef,
    /// Seconds from the first to the last transcript line.
    pub duration: f64,
    pub segments: Vec<Segment>,
    pub speakers: Vec<Speaker>,
    pub moments: Vec<Moment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recap: Option<Recap>,
}

pub static INFO: ModelInfo = ModelInfo {
    model: Model::Transcript,
    description:
        "Call transcripts (one per call, id = the call id), with moments, speakers and the AI recap",
    create: Support::NotSupported("Dialpad writes transcripts itself; its API cannot create one"),
    update: Support::NotSupported("Dialpad's API cannot change a transcript"),
    delete: Support::NotSupported("Dialpad's API cannot delete a transcript"),
    filters: super::call::INFO.filters,
    search: None,
    expand: &["call", "recap"],
    me: false,
    fields: &[
        field("call", "telephonyCall", "the call", true),
        field(
            "duration",
            "number",
            "seconds from the first to the last line",
            true,
        ),
        field(
            "segments",
            "object[]",
            "what was said `{start, end, text, speakerId}`, seconds from the first line",
            true,
        ),
        field(
            "speakers",
            "object[]",
            "who spoke `{id, origin, name, user, contact}`",
            true,
        ),
        field(
            "moments",
            "object[]",
            "moments Dialpad detected `{type, key, time}`",
            true,
        ),
        field(
            "recap",
            "object",
            "AI recap `{summary, actionItems, purposes, outcome}` (expand=recap)",
            true,
        ),
    ],
    raw_fields: &[],
};

fn speaker_of(line: &Value) -> (String, Speaker) {
    let mut r = Reader::new(line);
    let name = r.string("name", "speakers");
    if let Some(u) = r.id("user_id", "speakers") {
        return (
            format!("user:{u}"),
            Speaker {
                id: format!("user:{u}"),
                origin: "internal",
                name,
                user: Some(ResourceRef::new(Model::User, u)),
                contact: None,
            },
        );
    }
    if let Some(c) = r.id("contact_id", "speakers") {
        return (
            format!("contact:{c}"),
            Speaker {
                id: format!("contact:{c}"),
                origin: "external",
                name,
                user: None,
                contact: Some(ResourceRef::new(Model::Contact, c)),
            },
        );
    }
    let id = match &name {
        Some(n) => format!("name:{n}"),
        None => "unknown".to_owned(),
    };
    (
        id.clone(),
        Speaker {
            id,
            origin: "unknown",
            name,
            user: None,
            contact: None,
        },
    )
}

/// Maps Dialpad's AI recap (`AiRecapProto`).
pub fn recap_from_dialpad(raw: &Value) -> Recap {
    let content = |v: Option<&Value>| {
        v.and_then(|i| i.get("content"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let list = |k: &str| -> Vec<String> {
        raw.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|i| content(Some(i))).collect())
            .unwrap_or_default()
    };
    Recap {
        summary: content(raw.get("summary")),
        action_items: list("action_items"),
        purposes: list("purposes"),
        outcome: content(raw.get("disposition")),
    }
}

/// Maps a Dialpad transcript (`TranscriptProto`), with its recap when known. A transcript with
/// only moments has zero segments and duration 0: not an error.
pub fn from_dialpad(raw: &Value, recap: Option<Recap>) -> Mapped {
    let mut r = Reader::new(raw);
    let id = record_id(&mut r, "call_id");
    let lines: Vec<&Value> = match r.get("lines") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(_) => {
            r.warn(
                crate::read::INVALID_VALUE,
                "segments",
                "Dialpad's `lines` is not a list".into(),
            );
            Vec::new()
        }
        None => Vec::new(),
    };
    // Each line's type and time, read once.
    let mut parsed = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let mut lr = Reader::new(line);
        let path = format!("segments[{i}]");
        let kind = lr
            .string("type", &path)
            .unwrap_or_else(|| "transcript".into());
        if !LINE_TYPES.contains(&kind.as_str()) {
            lr.warn(
                UNKNOWN_VALUE,
                &format!("moments[{i}]"),
                format!("unknown transcript line type {kind:?}: kept as a moment"),
            );
        }
        let time = lr.time("time", &path);
        r.warnings.append(&mut lr.warnings);
        parsed.push((kind, time, *line));
    }
    let base = parsed
        .iter()
        .filter(|(k, t, _)| k == "transcript" && t.is_some())
        .chain(parsed.iter().filter(|(_, t, _)| t.is_some()))
        .find_map(|(_, t, _)| *t);
    let secs = |t: Option<dialpad::Timestamp>| -> Option<f64> {
        let (t, b) = (t?, base?);
        Some((t.as_millis() - b.as_millis()) as f64 / 1000.0)
    };

    let mut segments: Vec<Segment> = Vec::new();
    let mut speakers: Vec<Speaker> = Vec::new();
    let mut moments = Vec::new();
    for (kind, time, line) in &parsed {
        let content = line
            .get("content")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if kind == "transcript" {
            let (sid, speaker) = speaker_of(line);
            if !speakers.iter().any(|s| s.id == sid) {
                speakers.push(speaker);
            }
            let start = secs(*time).unwrap_or_else(|| segments.last().map_or(0.0, |s| s.end));
            if let Some(prev) = segments.last_mut() {
                if prev.end < start {
                    prev.end = start;
                }
            }
            segments.push(Segment {
                start,
                end: start,
                text: content.unwrap_or_default(),
                speaker_id: Some(sid),
            });
        } else {
            moments.push(Moment {
                kind: kind.clone(),
                key: content,
                time: secs(*time),
            });
        }
    }
    let duration = match (segments.first(), segments.last()) {
        (Some(f), Some(l)) => (l.end - f.start).max(0.0),
        _ => 0.0,
    };
    let t = Transcript {
        call: ResourceRef::new(Model::Call, &id),
        duration,
        segments,
        speakers,
        moments,
        recap,
    };
    let last_time = parsed.iter().filter_map(|(_, t, _)| *t).max();
    Mapped {
        model: Model::Transcript,
        id,
        fields: to_fields(&t),
        created_at: base.map(iso),
        updated_at: last_time.map(iso),
        warnings: r.warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_become_segments_speakers_and_moments() {
        let m = from_dialpad(
            &json!({"call_id": "6473016367898624", "lines": [
                {"type": "moment", "content": "greeting", "time": "2024-01-02T03:04:04"},
                {"type": "transcript", "content": "Hello", "name": "Grace", "user_id": "59", "time": "2024-01-02T03:04:05.000000"},
                {"type": "transcript", "content": "Hi", "name": "Ada", "contact_id": "57", "time": "2024-01-02T03:04:07.500000"},
                {"type": "ai_question", "content": "budget?", "time": "2024-01-02T03:04:08"},
                {"type": "transcript", "content": "Bye", "name": "Grace", "user_id": 59, "time": "2024-01-02T03:04:10"}
            ]}),
            None,
        );
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        let f = &m.fields;
        assert_eq!(f["call"]["model"], "telephonyCall");
        assert_eq!(f["duration"], 5.0);
        assert_eq!(
            f["segments"][0],
            json!({"start": 0.0, "end": 2.5, "text": "Hello", "speakerId": "user:59"})
        );
        assert_eq!(f["segments"][2]["start"], 5.0);
        assert_eq!(
            f["speakers"].as_array().unwrap().len(),
            2,
            "the user speaks twice, once as a number"
        );
        assert_eq!(f["speakers"][1]["origin"], "external");
        assert_eq!(f["speakers"][1]["contact"]["id"], "57");
        assert_eq!(
            f["moments"][0],
            json!({"type": "moment", "key": "greeting", "time": -1.0})
        );
        assert_eq!(f["moments"][1]["type"], "ai_question");
        assert!(f.get("recap").is_none());
    }

    #[test]
    fn only_moments_is_not_an_error() {
        let m = from_dialpad(
            &json!({"call_id": 1, "lines": [{"type": "moment", "content": "x", "time": "2024-01-02T03:04:04"}]}),
            None,
        );
        assert!(m.warnings.is_empty());
        assert_eq!(m.fields["segments"], json!([]));
        assert_eq!(m.fields["duration"], 0.0);
        assert_eq!(m.fields["moments"][0]["time"], 0.0);
    }

    #[test]
    fn empty_and_odd_lines() {
        let m = from_dialpad(&json!({"call_id": "1", "lines": null}), None);
        assert_eq!(m.fields["segments"], json!([]));
        let m = from_dialpad(
            &json!({"call_id": "1", "lines": [{"type": "sentiment_shift", "time": "garbage"}]}),
            None,
        );
        assert_eq!(m.fields["moments"][0]["type"], "sentiment_shift");
        assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
    }

    #[test]
    fn recap() {
        let r = recap_from_dialpad(&json!({"summary": {"content": "Talked budget"},
            "action_items": [{"content": "Send quote"}, {"content": ""}],
            "purposes": [{"content": "Sales", "category": "x"}], "disposition": {"content": "Won"}}));
        assert_eq!(r.summary.as_deref(), Some("Talked budget"));
        assert_eq!(r.action_items, vec!["Send quote"]);
        assert_eq!(r.outcome.as_deref(), Some("Won"));
        let m = from_dialpad(&json!({"call_id": "1", "lines": []}), Some(r));
        assert_eq!(m.fields["recap"]["purposes"], json!(["Sales"]));
    }
}
