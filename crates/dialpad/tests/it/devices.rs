//! User devices: list (by user id and `me`), get.

use futures::TryStreamExt;

use crate::helpers::{assert_api, spawn, TestSim};

pub async fn scenario(t: &TestSim) {
    let c = &t.client;
    let (user_id, expected) = {
        let db = t.handle.sim.db().read();
        let d = db.devices.values().next().expect("a seeded device");
        let uid = d.user_id;
        (
            uid,
            db.devices.values().filter(|x| x.user_id == uid).count(),
        )
    };
    let devices: Vec<_> = c
        .devices()
        .list(user_id)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(devices.len(), expected);
    assert!(devices.iter().all(|d| d.user_id == Some(user_id)));
    let first = devices[0].clone();
    let id = first.id.clone().expect("device id");
    let got = c.devices().get(&id).await.expect("get device");
    assert_eq!(got, first);
    assert!(got.device_type.is_some());

    // `me` with an OAuth token: that user's devices.
    let oauth = t.oauth_client("offline_access").await;
    let me = oauth.users().me().await.unwrap().id.unwrap();
    let mine: Vec<_> = oauth
        .devices()
        .list("me")
        .stream()
        .try_collect()
        .await
        .unwrap();
    let expected_mine = t
        .handle
        .sim
        .db()
        .read()
        .devices
        .values()
        .filter(|d| d.user_id == me)
        .count();
    assert_eq!(mine.len(), expected_mine);
    assert!(mine.iter().all(|d| d.user_id == Some(me)));

    assert_api(
        &c.devices().get("no-such-device").await.unwrap_err(),
        404,
        "notFound",
    );
}

#[tokio::test]
async fn devices_round_trip() {
    let t = spawn().await;
    scenario(&t).await;
}
