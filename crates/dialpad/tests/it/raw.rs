//! The raw request method: GET and POST through `client.raw`, bodies streamed to the end.

use dialpad::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use dialpad::Method;
use futures::TryStreamExt;
use serde_json::Value;

use crate::helpers::{spawn, TestSim};

async fn read_stream(body: dialpad::raw::ByteStream) -> Vec<u8> {
    let chunks: Vec<_> = body.try_collect().await.expect("body stream");
    chunks.concat()
}

pub async fn scenario(t: &TestSim) {
    let c = &t.client;

    // GET with the query in the path, body streamed.
    let resp = c
        .raw(Method::GET, "/api/v2/users?state=active")
        .query("limit", 3)
        .send()
        .await
        .expect("raw get");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .contains("json"));
    let (status, _headers, body) = resp.into_parts();
    assert!(status.is_success());
    let v: Value = serde_json::from_slice(&read_stream(body).await).unwrap();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|u| u["state"] == "active"));
    let typed = c
        .users()
        .list()
        .state(dialpad::users::UserState::Active)
        .limit(3)
        .send()
        .await
        .unwrap();
    let raw_ids: Vec<_> = items
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    let typed_ids: Vec<_> = typed
        .items
        .iter()
        .map(|u| u.id.unwrap().to_string())
        .collect();
    assert_eq!(raw_ids, typed_ids);

    // A large body (every call), streamed chunk by chunk.
    let resp = c
        .raw(Method::GET, "/api/v2/call")
        .query_string("limit=100")
        .send()
        .await
        .unwrap();
    let bytes = read_stream(resp.into_body_stream()).await;
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 100);
    assert!(v["cursor"].is_string());

    // POST with a JSON body; a caller's Authorization header is dropped, the client's is used.
    let resp = c
        .raw(Method::POST, "/api/v2/contacts")
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(AUTHORIZATION, HeaderValue::from_static("Bearer smuggled"))
        .body(r#"{"first_name":"Raw","last_name":"Post","phones":["+14155550155"]}"#)
        .send()
        .await
        .expect("raw post");
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = serde_json::from_slice(&read_stream(resp.into_body_stream()).await).unwrap();
    let id = v["id"].as_str().expect("contact id").to_owned();
    let typed = c
        .contacts()
        .get(&id)
        .await
        .expect("typed get of raw-created contact");
    assert_eq!(typed.display_name.as_deref(), Some("Raw Post"));
    assert_eq!(typed.phones, vec!["+14155550155"]);

    // Error statuses come back as responses, not errors.
    let resp = c
        .raw(Method::GET, "/api/v2/contacts/nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(v["error"]["errors"][0]["reason"], "notFound");
}

#[tokio::test]
async fn raw_round_trip() {
    let t = spawn().await;
    scenario(&t).await;
}

#[tokio::test]
async fn raw_401_is_a_response() {
    let t = spawn().await;
    let resp = t
        .client_with_key("bad")
        .raw(Method::GET, "/api/v2/company")
        .send()
        .await
        .expect("a 401 is still a response");
    assert_eq!(resp.status().as_u16(), 401);
}
