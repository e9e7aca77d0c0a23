//! The organisation through HTTP: company, offices, users and user devices: shapes (ids as
//! strings, nulls and empty lists omitted), filters, pagination to the end, and
//! create → get → list → update → delete consistency.

use dialpad_sim::{SimConfig, SimHandle};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

struct T {
    sim: SimHandle,
    http: Client,
}

impl T {
    async fn new() -> Self {
        let sim = dialpad_sim::spawn(SimConfig::default())
            .await
            .expect("spawn simulator");
        T {
            sim,
            http: Client::new(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.sim.base_url))
            .bearer_auth(&self.sim.api_key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let v =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body for {path}: {text}"));
        no_nulls(&v, path);
        (status, v)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// Every item of a listing, following cursors.
    async fn all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{sep}cursor={c}"),
                None => path.to_owned(),
            };
            let (status, page) = self.get(&url).await;
            assert_eq!(status, StatusCode::OK, "{url}: {page}");
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page.get("cursor").and_then(Value::as_str) {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
        panic!("{path}: pagination never ended");
    }
}

/// Dialpad omits null fields and empty lists.
fn no_nulls(v: &Value, ctx: &str) {
    match v {
        Value::Null => panic!("{ctx}: null in response"),
        Value::Array(a) => a.iter().for_each(|x| no_nulls(x, ctx)),
        Value::Object(m) => {
            for (k, x) in m {
                assert!(
                    !matches!(x, Value::Array(a) if a.is_empty()),
                    "{ctx}: empty list {k}"
                );
                no_nulls(x, ctx);
            }
        }
        _ => {}
    }
}

fn is_id_string(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| !s.is_empty() && s.parse::<i64>().is_ok())
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, mention: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], json!(expected.as_u16()), "{body}");
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(mention),
        "message {msg:?} should mention {mention:?}"
    );
    assert!(body["error"]["errors"][0]["reason"].is_string(), "{body}");
}

fn office_body() -> Value {
    json!({
        "name": "Toronto",
        "country": "CA",
        "currency": "CAD",
        "plan_period": "monthly",
        "annual_commit_monthly_billing": false,
        "invoiced": true,
        "unified_billing": true,
        "billing_address": {
            "address_line_1": "100 King St W", "city": "Toronto", "country": "CA",
            "postal_code": "M5X 1A9", "region": "ON"
        },
        "e911_address": {
            "address": "100 King St W", "city": "Toronto", "country": "CA", "state": "ON", "zip": "M5X 1A9"
        },
        "timezone": "America/Toronto",
        "monday_hours": ["09:00", "12:00", "13:00", "17:00"]
    })
}

#[tokio::test]
async fn company_has_its_offices_and_admin() {
    let t = T::new().await;
    let (status, c) = t.get("/api/v2/company").await;
    assert_eq!(status, StatusCode::OK);
    assert!(is_id_string(&c["id"]), "{c}");
    assert_eq!(c["office_count"], json!("3"));
    assert_eq!(c["state"], json!("active"));
    let domain = c["domain"].as_str().expect("domain");
    assert!(c["admin_email"]
        .as_str()
        .expect("admin_email")
        .ends_with(domain));
    assert!(c["name"].as_str().is_some_and(|n| !n.is_empty()));

    // Without a key: 401 in Dialpad's envelope.
    let resp = t
        .http
        .get(format!("{}/api/v2/company", t.sim.base_url))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], json!(401));
}

