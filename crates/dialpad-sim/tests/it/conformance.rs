//! Schema conformance: every operation the simulator serves (`dialpad_sim::operations::all()`)
//! is driven with a real, successful request, and its JSON body is validated against the
//! operation's 200 response schema in the 2026 Dialpad spec (vendored in `tests/spec/`).
//!
//! Only two wire adjustments are applied to the spec, both in `common::wire_adjust`:
//! (a) int64 values may be strings of digits (Dialpad's REST API sends them so);
//! (b) `format` is an annotation only (Dialpad prints naive date-times).
//! Undeclared properties (fields the spec's schema does not list) are reported as failures too.
//!
//! Every failure is collected and reported at the end, so one run shows them all.

use crate::common;

use std::collections::BTreeMap;

use dialpad_sim::SimConfig;
use reqwest::Method;
use serde_json::{json, Value};

/// What happened to one operation during the run.
#[derive(Default)]
struct Outcome {
    /// Successful calls whose body validated.
    validated: usize,
    failures: Vec<String>,
}

struct Run {
    base: String,
    key: String,
    http: reqwest::Client,
    outcomes: BTreeMap<(String, String), Outcome>,
    validators: BTreeMap<(String, String), Result<jsonschema::Validator, String>>,
}

/// One request of the scenario.
struct Req<'a> {
    method: &'a str,
    template: &'a str,
    params: &'a [(&'a str, &'a str)],
    query: &'a [(&'a str, &'a str)],
    body: Option<Value>,
}

fn req<'a>(method: &'a str, template: &'a str) -> Req<'a> {
    Req {
        method,
        template,
        params: &[],
        query: &[],
        body: None,
    }
}

impl<'a> Req<'a> {
    fn path(mut self, params: &'a [(&'a str, &'a str)]) -> Self {
        self.params = params;
        self
    }
    fn query(mut self, query: &'a [(&'a str, &'a str)]) -> Self {
        self.query = query;
        self
    }
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

impl Run {
    fn fail(&mut self, method: &str, template: &str, msg: String) {
        self.outcomes
            .entry((method.to_owned(), template.to_owned()))
            .or_default()
            .failures
            .push(msg);
    }

    async fn send(&self, r: &Req<'_>) -> Result<reqwest::Response, String> {
        let url = format!("{}{}", self.base, common::fill(r.template, r.params));
        let method = Method::from_bytes(r.method.as_bytes()).map_err(|e| e.to_string())?;
        let mut rb = self
            .http
            .request(method, &url)
            .bearer_auth(&self.key)
            .query(r.query);
        if let Some(b) = &r.body {
            rb = rb.json(b);
        }
        rb.send()
            .await
            .map_err(|e| format!("request to {url} failed: {e}"))
    }

