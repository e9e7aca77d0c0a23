//! Users: list filters, create, get, me (OAuth), update, delete.

use dialpad::users::{CreateUser, License, UpdateUser, UserState};
use futures::TryStreamExt;

use crate::helpers::{assert_api, spawn, TestSim};

pub async fn scenario(t: &TestSim) {
    let c = &t.client;
    let office = c.offices().primary().await.expect("primary office");
    let office_id = office.id.expect("office id");

    // Create (with a number so the number filter has something to find).
    let mut body = CreateUser::new("new.hire@example.com", office_id);
    body.first_name = Some("New".into());
    body.last_name = Some("Hire".into());
    body.auto_assign = Some(true);
    body.license = Some(License::Talk);
    let created = c.users().create(&body).await.expect("create user");
    let id = created.id.expect("id");
    assert_eq!(created.emails, vec!["new.hire@example.com".to_owned()]);
    assert_eq!(created.first_name.as_deref(), Some("New"));
    assert_eq!(created.display_name.as_deref(), Some("New Hire"));
    assert_eq!(created.office_id, Some(office_id));
    assert_eq!(created.state, Some(UserState::Active));
    assert_eq!(created.license, Some(License::Talk));
    assert_eq!(created.phone_numbers.len(), 1, "auto_assign gives a number");
    let number = created.phone_numbers[0].clone();

    // get == create response.
    assert_eq!(c.users().get(id).await.expect("get"), created);

    // Filters.
    let active: Vec<_> = c
        .users()
        .list()
        .state(UserState::Active)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert!(active.iter().all(|u| u.state == Some(UserState::Active)));
    assert!(active.iter().any(|u| u.id == Some(id)));
    let expected_active = t
        .handle
        .sim
        .db()
        .read()
        .users
        .values()
        .filter(|u| u.state == "active")
        .count();
    assert_eq!(active.len(), expected_active);

    let by_email = c
        .users()
        .list()
        .email("new.hire@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(by_email.items.len(), 1);
    assert_eq!(by_email.items[0].id, Some(id));
    assert!(!by_email.has_more());

    let by_number = c
        .users()
        .list()
        .number(number.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_number.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![Some(id)]
    );
    let nobody = c
        .users()
        .list()
        .email("nobody@nowhere.example")
        .send()
        .await
        .unwrap();
    assert!(nobody.items.is_empty());
    assert_eq!(nobody.cursor, None);

    let admins = c.users().list().company_admin(true).send().await.unwrap();
    assert!(admins.items.iter().all(|u| u.is_super_admin == Some(true)));

    // me with an OAuth token: the simulator signs in the first active company admin.
    let oauth = t.oauth_client("offline_access").await;
    let me = oauth.users().me().await.expect("me");
    let first_admin = c
        .users()
        .list()
        .state(UserState::Active)
        .company_admin(true)
        .send()
        .await
        .unwrap()
        .items
        .into_iter()
        .next()
        .expect("an active admin");
    assert_eq!(me.id, first_admin.id);
    assert_eq!(me, first_admin);
    // A company key has no user behind it: `me` is a 400.
    let err = c.users().me().await.unwrap_err();
    assert_api(&err, 400, "badRequest");

    // Update.
    let upd = UpdateUser {
        first_name: Some("Renamed".into()),
        job_title: Some("Engineer".into()),
        ..Default::default()
    };
    let updated = c.users().update(id, &upd).await.expect("update");
    assert_eq!(updated.first_name.as_deref(), Some("Renamed"));
    assert_eq!(updated.job_title.as_deref(), Some("Engineer"));
    assert_eq!(updated.last_name.as_deref(), Some("Hire"));
    assert_eq!(c.users().get(id).await.unwrap(), updated);

    // Delete: returned as deleted, then 404, only listed with state=deleted.
    let deleted = c.users().delete(id).await.expect("delete");
    assert_eq!(deleted.id, Some(id));
    assert_eq!(deleted.state, Some(UserState::Deleted));
    assert_api(&c.users().get(id).await.unwrap_err(), 404, "notFound");
    let default_list: Vec<_> = c.users().list().stream().try_collect().await.unwrap();
    assert!(!default_list.iter().any(|u| u.id == Some(id)));
    let gone: Vec<_> = c
        .users()
        .list()
        .state(UserState::Deleted)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert!(gone.iter().any(|u| u.id == Some(id)));
}

#[tokio::test]
async fn users_round_trip() {
    let t = spawn().await;
    scenario(&t).await;
}

#[tokio::test]
async fn user_create_with_unknown_office_is_400() {
    let t = spawn().await;
    let err = t
        .client
        .users()
        .create(&CreateUser::new("x@example.com", 1))
        .await
        .unwrap_err();
    let msg = assert_api(&err, 400, "badRequest");
    assert!(msg.contains("office_id"), "{msg}");
}
