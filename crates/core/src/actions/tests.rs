use serde_json::json;

use super::*;

#[test]
fn every_action_has_self_contained_schemas_that_compile() {
    let mut seen = std::collections::BTreeSet::new();
    for a in catalog() {
        assert!(seen.insert(a.id), "duplicate {}", a.id);
        assert_eq!(a.operation, format!("action::{}", a.id));
        assert!(!a.description.is_empty() && !a.title.is_empty() && !a.grant.is_empty());
        assert!(!(a.read_only && a.destructive), "{}", a.id);
        let input = input_schema(a.id).expect(a.id);
        let output = output_schema(a.id).expect(a.id);
        for s in [&input, &output] {
            assert!(!schema::has_ref(s), "{}: $ref left in {s}", a.id);
            assert_eq!(s["type"], "object", "{}: {s}", a.id);
        }
        assert!(COMPILED[a.id].validator.is_some(), "{}", a.id);
        assert_eq!(
            input["additionalProperties"],
            json!(false),
            "{} input is closed",
            a.id
        );
    }
    assert!(find("sendSms").is_some());
    assert!(find("nope").is_none());
    assert!(input_schema("nope").is_none());
    assert_eq!(catalog().len(), 18);
}

fn paths(r: Result<(), ActionError>) -> Vec<String> {
    match r {
        Err(ActionError::Validation { errors }) => errors.into_iter().map(|e| e.path).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn schema_errors_name_every_failing_path() {
    let p = paths(validate(
        "sendSms",
        &json!({"toNumbers": ["555", "+15555550100"], "userId": "x1", "colour": "red"}),
    ));
    assert_eq!(p, vec!["colour", "text", "toNumbers[0]", "userId"]);
    let p = paths(validate(
        "transferCall",
        &json!({"callId": 12, "to": {"type": "user"}}),
    ));
    assert!(p.contains(&"callId".to_string()), "{p:?}");
    assert!(p.iter().any(|p| p.starts_with("to")), "{p:?}");
    let p = paths(validate("listChannels", &json!({"limit": 0})));
    assert_eq!(p, vec!["limit"]);
    let p = paths(validate("hangUpCall", &json!([])));
    assert_eq!(p, vec![""]);
}

#[test]
fn dialpad_rules_beyond_the_schema() {
    let long = "x".repeat(SMS_TEXT_LIMIT + 1);
    let p = paths(validate(
        "sendSms",
        &json!({"toNumbers": ["+15555550100"], "text": long}),
    ));
    assert_eq!(p, vec!["text"]);
    // A channel takes any length.
    validate("sendSms", &json!({"channelHashtag": "sales", "text": long})).unwrap();
    let p = paths(validate(
        "sendSms",
        &json!({"channelHashtag": "sales", "toNumbers": ["+15555550100"], "text": "hi"}),
    ));
    assert_eq!(p, vec!["channelHashtag"]);
    let p = paths(validate("sendSms", &json!({"text": "hi"})));
    assert_eq!(p, vec!["toNumbers"]);
    let eleven: Vec<String> = (0..11).map(|i| format!("+1555555010{i}")).collect();
    let p = paths(validate(
        "sendSms",
        &json!({"toNumbers": eleven, "text": "hi"}),
    ));
    assert_eq!(p, vec!["toNumbers"]);
    let p = paths(validate(
        "hangUpCall",
        &json!({"callId": "9999999999999999999"}),
    ));
    assert_eq!(p, vec!["callId"]);
    let p = paths(validate(
        "screenPop",
        &json!({"userId": "1", "url": "https://me:pw@crm.example/x"}),
    ));
    assert_eq!(p, vec!["url"]);
    validate(
        "transferCall",
        &json!({"callId": "1", "to": {"type": "callCenter", "id": "7"}, "transferState": "parked"}),
    )
    .unwrap();
    validate(
        "addCallParticipant",
        &json!({"callId": "1", "participant": {"type": "number", "number": "+15555550100"}}),
    )
    .unwrap();
}

#[test]
fn errors_have_stable_codes() {
    assert_eq!(
        validate("nope", &json!({})).unwrap_err().code(),
        ErrorCode::ActionNotFound
    );
    assert_eq!(
        validate("hangUpCall", &json!({})).unwrap_err().code(),
        ErrorCode::ResourceValidationFailed
    );
}