#[tokio::test]
async fn offices_list_get_primary() {
    let t = T::new().await;
    let offices = t.all("/api/v2/offices").await;
    assert_eq!(offices.len(), 3);
    let primaries: Vec<&Value> = offices
        .iter()
        .filter(|o| o["is_primary_office"] == json!(true))
        .collect();
    assert_eq!(primaries.len(), 1);
    for o in &offices {
        assert!(is_id_string(&o["id"]), "{o}");
        assert_eq!(o["id"], o["office_id"]);
        assert!(
            o["phone_numbers"][0]
                .as_str()
                .is_some_and(|n| n.starts_with('+')),
            "{o}"
        );
        assert!(["open", "closed"].contains(&o["availability_status"].as_str().unwrap_or_default()));
        assert!(o["monday_hours"].is_array());
        assert!(o["e911_address"]["city"].is_string());
        assert!(o["ring_seconds"].is_string(), "int64 as string: {o}");
    }
    let (status, primary) = t.get("/api/v2/offices/primary").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(primary["id"], primaries[0]["id"]);

    let id = offices[1]["id"].as_str().expect("id");
    let (status, one) = t.get(&format!("/api/v2/offices/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["name"], offices[1]["name"]);
    // Trailing slash is accepted.
    let (status, _) = t.get(&format!("/api/v2/offices/{id}/")).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = t.get("/api/v2/offices/123").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "Office");
    let (status, body) = t.get("/api/v2/offices/abc").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "id");

    let (status, page) = t.get("/api/v2/offices?active_only=True&limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    assert!(page["cursor"].is_string());
}

#[tokio::test]
async fn office_create_validates_then_creates_and_updates() {
    let t = T::new().await;
    // Each required field, when missing, is named.
    for field in [
        "name",
        "country",
        "currency",
        "plan_period",
        "invoiced",
        "unified_billing",
        "billing_address",
    ] {
        let mut body = office_body();
        body.as_object_mut().map(|m| m.remove(field));
        let (status, err) = t.call(Method::POST, "/api/v2/offices", Some(body)).await;
        assert_error(status, &err, StatusCode::BAD_REQUEST, field);
    }
    let mut body = office_body();
    body["billing_address"]
        .as_object_mut()
        .map(|m| m.remove("postal_code"));
    let (status, err) = t.call(Method::POST, "/api/v2/offices", Some(body)).await;
    assert_error(
        status,
        &err,
        StatusCode::BAD_REQUEST,
        "billing_address.postal_code",
    );
    let mut body = office_body();
    body.as_object_mut().map(|m| m.remove("e911_address"));
    let (status, err) = t.call(Method::POST, "/api/v2/offices", Some(body)).await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "e911_address");
    let mut body = office_body();
    body["currency"] = json!("XYZ");
    let (status, err) = t.call(Method::POST, "/api/v2/offices", Some(body)).await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "currency");
    let mut body = office_body();
    body["tuesday_hours"] = json!(["18:00", "08:00"]);
    let (status, err) = t.call(Method::POST, "/api/v2/offices", Some(body)).await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "tuesday_hours");

    let (status, created) = t
        .call(Method::POST, "/api/v2/offices", Some(office_body()))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let office = &created["office"];
    assert!(is_id_string(&office["id"]));
    assert_eq!(office["name"], json!("Toronto"));
    assert_eq!(office["country"], json!("ca"));
    assert_eq!(office["is_primary_office"], json!(false));
    assert_eq!(
        office["monday_hours"],
        json!(["09:00", "12:00", "13:00", "17:00"])
    );
    assert_eq!(
        office["tuesday_hours"],
        json!(["08:00", "18:00"]),
        "spec default hours"
    );
    assert!(
        office.get("saturday_hours").is_none(),
        "closed days are empty, so omitted"
    );
    assert_eq!(created["plan"]["ppu_address"]["city"], json!("Toronto"));
    let id = office["id"].as_str().expect("id").to_owned();

    let (_, got) = t.get(&format!("/api/v2/offices/{id}")).await;
    assert_eq!(got["name"], json!("Toronto"));
    assert_eq!(t.all("/api/v2/offices").await.len(), 4);
    let (_, company) = t.get("/api/v2/company").await;
    assert_eq!(company["office_count"], json!("4"));

    let patch = json!({"saturday_hours": ["10:00", "14:00"], "monday_hours": ["07:30", "19:00"], "hours_on": true});
    let (status, updated) = t
        .call(Method::PATCH, &format!("/api/v2/offices/{id}"), Some(patch))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        updated["office"]["saturday_hours"],
        json!(["10:00", "14:00"])
    );
    assert!(updated["plan"].is_object());
    let (_, got) = t.get(&format!("/api/v2/offices/{id}")).await;
    assert_eq!(got["monday_hours"], json!(["07:30", "19:00"]));
    assert_eq!(got["name"], json!("Toronto"), "untouched fields stay");

    let (status, err) = t
        .call(
            Method::PATCH,
            &format!("/api/v2/offices/{id}"),
            Some(json!({"friday_hours": ["8am"]})),
        )
        .await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "friday_hours");
    let (status, err) = t
        .call(Method::PATCH, "/api/v2/offices/42", Some(json!({})))
        .await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "Office");
}

