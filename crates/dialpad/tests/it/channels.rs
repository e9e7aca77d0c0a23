//! Channels: list, create, get, members list/add/remove, delete.

use dialpad::channels::{CreateChannel, PrivacyType};
use futures::TryStreamExt;

use crate::helpers::{assert_api, spawn, TestSim};

pub async fn scenario(t: &TestSim) {
    let c = &t.client;
    let users: Vec<i64> = c
        .users()
        .list()
        .state(dialpad::users::UserState::Active)
        .send()
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|u| u.id)
        .take(2)
        .collect();
    let (owner, other) = (users[0], users[1]);

    let before: Vec<_> = c.channels().list().stream().try_collect().await.unwrap();
    assert_eq!(before.len(), t.handle.sim.db().read().channels.len());

    let mut body = CreateChannel::new("it-channel", "Integration tests", PrivacyType::Public);
    body.user_id = Some(owner);
    let created = c.channels().create(&body).await.expect("create channel");
    let id = created.id.expect("id");
    assert_eq!(created.name.as_deref(), Some("it-channel"));
    assert_eq!(c.channels().get(id).await.expect("get"), created);

    let after: Vec<_> = c.channels().list().stream().try_collect().await.unwrap();
    assert_eq!(after.len(), before.len() + 1);
    assert!(after.contains(&created));
    let active: Vec<_> = c
        .channels()
        .list()
        .state("active")
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert!(active.contains(&created));

    // The owner is the first member.
    let members: Vec<_> = c
        .channels()
        .members(id)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        members.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![Some(owner)]
    );

    let added = c
        .channels()
        .add_member(id, other)
        .await
        .expect("add member");
    assert_eq!(added.id, Some(other));
    let members: Vec<_> = c
        .channels()
        .members(id)
        .stream()
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<_> = members.iter().filter_map(|m| m.id).collect();
    assert_eq!(ids, vec![owner, other]);

    c.channels()
        .remove_member(id, other)
        .await
        .expect("remove member");
    let members = c.channels().members(id).send().await.unwrap();
    assert_eq!(
        members
            .items
            .iter()
            .filter_map(|m| m.id)
            .collect::<Vec<_>>(),
        vec![owner]
    );
    assert_api(
        &c.channels().remove_member(id, other).await.unwrap_err(),
        404,
        "notFound",
    );

    c.channels().delete(id).await.expect("delete");
    assert_api(&c.channels().get(id).await.unwrap_err(), 404, "notFound");
    let last: Vec<_> = c.channels().list().stream().try_collect().await.unwrap();
    assert_eq!(last.len(), before.len());
}

#[tokio::test]
async fn channels_round_trip() {
    let t = spawn().await;
    scenario(&t).await;
}
