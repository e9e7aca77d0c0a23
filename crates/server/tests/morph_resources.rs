//! Morph compatibility of the unified resources API: Morph's published SDK (`@runmorph/cloud`
//! 0.0.7, fetched from npm, see `tests/js/harness.rs`) pointed at our server with
//! `MORPH_CLOUD_API_BASE_URL`, through its three clients: the secret-key one
//! (`Morph({publicKey, secretKey}).connections({connectorId, ownerId})`: `/v1/resources/…` with
//! connection headers), the session one (`Morph({publicKey}).connections({sessionToken})`:
//! `/v1/s/resources/…`) and a secret-key client given a session token (`/v1/resources/…` with
//! `x-session-token` and no connection headers). For each of the five models
//! `tests/js/morph_resources.mjs` runs `models(m).listFields` (paged by `cursor`, and
//! `isCustom`), `resources(m).list` (`limit`, every page by `cursor` to the end compared with the
//! ids the simulator holds, `fields` and `expand` as arrays, filters as JSON or `filters[name]`
//! keys), `retrieve` (`me`, `fields`, `expand`), and where Dialpad has the operation `create`,
//! `update` (each with and without `returnResource: true`, read back with `retrieve`) and
//! `delete`; and the SDK's reading of our errors (`OPERATION::NOT_SUPPORTED`,
//! `RESOURCE::VALIDATION_FAILED`, `RESOURCE::NOT_FOUND`, `RESOURCE::MODEL_NOT_FOUND`,
//! `REQUEST::INVALID`, `SESSION::INVALID`). It asserts on every answer's shape and values, and on
//! the requests the SDK made (route, credentials, how it encodes each option).
//! Needs Node.js, npm and the npm registry; their failure fails the test.

#[path = "js/harness.rs"]
mod harness;

const MODELS: [&str; 5] = [
    "genericContact",
    "genericUser",
    "genericWorkspace",
    "telephonyCall",
    "telephonyCallTranscript",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn morph_cloud_sdk_0_0_7_drives_the_resources_api() {
    // A short call history: every list is followed to its end by each client, and the
    // connector paces its Dialpad calls.
    let app = harness::spawn_with_calls(true, 24).await;
    let out = harness::node(
        "morph_resources.mjs",
        vec![
            ("MORPH_CLOUD_API_BASE_URL".into(), app.base_url.clone()),
            ("MORPH_SECRET_KEY".into(), app.api_key.clone()),
            ("OWNER_ID".into(), "morph-resources-1".into()),
            ("DIALPAD_BASE_URL".into(), app.sim.base_url.clone()),
            ("DIALPAD_API_KEY".into(), app.dialpad_api_key.clone()),
        ],
    )
    .await;
    let seen = harness::last_json(&out);
    for client in ["key", "session", "keySession"] {
        let c = &seen[client];
        for model in MODELS {
            let listed = c["listed"][model].as_u64().unwrap_or_default();
            assert!(listed > 0, "{client} {model}: nothing listed: {seen}");
            assert_eq!(
                c["listed"][model], c["dialpad"][model],
                "{client} {model}: the list to the end is not Dialpad's set: {seen}"
            );
            assert!(
                c["fields"][model].as_u64().unwrap_or_default() > 0,
                "{client} {model}: no fields: {seen}"
            );
            if model != "genericWorkspace" {
                assert!(
                    c["expanded"][model].as_u64().unwrap_or_default() > 0,
                    "{client} {model}: nothing expanded: {seen}"
                );
            }
        }
        for (what, code) in [
            ("delete genericWorkspace", "OPERATION::NOT_SUPPORTED"),
            (
                "create invalid genericContact",
                "RESOURCE::VALIDATION_FAILED",
            ),
            ("retrieve deleted genericContact", "RESOURCE::NOT_FOUND"),
            ("delete deleted genericContact", "RESOURCE::NOT_FOUND"),
        ] {
            assert_eq!(c["errors"][what], code, "{client} {what}: {seen}");
        }
    }
    for client in ["session", "keySession"] {
        assert_eq!(
            seen[client]["errors"]["unknown session token"], "SESSION::INVALID",
            "{seen}"
        );
    }
    // The SDK's writes reached Dialpad, once per client and kind at least.
    let stats = app.sim.stats();
    for (op, at_least) in [
        ("POST /api/v2/contacts", 6),
        ("PATCH /api/v2/contacts/{id}", 6),
        ("DELETE /api/v2/contacts/{id}", 6),
        ("POST /api/v2/users", 6),
        ("PATCH /api/v2/users/{id}", 6),
        ("DELETE /api/v2/users/{id}", 6),
        ("POST /api/v2/offices", 6),
        ("PATCH /api/v2/offices/{id}", 6),
        ("POST /api/v2/call", 5),
        ("PUT /api/v2/call/{id}/labels", 6),
    ] {
        let n = stats.requests.get(op).copied().unwrap_or_default();
        assert!(
            n >= at_least,
            "{op}: {n} < {at_least}: {:?}",
            stats.requests
        );
    }
    // Nothing the script created is left in Dialpad but what cannot be deleted (offices, calls).
    let db = app.sim.sim.db().read();
    let left: Vec<_> = db
        .contacts
        .values()
        .filter(|c| {
            serde_json::to_string(c)
                .unwrap_or_default()
                .contains("Lovelace")
        })
        .collect();
    assert!(left.is_empty(), "contacts left: {}", left.len());
}