#[tokio::test]
async fn users_list_filters_and_pages() {
    let t = T::new().await;
    let users = t.all("/api/v2/users?limit=7").await;
    assert!(users.len() >= 20, "{} users", users.len());
    let mut ids: Vec<&str> = users.iter().filter_map(|u| u["id"].as_str()).collect();
    assert_eq!(ids.len(), users.len(), "every id is a string");
    ids.dedup();
    assert_eq!(ids.len(), users.len(), "no duplicates across pages");
    for u in &users {
        assert!(
            is_id_string(&u["office_id"]) && is_id_string(&u["company_id"]),
            "{u}"
        );
        assert!(
            u["emails"][0].as_str().is_some_and(|e| e.contains('@')),
            "{u}"
        );
        assert!(
            u["voicemail"].is_object() && u["onboarding_completed"].is_boolean(),
            "{u}"
        );
        if let Some(d) = u.get("date_added") {
            let d = d.as_str().expect("date string");
            assert!(d.contains('T') && !d.ends_with('Z'), "naive ISO: {d}");
        }
    }

    let suspended = t.all("/api/v2/users?state=suspended").await;
    assert_eq!(suspended.len(), 1);
    assert_eq!(suspended[0]["state"], json!("suspended"));
    let active = t.all("/api/v2/users?state=active").await;
    assert!(active.iter().all(|u| u["state"] == json!("active")));
    assert!(active.len() < users.len());

    let admins = t.all("/api/v2/users?company_admin=True").await;
    assert_eq!(admins.len(), 1);
    assert_eq!(admins[0]["is_super_admin"], json!(true));
    assert_eq!(
        admins[0]["id"], users[0]["id"],
        "the first user is the admin"
    );
    let non_admins = t.all("/api/v2/users?company_admin=false").await;
    assert_eq!(non_admins.len() + 1, users.len());

    let email = users[3]["emails"][0].as_str().expect("email");
    let by_email = t
        .all(&format!("/api/v2/users?email={}", email.to_uppercase()))
        .await;
    assert_eq!(by_email.len(), 1);
    assert_eq!(by_email[0]["id"], users[3]["id"]);

    let number = users[0]["phone_numbers"][0].as_str().expect("number");
    let encoded = number.replace('+', "%2B");
    let by_number = t.all(&format!("/api/v2/users?number={encoded}")).await;
    assert_eq!(by_number.len(), 1);
    assert_eq!(by_number[0]["id"], users[0]["id"]);

    let (status, err) = t.get("/api/v2/users?state=sleeping").await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "state");
    let (status, err) = t.get("/api/v2/users?company_admin=maybe").await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "company_admin");

    // Over 100: capped at 100.
    let (status, page) = t.get("/api/v2/users?limit=500").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(users.len()));
}

