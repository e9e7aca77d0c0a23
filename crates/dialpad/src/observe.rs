//! Watching the requests a [`Client`](crate::Client) sends: an optional hook
//! ([`ClientBuilder::observer`](crate::ClientBuilder::observer)) called once per HTTP attempt
//! with the operation's name, Dialpad's status (`None`: no answer) and how long the attempt
//! took, e.g. to count calls and 429s in a metrics registry. The crate itself depends on no
//! metrics library.
//!
//! The operation name is `"METHOD /template"` with Dialpad's path template (`GET
//! /api/v2/call/{id}`), never the raw path: ids, phone numbers and emails never reach a label,
//! and the set of names is bounded (the API's paths × a handful of methods). A path the API
//! does not have (only the proxy can send one) is `"METHOD other"`.

use std::sync::Arc;
use std::time::Duration;

/// Called once per HTTP attempt (a retry or the resend after a 401 refresh is an attempt of
/// its own) with the [operation name](operation_name), Dialpad's status (`None` when no answer
/// came: a transport error or timeout) and the time from sending to the response's headers
/// (a streamed body is not waited for). Runs on the request's task: keep it cheap.
pub type RequestObserver = Arc<dyn Fn(&str, Option<u16>, Duration) + Send + Sync>;

/// The path templates of Dialpad's API v2 and OAuth endpoints, as the 2026 spec names them
/// (a test checks the list against the vendored spec).
pub const DIALPAD_PATHS: &[&str] = &[
    "/api/v2/accesscontrolpolicies",
    "/api/v2/accesscontrolpolicies/{id}",
    "/api/v2/accesscontrolpolicies/{id}/assign",
    "/api/v2/accesscontrolpolicies/{id}/assignments",
    "/api/v2/accesscontrolpolicies/{id}/unassign",
    "/api/v2/agent-groups/{id}",
    "/api/v2/app/settings",
    "/api/v2/blockednumbers",
    "/api/v2/blockednumbers/add",
    "/api/v2/blockednumbers/remove",
    "/api/v2/blockednumbers/{number}",
    "/api/v2/call",
    "/api/v2/call/initiate_ivr_call",
    "/api/v2/call/{id}",
    "/api/v2/call/{id}/actions/hangup",
    "/api/v2/call/{id}/ai_recap",
    "/api/v2/call/{id}/assign",
    "/api/v2/call/{id}/assigned",
    "/api/v2/call/{id}/labels",
    "/api/v2/call/{id}/participants/add",
    "/api/v2/call/{id}/transfer",
    "/api/v2/call/{id}/unassign",
    "/api/v2/call/{id}/unassign/all",
    "/api/v2/call/{id}/unpark",
    "/api/v2/callback",
    "/api/v2/callback/validate",
    "/api/v2/callcenters",
    "/api/v2/callcenters/operators/{id}/dutystatus",
    "/api/v2/callcenters/{call_center_id}/operators/{user_id}/skill",
    "/api/v2/callcenters/{id}",
    "/api/v2/callcenters/{id}/operators",
    "/api/v2/callcenters/{id}/status",
    "/api/v2/calllabels",
    "/api/v2/callreviewsharelink",
    "/api/v2/callreviewsharelink/{id}",
    "/api/v2/callrouters",
    "/api/v2/callrouters/{id}",
    "/api/v2/callrouters/{id}/assign_number",
    "/api/v2/channels",
    "/api/v2/channels/{id}",
    "/api/v2/channels/{id}/members",
    "/api/v2/coachingteams",
    "/api/v2/coachingteams/{id}",
    "/api/v2/coachingteams/{id}/members",
    "/api/v2/company",
    "/api/v2/company/settings",
    "/api/v2/company/{id}/smsoptout",
    "/api/v2/conference/meetings",
    "/api/v2/conference/rooms",
    "/api/v2/contacts",
    "/api/v2/contacts/{id}",
    "/api/v2/customivrs",
    "/api/v2/customivrs/{ivr_id}",
    "/api/v2/customivrs/{target_type}/{target_id}/{ivr_type}",
    "/api/v2/departments",
    "/api/v2/departments/{id}",
    "/api/v2/departments/{id}/operators",
    "/api/v2/digital/sessionsdata",
    "/api/v2/dispositions",
    "/api/v2/dispositions/{id}",
    "/api/v2/fax",
    "/api/v2/faxline",
    "/api/v2/meetings",
    "/api/v2/meetings/{scheduled_conference_id}",
    "/api/v2/message/bulk",
    "/api/v2/message/bulk/{id}",
    "/api/v2/message/schedule",
    "/api/v2/message/schedule/{id}",
    "/api/v2/message/schedule/{id}/send",
    "/api/v2/numbers",
    "/api/v2/numbers/assign",
    "/api/v2/numbers/format",
    "/api/v2/numbers/swap",
    "/api/v2/numbers/tags",
    "/api/v2/numbers/{number}",
    "/api/v2/numbers/{number}/assign",
    "/api/v2/offices",
    "/api/v2/offices/primary",
    "/api/v2/offices/{id}",
    "/api/v2/offices/{id}/assign_number",
    "/api/v2/offices/{id}/e911",
    "/api/v2/offices/{id}/offdutystatuses",
    "/api/v2/offices/{id}/operators",
    "/api/v2/offices/{id}/unassign_number",
    "/api/v2/offices/{office_id}/available_licenses",
    "/api/v2/offices/{office_id}/callcenters",
    "/api/v2/offices/{office_id}/departments",
    "/api/v2/offices/{office_id}/plan",
    "/api/v2/offices/{office_id}/teams",
    "/api/v2/recordingsharelink",
    "/api/v2/recordingsharelink/{id}",
    "/api/v2/rooms",
    "/api/v2/rooms/international_pin",
    "/api/v2/rooms/{id}",
    "/api/v2/rooms/{id}/assign_number",
    "/api/v2/rooms/{id}/unassign_number",
    "/api/v2/rooms/{parent_id}/deskphones",
    "/api/v2/rooms/{parent_id}/deskphones/{id}",
    "/api/v2/schedulereports",
    "/api/v2/schedulereports/{id}",
    "/api/v2/scorecards",
    "/api/v2/scorecards/export",
    "/api/v2/scorecards/export/{id}",
    "/api/v2/scorecards/{id}",
    "/api/v2/sms",
    "/api/v2/stats",
    "/api/v2/stats/{id}",
    "/api/v2/subscriptions/agent_status",
    "/api/v2/subscriptions/agent_status/{id}",
    "/api/v2/subscriptions/call",
    "/api/v2/subscriptions/call/{id}",
    "/api/v2/subscriptions/changelog",
    "/api/v2/subscriptions/changelog/{id}",
    "/api/v2/subscriptions/channel",
    "/api/v2/subscriptions/channel/{id}",
    "/api/v2/subscriptions/contact",
    "/api/v2/subscriptions/contact/{id}",
    "/api/v2/subscriptions/fax",
    "/api/v2/subscriptions/fax/{id}",
    "/api/v2/subscriptions/sms",
    "/api/v2/subscriptions/sms/{id}",
    "/api/v2/transcripts/{call_id}",
    "/api/v2/transcripts/{call_id}/url",
    "/api/v2/userdevices",
    "/api/v2/userdevices/{id}",
    "/api/v2/users",
    "/api/v2/users/{id}",
    "/api/v2/users/{id}/activecall",
    "/api/v2/users/{id}/assign_number",
    "/api/v2/users/{id}/caller_id",
    "/api/v2/users/{id}/e911",
    "/api/v2/users/{id}/initiate_call",
    "/api/v2/users/{id}/move_office",
    "/api/v2/users/{id}/personas",
    "/api/v2/users/{id}/screenpop",
    "/api/v2/users/{id}/status",
    "/api/v2/users/{id}/togglednd",
    "/api/v2/users/{id}/togglevi",
    "/api/v2/users/{id}/unassign_number",
    "/api/v2/users/{parent_id}/deskphones",
    "/api/v2/users/{parent_id}/deskphones/{id}",
    "/api/v2/webhooks",
    "/api/v2/webhooks/{id}",
    "/api/v2/websockets",
    "/api/v2/websockets/{id}",
    "/api/v2/wfm/metrics/activity",
    "/api/v2/wfm/metrics/agent",
    "/oauth2/authorize",
    "/oauth2/deauthorize",
    "/oauth2/token",
];