    /// Sends `r`, expects 200 with a JSON body, validates it against the operation's response
    /// schema and records the outcome. Returns the body when the call succeeded.
    async fn call(&mut self, r: Req<'_>) -> Option<Value> {
        let (m, t) = (r.method, r.template);
        let resp = match self.send(&r).await {
            Ok(x) => x,
            Err(e) => {
                self.fail(m, t, e);
                return None;
            }
        };
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = resp.text().await.unwrap_or_default();
        if status != 200 {
            let shown: String = text.chars().take(300).collect();
            self.fail(
                m,
                t,
                format!(
                    "HTTP {status} (expected 200) for {:?} params {:?}: {shown}",
                    r.body, r.params
                ),
            );
            return None;
        }
        if !ctype.starts_with("application/json") {
            self.fail(
                m,
                t,
                format!("content-type {ctype:?}, expected application/json"),
            );
            return None;
        }
        let body: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                self.fail(m, t, format!("body is not JSON ({e}): {text}"));
                return None;
            }
        };
        let errors = self.validate(m, t, &body);
        let o = self
            .outcomes
            .entry((m.to_owned(), t.to_owned()))
            .or_default();
        if errors.is_empty() {
            o.validated += 1;
        } else {
            o.failures.extend(errors);
        }
        Some(body)
    }

    fn validate(&mut self, m: &str, t: &str, body: &Value) -> Vec<String> {
        if common::operation(m, t).is_none() {
            return vec![format!("{m} {t} is not an operation of the 2026 spec")];
        }
        let Some(schema) = common::response_schema(m, t) else {
            // The spec gives no response schema: Dialpad answers `{}`.
            return if body == &json!({}) {
                vec![]
            } else {
                vec![format!("spec gives no schema, expected {{}}, got {body}")]
            };
        };
        let v = self
            .validators
            .entry((m.to_owned(), t.to_owned()))
            .or_insert_with(|| common::validator_for_schema(schema));
        let mut errors = match v {
            Ok(v) => common::schema_errors(v, body),
            Err(e) => vec![e.clone()],
        };
        for p in common::undeclared_properties(schema, body) {
            errors.push(format!(
                "at '{p}': property not declared by the spec's schema"
            ));
        }
        if !errors.is_empty() {
            let shown: String = body.to_string().chars().take(600).collect();
            errors.push(format!("(body: {shown})"));
        }
        errors
    }

    /// Lists every page of a `{items, cursor}` collection (validating each page); returns all items.
    async fn list_all(
        &mut self,
        template: &str,
        params: &[(&str, &str)],
        query: &[(&str, &str)],
    ) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut q: Vec<(&str, &str)> = query.to_vec();
            if let Some(c) = cursor.as_deref() {
                q.push(("cursor", c));
            }
            let Some(page) = self.call(req("GET", template).path(params).query(&q)).await else {
                break;
            };
            items.extend(
                page.get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            match page.get("cursor").and_then(Value::as_str) {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        items
    }
}

impl Run {
    /// Lists `template` again in pages of 7, so pages carrying a cursor get validated too, and
    /// checks the pages add up to the unpaged listing.
    async fn paged_consistency(&mut self, template: &str, expected: usize) {
        let paged = self.list_all(template, &[], &[("limit", "7")]).await;
        if paged.len() != expected {
            let msg = format!(
                "pages of 7 gave {} items, one listing gave {expected}",
                paged.len()
            );
            self.fail("GET", template, msg);
        }
    }
}

fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn str_field(v: &Value, k: &str) -> Option<String> {
    match v.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_returns_what_the_2026_spec_describes() {
    let sim = dialpad_sim::spawn(SimConfig {
        auto_consent: true,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("spawn simulator: {e}"));
    let ops = dialpad_sim::operations::all();
    let mut problems: Vec<String> = Vec::new();

    // 1. The operations table names real operations of the spec.
    for op in &ops {
        match common::operation(op.method, op.path) {
            None => problems.push(format!(
                "{} {} ({}): no such operation in the 2026 spec",
                op.method, op.path, op.operation_id
            )),
            Some(o) => {
                let id = o.get("operationId").and_then(Value::as_str).unwrap_or("");
                if id != op.operation_id {
                    problems.push(format!(
                        "{} {}: operations table says operationId {:?}, the spec says {id:?}",
                        op.method, op.path, op.operation_id
                    ));
                }
            }
        }
    }

    let mut run = Run {
        base: sim.base_url.clone(),
        key: sim.api_key.clone(),
        http: common::client(),
        outcomes: BTreeMap::new(),
        validators: BTreeMap::new(),
    };

    // 2. Drive every operation with a successful request.
    scenario(&mut run).await;
    let non_json = oauth_scenario(&mut run, &sim.base_url).await;

    // 3. Report.
    let mut validated = 0;
    for op in &ops {
        let key = (op.method.to_owned(), op.path.to_owned());
        match run.outcomes.get(&key) {
            None => problems.push(format!(
                "{} {} ({}): not exercised by the conformance scenario",
                op.method, op.path, op.operation_id
            )),
            Some(o) if !o.failures.is_empty() => problems.push(format!(
                "{} {} ({}):\n    {}",
                op.method,
                op.path,
                op.operation_id,
                o.failures.join("\n    ")
            )),
            Some(o) if o.validated == 0 => problems.push(format!(
                "{} {} ({}): never validated",
                op.method, op.path, op.operation_id
            )),
            Some(_) => validated += 1,
        }
    }
    // Calls to operations outside the table that nevertheless answered 200 are reported for
    // information only (they are not claimed).
    let claimed: Vec<(String, String)> = ops
        .iter()
        .map(|o| (o.method.to_owned(), o.path.to_owned()))
        .collect();
    let unclaimed: Vec<String> = run
        .outcomes
        .iter()
        .filter(|(k, o)| !claimed.contains(k) && o.validated > 0 && o.failures.is_empty())
        .map(|(k, _)| format!("{} {}", k.0, k.1))
        .collect();
    if !unclaimed.is_empty() {
        println!(
            "note: served but not in operations::all(): {}",
            unclaimed.join(", ")
        );
    }
    println!(
        "schema conformance: {validated} of {} operations validated against the 2026 spec ({} checked by content type: {})",
        ops.len(),
        non_json.len(),
        non_json.join(", ")
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The REST scenario: list first to find ids, create before update/delete.
async fn scenario(run: &mut Run) {
    // --- organisation
    run.call(req("GET", "/api/v2/company")).await;
    let offices = run.list_all("/api/v2/offices", &[], &[]).await;
    let office_id = offices.first().and_then(id_of);
    if let Some(oid) = office_id.as_deref() {
        run.call(req("GET", "/api/v2/offices/{id}").path(&[("id", oid)]))
            .await;
        run.call(req("GET", "/api/v2/offices/{id}/operators").path(&[("id", oid)]))
            .await;
        run.call(req("GET", "/api/v2/offices/{id}/e911").path(&[("id", oid)]))
            .await;
        run.call(req("GET", "/api/v2/offices/{id}/offdutystatuses").path(&[("id", oid)]))
            .await;
        run.call(req("GET", "/api/v2/offices/{office_id}/plan").path(&[("office_id", oid)]))
            .await;
        run.call(req("GET", "/api/v2/offices/{office_id}/departments").path(&[("office_id", oid)]))
            .await;
    }
    run.call(req("GET", "/api/v2/offices/primary")).await;
    let created_office = run
        .call(req("POST", "/api/v2/offices").body(json!({
            "name": "Conformance Office",
            "annual_commit_monthly_billing": false,
            "billing_address": {"address_line_1": "1 Test St", "city": "Vancouver", "country": "CA", "postal_code": "V6B 1A1", "region": "BC"},
            "country": "CA",
            // Documented as required for US, CA, AU, FR, GB, NZ.
            "e911_address": {"address": "1 Test St", "city": "Vancouver", "state": "BC", "zip": "V6B 1A1", "country": "CA"},
            "currency": "CAD",
            "invoiced": false,
            "plan_period": "monthly",
            "unified_billing": true,
            "timezone": "America/Vancouver"
        })))
        .await;
    let new_office_id = created_office
        .as_ref()
        .and_then(|o| o.get("office").and_then(id_of).or_else(|| id_of(o)))
        .or_else(|| office_id.clone());
    if let Some(oid) = new_office_id.as_deref() {
        run.call(
            req("PATCH", "/api/v2/offices/{id}")
                .path(&[("id", oid)])
                .body(json!({
                    "hours_on": true,
                    "monday_hours": ["08:00", "18:00"]
                })),
        )
        .await;
    }

    let users = run.list_all("/api/v2/users", &[], &[]).await;
    run.paged_consistency("/api/v2/users", users.len()).await;
    let user_id = users.first().and_then(id_of);
    let user2_id = users.get(1).and_then(id_of);
    if let Some(uid) = user_id.as_deref() {
        run.call(req("GET", "/api/v2/users/{id}").path(&[("id", uid)]))
            .await;
        run.call(req("GET", "/api/v2/users/{id}/personas").path(&[("id", uid)]))
            .await;
        run.call(req("GET", "/api/v2/users/{id}/caller_id").path(&[("id", uid)]))
            .await;
        run.call(req("GET", "/api/v2/users/{id}/e911").path(&[("id", uid)]))
            .await;
        run.call(
            req("PATCH", "/api/v2/users/{id}/togglednd")
                .path(&[("id", uid)])
                .body(json!({"do_not_disturb": true})),
        )
        .await;
        run.call(
            req("PATCH", "/api/v2/users/{id}/status")
                .path(&[("id", uid)])
                .body(json!({"status_message": "In a test"})),
        )
        .await;
        let devices = run
            .list_all("/api/v2/userdevices", &[], &[("user_id", uid)])
            .await;
        if let Some(did) = devices.first().and_then(id_of) {
            run.call(req("GET", "/api/v2/userdevices/{id}").path(&[("id", &did)]))
                .await;
        }
    }
    if let Some(oid) = office_id.as_deref() {
        let created = run
            .call(req("POST", "/api/v2/users").body(json!({
                "email": "conformance.user@example.com",
                "office_id": oid,
                "first_name": "Conformance",
                "last_name": "User"
            })))
            .await;
        if let Some(new_uid) = created.as_ref().and_then(id_of) {
            run.call(
                req("PATCH", "/api/v2/users/{id}")
                    .path(&[("id", &new_uid)])
                    .body(json!({"first_name": "Renamed", "job_title": "Tester"})),
            )
            .await;
            run.call(req("DELETE", "/api/v2/users/{id}").path(&[("id", &new_uid)]))
                .await;
        }
    }

    // --- contacts
    let contacts = run.list_all("/api/v2/contacts", &[], &[]).await;
    run.paged_consistency("/api/v2/contacts", contacts.len())
        .await;
    run.list_all("/api/v2/contacts", &[], &[("include_local", "true")])
        .await;
    let created = run
        .call(req("POST", "/api/v2/contacts").body(json!({
            "first_name": "Ada", "last_name": "Lovelace",
            "emails": ["ada@example.com"], "phones": ["+14155550100"], "company_name": "Engines"
        })))
        .await;
    run.call(req("PUT", "/api/v2/contacts").body(json!({
        "first_name": "Grace", "last_name": "Hopper", "uid": "conformance-1", "phones": ["+14155550101"]
    })))
    .await;
    if let Some(cid) = created.as_ref().and_then(id_of) {
        run.call(req("GET", "/api/v2/contacts/{id}").path(&[("id", &cid)]))
            .await;
        run.call(
            req("PATCH", "/api/v2/contacts/{id}")
                .path(&[("id", &cid)])
                .body(json!({"job_title": "Analyst"})),
        )
        .await;
        run.call(req("DELETE", "/api/v2/contacts/{id}").path(&[("id", &cid)]))
            .await;
    }

    // --- calls, labels, transcripts, SMS
    let calls = run.list_all("/api/v2/call", &[], &[]).await;
    run.paged_consistency("/api/v2/call", calls.len()).await;
    if let Some(cid) = calls.first().and_then(|c| str_field(c, "call_id")) {
        run.call(req("GET", "/api/v2/call/{id}").path(&[("id", &cid)]))
            .await;
    }
    // Transcripts and recaps exist only for some (completed) calls: find one that has them.
    let mut transcript_call = None;
    for c in calls.iter().take(200) {
        let Some(cid) = str_field(c, "call_id") else {
            continue;
        };
        let probe = Req {
            method: "GET",
            template: "/api/v2/transcripts/{call_id}",
            params: &[("call_id", &cid)],
            query: &[],
            body: None,
        };
        if run.send(&probe).await.is_ok_and(|r| r.status() == 200) {
            transcript_call = Some(cid);
            break;
        }
    }
    match transcript_call.as_deref() {
        Some(cid) => {
            run.call(req("GET", "/api/v2/transcripts/{call_id}").path(&[("call_id", cid)]))
                .await;
            run.call(req("GET", "/api/v2/transcripts/{call_id}/url").path(&[("call_id", cid)]))
                .await;
            run.call(req("GET", "/api/v2/call/{id}/ai_recap").path(&[("id", cid)]))
                .await;
        }
        None => {
            let msg = "no call in GET /api/v2/call has a transcript".to_owned();
            run.fail("GET", "/api/v2/transcripts/{call_id}", msg.clone());
            run.fail("GET", "/api/v2/transcripts/{call_id}/url", msg.clone());
            run.fail("GET", "/api/v2/call/{id}/ai_recap", msg);
        }
    }
    run.call(req("GET", "/api/v2/calllabels")).await;
    if let Some(uid) = user_id.as_deref() {
        let rung = run
            .call(
                req("POST", "/api/v2/call")
                    .body(json!({"phone_number": "+14155550123", "user_id": uid})),
            )
            .await;
        if let Some(cid) = rung.as_ref().and_then(|c| str_field(c, "call_id")) {
            let p = [("id", cid.as_str())];
            run.call(req("GET", "/api/v2/call/{id}").path(&p)).await;
            run.call(
                req("PUT", "/api/v2/call/{id}/labels")
                    .path(&p)
                    .body(json!({"labels": ["conformance"]})),
            )
            .await;
            let to = match user2_id.as_deref() {
                Some(u2) => json!({"target_id": u2, "target_type": "user"}),
                None => json!({"number": "+14155550124"}),
            };
            run.call(
                req("POST", "/api/v2/call/{id}/transfer")
                    .path(&p)
                    .body(json!({"to": to})),
            )
            .await;
            run.call(
                req("POST", "/api/v2/call/{id}/participants/add")
                    .path(&p)
                    .body(json!({"participant": {"number": "+14155550125"}})),
            )
            .await;
            // Parked in the app (a control route, not Dialpad's), then picked up by the user.
            if let Err(e) = run
                .send(&req("POST", "/_sim/calls/{id}/park").path(&p))
                .await
            {
                run.fail("POST", "/api/v2/call/{id}/unpark", e);
            }
            run.call(
                req("POST", "/api/v2/call/{id}/unpark")
                    .path(&p)
                    .body(json!({"user_id": uid})),
            )
            .await;
            let user = [("id", uid)];
            for on in [true, false] {
                run.call(
                    req("PATCH", "/api/v2/users/{id}/activecall")
                        .path(&user)
                        .body(json!({"is_recording": on})),
                )
                .await;
            }
            // The stretch just recorded is a recording a link can share.
            let recording = run
                .call(req("GET", "/api/v2/call/{id}").path(&p))
                .await
                .and_then(|c| c["recording_details"][0]["id"].as_str().map(str::to_owned));
            match recording {
                Some(rid) => {
                    let link = run
                        .call(req("POST", "/api/v2/recordingsharelink").body(json!({
                            "recording_id": rid, "recording_type": "callrecording", "privacy": "company"
                        })))
                        .await;
                    if let Some(lid) = link.as_ref().and_then(id_of) {
                        let l = [("id", lid.as_str())];
                        run.call(req("GET", "/api/v2/recordingsharelink/{id}").path(&l))
                            .await;
                        run.call(
                            req("PUT", "/api/v2/recordingsharelink/{id}")
                                .path(&l)
                                .body(json!({"privacy": "public"})),
                        )
                        .await;
                        run.call(req("DELETE", "/api/v2/recordingsharelink/{id}").path(&l))
                            .await;
                    }
                }
                None => run.fail(
                    "POST",
                    "/api/v2/recordingsharelink",
                    "recording through activecall left no recording_details".to_owned(),
                ),
            }
            run.call(req("PUT", "/api/v2/call/{id}/actions/hangup").path(&p))
                .await;
        }
        run.call(
            req("POST", "/api/v2/users/{id}/screenpop")
                .path(&[("id", uid)])
                .body(json!({"screen_pop_uri": "https://crm.example.com/contacts/42"})),
        )
        .await;
        run.call(
            req("POST", "/api/v2/users/{id}/initiate_call")
                .path(&[("id", uid)])
                .body(json!({"phone_number": "+14155550126"})),
        )
        .await;
        run.call(req("POST", "/api/v2/sms").body(json!({
            "user_id": uid, "to_numbers": ["+14155550127"], "text": "hello from the conformance test"
        })))
        .await;
    }

    // --- channels
    let channels = run.list_all("/api/v2/channels", &[], &[]).await;
    let _ = channels;
    let created = run
        .call(req("POST", "/api/v2/channels").body(json!({
            "name": "conformance", "description": "made by the conformance test", "privacy_type": "public", "user_id": user_id
        })))
        .await;
    if let Some(chid) = created.as_ref().and_then(id_of) {
        let p = [("id", chid.as_str())];
        run.call(req("GET", "/api/v2/channels/{id}").path(&p)).await;
        if let Some(u2) = user2_id.as_deref() {
            run.call(
                req("POST", "/api/v2/channels/{id}/members")
                    .path(&p)
                    .body(json!({"user_id": u2})),
            )
            .await;
            run.list_all("/api/v2/channels/{id}/members", &p, &[]).await;
            run.call(
                req("DELETE", "/api/v2/channels/{id}/members")
                    .path(&p)
                    .body(json!({"user_id": u2})),
            )
            .await;
        }
        run.call(req("DELETE", "/api/v2/channels/{id}").path(&p))
            .await;
    }

    // --- webhooks and subscriptions
    let hook = run
        .call(
            req("POST", "/api/v2/webhooks")
                .body(json!({"hook_url": "http://127.0.0.1:9/hook", "secret": "s3cret"})),
        )
        .await;
    run.list_all("/api/v2/webhooks", &[], &[]).await;
    if let Some(hid) = hook.as_ref().and_then(id_of) {
        let p = [("id", hid.as_str())];
        run.call(req("GET", "/api/v2/webhooks/{id}").path(&p)).await;
        run.call(
            req("PATCH", "/api/v2/webhooks/{id}")
                .path(&p)
                .body(json!({"hook_url": "http://127.0.0.1:9/hook2"})),
        )
        .await;
        // A channel to target with the channel-event subscription.
        let sub_channel = run
            .call(req("POST", "/api/v2/channels").body(json!({
                "name": "conformance-subs", "description": "target of a subscription", "privacy_type": "public", "user_id": user_id
            })))
            .await
            .as_ref()
            .and_then(id_of);
        let kinds: Vec<(&str, Value, Value)> = vec![
            (
                "call",
                json!({"call_states": ["ringing", "hangup"], "enabled": true}),
                json!({"call_states": ["hangup"]}),
            ),
            (
                "sms",
                json!({"direction": "all", "enabled": true}),
                json!({"direction": "inbound"}),
            ),
            (
                "contact",
                json!({"contact_type": "shared", "enabled": true}),
                json!({"contact_type": "local", "enabled": false}),
            ),
            (
                "agent_status",
                json!({"agent_type": "callcenter", "enabled": true}),
                json!({"enabled": false}),
            ),
            (
                "changelog",
                json!({"enabled": true}),
                json!({"enabled": false}),
            ),
            (
                "channel",
                json!({"direction": "all", "target_id": sub_channel, "enabled": true}),
                json!({"direction": "inbound"}),
            ),
            (
                "fax",
                json!({"direction": "all", "enabled": true}),
                json!({"direction": "outbound"}),
            ),
        ];
        for (kind, mut create, update) in kinds {
            create["endpoint_id"] = json!(hid);
            let base = format!("/api/v2/subscriptions/{kind}");
            let one = format!("/api/v2/subscriptions/{kind}/{{id}}");
            let sub = run.call(req("POST", &base).body(create)).await;
            run.list_all(&base, &[], &[]).await;
            if let Some(sid) = sub.as_ref().and_then(id_of) {
                let p = [("id", sid.as_str())];
                run.call(req("GET", &one).path(&p)).await;
                run.call(req("PATCH", &one).path(&p).body(update)).await;
                run.call(req("DELETE", &one).path(&p)).await;
            }
        }
        run.call(req("DELETE", "/api/v2/webhooks/{id}").path(&p))
            .await;
    }

    // --- websockets, and subscriptions whose endpoint is one
    let ws = run
        .call(req("POST", "/api/v2/websockets").body(json!({"secret": "s3cret"})))
        .await;
    run.call(req("POST", "/api/v2/websockets").body(json!({})))
        .await;
    // Enough of them for pages of 7 to carry a cursor.
    for _ in 0..7 {
        run.call(req("POST", "/api/v2/websockets")).await;
    }
    let websockets = run.list_all("/api/v2/websockets", &[], &[]).await;
    run.paged_consistency("/api/v2/websockets", websockets.len())
        .await;
    if let Some(wid) = ws.as_ref().and_then(id_of) {
        let p = [("id", wid.as_str())];
        run.call(req("GET", "/api/v2/websockets/{id}").path(&p))
            .await;
        run.call(
            req("PATCH", "/api/v2/websockets/{id}")
                .path(&p)
                .body(json!({"secret": "rotated"})),
        )
        .await;
        let sub_channel = run
            .call(req("POST", "/api/v2/channels").body(json!({
                "name": "conformance-ws", "description": "target of a websocket subscription", "privacy_type": "public", "user_id": user_id
            })))
            .await
            .as_ref()
            .and_then(id_of);
        for (kind, mut create) in [
            ("call", json!({"call_states": ["hangup"]})),
            (
                "channel",
                json!({"direction": "all", "target_id": sub_channel}),
            ),
        ] {
            create["endpoint_id"] = json!(wid);
            let base = format!("/api/v2/subscriptions/{kind}");
            let one = format!("/api/v2/subscriptions/{kind}/{{id}}");
            let sub = run.call(req("POST", &base).body(create)).await;
            run.list_all(&base, &[], &[]).await;
            if let Some(sid) = sub.as_ref().and_then(id_of) {
                let p = [("id", sid.as_str())];
                run.call(req("GET", &one).path(&p)).await;
                run.call(req("DELETE", &one).path(&p)).await;
            }
        }
        run.call(req("DELETE", "/api/v2/websockets/{id}").path(&p))
            .await;
    }
}

/// OAuth: the authorize page is HTML or a redirect (no JSON schema), so its content type and
/// redirect are asserted instead; the token endpoint is validated against its JSON schema.
/// Returns the operations checked by content type.
async fn oauth_scenario(run: &mut Run, base: &str) -> Vec<String> {
    let (m, t) = ("GET", "/oauth2/authorize");
    let redirect_uri = "http://127.0.0.1:9/callback";
    let resp = run
        .http
        .get(format!("{base}{t}"))
        .query(&[
            ("client_id", "sim-client"),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
            ("state", "xyz"),
            ("scope", "calls:list offline_access"),
        ])
        .send()
        .await;
    let mut code = None;
    match resp {
        Err(e) => run.fail(m, t, format!("request failed: {e}")),
        Ok(r) => {
            let status = r.status().as_u16();
            let location = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let ctype = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            match (status, location) {
                (302 | 303 | 307, Some(loc)) => match url::Url::parse(&loc) {
                    Ok(u) if loc.starts_with(redirect_uri) => {
                        let q: BTreeMap<String, String> = u.query_pairs().into_owned().collect();
                        if q.get("state").map(String::as_str) != Some("xyz") {
                            run.fail(m, t, format!("redirect {loc} does not carry state=xyz"));
                        }
                        code = q.get("code").cloned();
                        if code.is_none() {
                            run.fail(m, t, format!("redirect {loc} carries no code"));
                        } else {
                            run.outcomes.entry((m.into(), t.into())).or_default().validated += 1;
                        }
                    }
                    _ => run.fail(m, t, format!("redirect to {loc:?}, expected {redirect_uri}?code=…")),
                },
                (200, _) if ctype.starts_with("text/html") => {
                    // auto_consent is on: a consent page is acceptable only as HTML.
                    run.outcomes.entry((m.into(), t.into())).or_default().validated += 1;
                }
                (s, l) => run.fail(m, t, format!("HTTP {s} content-type {ctype:?} location {l:?}: expected a redirect with a code or an HTML page")),
            }
        }
    }
    if let Some(code) = code {
        let tok = run
            .call(req("POST", "/oauth2/token").body(json!({
                "grant_type": "authorization_code",
                "code": code,
                "client_id": "sim-client",
                "client_secret": "sim-client-secret",
                "redirect_uri": redirect_uri
            })))
            .await;
        if let Some(refresh) = tok.as_ref().and_then(|t| str_field(t, "refresh_token")) {
            run.call(req("POST", "/oauth2/token").body(json!({
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "client_id": "sim-client",
                "client_secret": "sim-client-secret"
            })))
            .await;
        }
        if let Some(access) = tok.as_ref().and_then(|t| str_field(t, "access_token")) {
            // Deauthorize: the spec gives 204 without a body; accept 200 `{}` or 204 empty.
            let (dm, dt) = ("POST", "/oauth2/deauthorize");
            match run
                .http
                .post(format!("{base}{dt}"))
                .bearer_auth(&access)
                .send()
                .await
            {
                Ok(r) if r.status() == 204 || r.status() == 200 => {
                    let text = r.text().await.unwrap_or_default();
                    if text.trim().is_empty()
                        || serde_json::from_str::<Value>(&text).is_ok_and(|v| v == json!({}))
                    {
                        run.outcomes
                            .entry((dm.into(), dt.into()))
                            .or_default()
                            .validated += 1;
                    } else {
                        run.fail(
                            dm,
                            dt,
                            format!("expected an empty body or {{}}, got {text}"),
                        );
                    }
                }
                Ok(r) => {
                    let s = r.status();
                    let text = r.text().await.unwrap_or_default();
                    run.fail(dm, dt, format!("HTTP {s}: {text}"));
                }
                Err(e) => run.fail(dm, dt, format!("request failed: {e}")),
            }
        }
    }
    vec![format!("{m} {t}"), "POST /oauth2/deauthorize".to_owned()]
}

/// The harness itself can fail: the adjusted schema still rejects what the spec forbids, and
/// accepts only what the two wire adjustments allow.
#[test]
fn the_validator_accepts_only_the_two_documented_adjustments() {
    let schema = common::response_schema("GET", "/api/v2/call/{id}").unwrap_or(&Value::Null);
    let v = common::validator_for_schema(schema).unwrap_or_else(|e| panic!("{e}"));
    // (a) int64 as a string of digits, or as a number.
    assert!(common::schema_errors(&v, &json!({"call_id": "4503599627370497"})).is_empty());
    assert!(common::schema_errors(&v, &json!({"call_id": 4503599627370497_i64})).is_empty());
    // ...but not any string, and a double stays a number.
    assert!(!common::schema_errors(&v, &json!({"call_id": "12ab"})).is_empty());
    assert!(!common::schema_errors(&v, &json!({"duration": "851585.0"})).is_empty());
    assert!(!common::schema_errors(&v, &json!({"call_id": {"id": 1}})).is_empty());
    // Undeclared properties are reported.
    let undeclared =
        common::undeclared_properties(schema, &json!({"call_id": "1", "invented": true}));
    assert_eq!(undeclared, vec!["/invented".to_owned()]);

    // (b) formats are annotations: a naive date-time (no zone, as Dialpad prints it) passes
    // where `date-time` is declared, though an asserting validator would refuse it.
    let date = json!({"type": "string", "format": "date-time"});
    let naive = json!("2024-01-02T03:04:05.123000");
    let v = common::validator_for_schema(&date).unwrap_or_else(|e| panic!("{e}"));
    assert!(common::schema_errors(&v, &naive).is_empty());
    assert!(!common::schema_errors(&v, &json!(20240102)).is_empty());
    let strict = jsonschema::options()
        .should_validate_formats(true)
        .build(&date);
    assert!(
        strict.is_ok_and(|s| !s.is_valid(&naive)),
        "a naive date-time should fail an asserting validator"
    );

    // Required properties stay required (the one collection whose spec requires them).
    let subs =
        common::response_schema("GET", "/api/v2/subscriptions/channel").unwrap_or(&Value::Null);
    let v = common::validator_for_schema(subs).unwrap_or_else(|e| panic!("{e}"));
    assert!(!common::schema_errors(&v, &json!({})).is_empty());
}