#[tokio::test]
async fn user_create_get_update_delete() {
    let t = T::new().await;
    let (_, primary) = t.get("/api/v2/offices/primary").await;
    let office_id = primary["id"].as_str().expect("office id").to_owned();

    let (status, err) = t
        .call(
            Method::POST,
            "/api/v2/users",
            Some(json!({"office_id": office_id})),
        )
        .await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "email");
    let (status, err) = t
        .call(
            Method::POST,
            "/api/v2/users",
            Some(json!({"email": "x@new.example.com"})),
        )
        .await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "office_id");
    let (status, err) = t
        .call(
            Method::POST,
            "/api/v2/users",
            Some(json!({"email": "x@new.example.com", "office_id": "1"})),
        )
        .await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "office_id");
    let (status, err) = t
        .call(
            Method::POST,
            "/api/v2/users",
            Some(json!({"email": "nope", "office_id": office_id})),
        )
        .await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "email");

    let (_, company) = t.get("/api/v2/company").await;
    let admin_email = company["admin_email"]
        .as_str()
        .expect("admin email")
        .to_owned();
    let (status, err) = t
        .call(
            Method::POST,
            "/api/v2/users",
            Some(json!({"email": admin_email, "office_id": office_id})),
        )
        .await;
    assert_error(status, &err, StatusCode::CONFLICT, "already exists");

    let before = t.all("/api/v2/users").await.len();
    // office_id as a JSON number works too.
    let office_num: i64 = office_id.parse().expect("int");
    let body = json!({"email": "grace.hopper@new.example.com", "office_id": office_num,
                      "first_name": "Grace", "last_name": "Hopper", "license": "talk", "auto_assign": true});
    let (status, user) = t.call(Method::POST, "/api/v2/users", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    let id = user["id"].as_str().expect("id").to_owned();
    assert_eq!(user["display_name"], json!("Grace Hopper"));
    assert_eq!(user["office_id"], json!(office_id));
    assert_eq!(user["state"], json!("active"));
    assert!(
        user["phone_numbers"][0]
            .as_str()
            .is_some_and(|n| n.starts_with('+')),
        "auto_assign: {user}"
    );

    let (status, got) = t.get(&format!("/api/v2/users/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, user);
    assert_eq!(t.all("/api/v2/users").await.len(), before + 1);

    let number = user["phone_numbers"][0].clone();
    let patch = json!({
        "first_name": "Amazing", "job_title": "Rear Admiral",
        "emails": ["grace@new.example.com", "grace.hopper@new.example.com"],
        "forwarding_numbers": ["+14155550123"], "state": "suspended",
        "presence_status": {"provider": "Highfive", "message": "In a meeting"},
        "phone_numbers": [number]
    });
    let (status, updated) = t
        .call(Method::PATCH, &format!("/api/v2/users/{id}"), Some(patch))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["display_name"], json!("Amazing Hopper"));
    assert_eq!(updated["emails"][0], json!("grace@new.example.com"));
    assert_eq!(updated["state"], json!("suspended"));
    assert_eq!(updated["status_message"], json!("Highfive: In a meeting"));
    assert_eq!(
        updated["last_name"],
        json!("Hopper"),
        "untouched fields stay"
    );
    let (_, got) = t.get(&format!("/api/v2/users/{id}")).await;
    assert_eq!(got, updated);

    let (status, cleared) = t
        .call(
            Method::PATCH,
            &format!("/api/v2/users/{id}"),
            Some(json!({"presence_status": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(cleared.get("status_message").is_none());

    // Refused updates change nothing.
    for (patch, code, mention) in [
        (
            json!({"state": "deleted"}),
            StatusCode::BAD_REQUEST,
            "state",
        ),
        (
            json!({"phone_numbers": ["+14155559999"]}),
            StatusCode::BAD_REQUEST,
            "phone_numbers",
        ),
        (
            json!({"forwarding_numbers": ["555"]}),
            StatusCode::BAD_REQUEST,
            "forwarding_numbers",
        ),
        (
            json!({"emails": [admin_email]}),
            StatusCode::CONFLICT,
            "already exists",
        ),
        (
            json!({"office_id": 7}),
            StatusCode::BAD_REQUEST,
            "office_id",
        ),
        (
            json!({"first_name": ""}),
            StatusCode::BAD_REQUEST,
            "first_name",
        ),
    ] {
        let (status, err) = t
            .call(Method::PATCH, &format!("/api/v2/users/{id}"), Some(patch))
            .await;
        assert_error(status, &err, code, mention);
    }
    let (_, got) = t.get(&format!("/api/v2/users/{id}")).await;
    assert_eq!(got, cleared);

    let (status, deleted) = t
        .call(Method::DELETE, &format!("/api/v2/users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["id"], json!(id));
    assert_eq!(deleted["state"], json!("deleted"));
    let (status, err) = t.get(&format!("/api/v2/users/{id}")).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "User");
    let (status, _) = t
        .call(Method::DELETE, &format!("/api/v2/users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(t.all("/api/v2/users").await.len(), before);
    let gone = t.all("/api/v2/users?state=deleted").await;
    assert!(gone.iter().any(|u| u["id"] == json!(id)));
    assert!(t.all("/api/v2/users?state=all").await.len() > before);
    // The email is free again.
    let (status, _) = t
        .call(
            Method::POST,
            "/api/v2/users",
            Some(json!({"email": "grace@new.example.com", "office_id": office_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn users_me_needs_a_user_level_token() {
    let t = T::new().await;
    let (status, err) = t.get("/api/v2/users/me").await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "me");
    let (status, err) = t.get("/api/v2/users/12x").await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "id");
    let (status, err) = t.get("/api/v2/users/12").await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "User");
}

#[tokio::test]
async fn user_devices_list_and_get() {
    let t = T::new().await;
    let devices = t.all("/api/v2/userdevices?limit=10").await;
    assert!(devices.len() >= 20, "{} devices", devices.len());
    for d in &devices {
        assert!(
            d["id"].is_string() && is_id_string(&d["user_id"]) && d["type"].is_string(),
            "{d}"
        );
    }
    let users = t.all("/api/v2/users?state=active").await;
    let uid = users[1]["id"].as_str().expect("id");
    let mine = t.all(&format!("/api/v2/userdevices?user_id={uid}")).await;
    assert!((1..=3).contains(&mine.len()), "{} devices", mine.len());
    assert!(mine.iter().all(|d| d["user_id"] == json!(uid)));

    let did = mine[0]["id"].as_str().expect("id");
    let (status, one) = t.get(&format!("/api/v2/userdevices/{did}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one, mine[0]);
    let (status, err) = t.get("/api/v2/userdevices/nope").await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "Device");
    let (status, err) = t.get("/api/v2/userdevices?user_id=me").await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "user_id");
    let (status, err) = t.get("/api/v2/userdevices?user_id=99").await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "User");

    // Deleting a user removes their devices.
    let (status, _) = t
        .call(Method::DELETE, &format!("/api/v2/users/{uid}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = t.get(&format!("/api/v2/userdevices/{did}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn same_seed_same_organisation() {
    let a = T::new().await;
    let b = T::new().await;
    for path in [
        "/api/v2/company",
        "/api/v2/offices",
        "/api/v2/users",
        "/api/v2/userdevices",
        "/api/v2/contacts",
    ] {
        let (_, x) = a.get(path).await;
        let (_, y) = b.get(path).await;
        assert_eq!(x, y, "{path} differs between two runs of seed 1");
    }
    let other = dialpad_sim::spawn(SimConfig {
        seed: 2,
        ..SimConfig::default()
    })
    .await
    .expect("spawn");
    let c = T {
        sim: other,
        http: Client::new(),
    };
    let (_, x) = a.get("/api/v2/users").await;
    let (_, y) = c.get("/api/v2/users").await;
    assert_ne!(x, y, "another seed, another company");
}

#[tokio::test]
async fn seeded_contacts_shared_and_local() {
    let t = T::new().await;
    let shared = t.all("/api/v2/contacts").await;
    assert!(shared.len() >= 50, "{} shared contacts", shared.len());
    assert!(shared.iter().all(|c| c["type"] == json!("shared")));
    let all = t.all("/api/v2/contacts?include_local=true").await;
    let local: Vec<&Value> = all.iter().filter(|c| c["type"] == json!("local")).collect();
    assert!(local.len() >= 15, "{} local contacts", local.len());
    let users = t.all("/api/v2/users").await;
    for c in local {
        assert!(
            users.iter().any(|u| u["id"] == c["owner_id"]),
            "owner of {c} is a user"
        );
    }
}