/// `"METHOD /template"` for a request path (no host or query; a trailing slash is ignored):
/// the template of [`DIALPAD_PATHS`] it falls under, a literal segment winning over a
/// `{placeholder}` (`/api/v2/offices/primary` is not `/api/v2/offices/{id}`), else
/// `"METHOD other"`. A method outside the HTTP API's usual ones is `OTHER`.
pub fn operation_name(method: &str, path: &str) -> String {
    let method = match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
        _ => "OTHER",
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match template_of(&segments) {
        Some(t) => format!("{method} {t}"),
        None => format!("{method} other"),
    }
}

fn template_of(segments: &[&str]) -> Option<&'static str> {
    let mut best: Option<(&'static str, usize)> = None;
    for template in DIALPAD_PATHS {
        let t = template.trim_start_matches('/');
        if t.split('/').count() != segments.len() {
            continue;
        }
        let mut literals = 0;
        let fits = t.split('/').zip(segments).all(|(t, s)| {
            if t.starts_with('{') {
                !s.is_empty()
            } else {
                literals += 1;
                t == *s
            }
        });
        if fits && best.is_none_or(|(_, n)| literals > n) {
            best = Some((template, literals));
        }
    }
    best.map(|(t, _)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_the_template() {
        assert_eq!(
            operation_name("GET", "/api/v2/call/123456"),
            "GET /api/v2/call/{id}"
        );
        assert_eq!(
            operation_name("GET", "/api/v2/call/123456/ai_recap?x=1"),
            "GET /api/v2/call/{id}/ai_recap"
        );
        assert_eq!(
            operation_name("GET", "/api/v2/users/me"),
            "GET /api/v2/users/{id}"
        );
        assert_eq!(
            operation_name("GET", "/api/v2/offices/primary"),
            "GET /api/v2/offices/primary"
        );
        assert_eq!(
            operation_name("PATCH", "/api/v2/callcenters/1/operators/2/skill"),
            "PATCH /api/v2/callcenters/{call_center_id}/operators/{user_id}/skill"
        );
        assert_eq!(
            operation_name("POST", "/oauth2/token"),
            "POST /oauth2/token"
        );
        assert_eq!(operation_name("GET", "/api/v2/users/"), "GET /api/v2/users");
    }

    #[test]
    fn unknown_paths_and_methods_are_bounded() {
        assert_eq!(
            operation_name("GET", "/api/v2/no-such-thing/555-1234"),
            "GET other"
        );
        assert_eq!(operation_name("GET", "/api/v2/users/1/2/3/4"), "GET other");
        assert_eq!(operation_name("GET", "/api/v2/users//x"), "GET other");
        assert_eq!(
            operation_name("PROPFIND", "/api/v2/users"),
            "OTHER /api/v2/users"
        );
    }

    /// The list is the vendored spec's paths, and each comes back as itself when its
    /// placeholders hold ids.
    #[test]
    fn paths_are_the_specs() {
        let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../dialpad-sim/tests/spec/dialpad-openapi-2026.json");
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(spec).unwrap()).unwrap();
        let mut from_spec: Vec<&str> = spec["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        from_spec.sort_unstable();
        assert_eq!(DIALPAD_PATHS, from_spec.as_slice());
        for t in DIALPAD_PATHS {
            let sample: Vec<&str> = t
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        "5734470963462144"
                    } else {
                        s
                    }
                })
                .collect();
            assert_eq!(
                operation_name("GET", &sample.join("/")),
                format!("GET {t}"),
                "{t}"
            );
        }
    }
}
