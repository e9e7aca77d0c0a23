//! Contacts: list filters, create, create-or-update by uid, get, update, delete.

use dialpad::contacts::{ContactType, CreateContact, UpdateContact, UpsertContact};
use futures::TryStreamExt;

use crate::helpers::{assert_api, some_user_id, spawn, TestSim};

pub async fn scenario(t: &TestSim) {
    let c = &t.client;
    let owner = some_user_id(c).await;

    // Shared contact.
    let mut body = CreateContact::new("Ada", "Lovelace");
    body.company_name = Some("Analytical Engines".into());
    body.emails = vec!["ada@example.com".into()];
    body.phones = vec!["+14155550123".into()];
    body.job_title = Some("Programmer".into());
    let shared = c.contacts().create(&body).await.expect("create shared");
    let shared_id = shared.id.clone().expect("id");
    assert_eq!(shared.first_name.as_deref(), Some("Ada"));
    assert_eq!(shared.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(shared.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(shared.company_name.as_deref(), Some("Analytical Engines"));
    assert_eq!(shared.emails, vec!["ada@example.com".to_owned()]);
    assert_eq!(shared.primary_email.as_deref(), Some("ada@example.com"));
    assert_eq!(shared.primary_phone.as_deref(), Some("+14155550123"));
    assert_eq!(shared.contact_type, Some(ContactType::Shared));
    assert_eq!(shared.owner_id, None);

    // Local contact owned by a user.
    let mut local = CreateContact::new("Charles", "Babbage");
    local.owner_id = Some(owner.to_string());
    let local = c.contacts().create(&local).await.expect("create local");
    let local_id = local.id.clone().expect("id");
    assert_eq!(local.contact_type, Some(ContactType::Local));
    assert_eq!(local.owner_id.as_deref(), Some(owner.to_string().as_str()));

    // Default list: shared only.
    let all: Vec<_> = c.contacts().list().stream().try_collect().await.unwrap();
    let ids: Vec<_> = all.iter().filter_map(|x| x.id.clone()).collect();
    assert!(ids.contains(&shared_id));
    assert!(!ids.contains(&local_id), "local contact in default list");
    let with_local: Vec<_> = c
        .contacts()
        .list()
        .include_local(true)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert!(with_local.iter().any(|x| x.id.as_ref() == Some(&local_id)));
    assert_eq!(with_local.len(), t.handle.sim.db().read().contacts.len());
    let owned: Vec<_> = c
        .contacts()
        .list()
        .owner_id(owner)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert!(owned.iter().any(|x| x.id.as_ref() == Some(&local_id)));
    assert!(owned
        .iter()
        .all(|x| x.owner_id.as_deref() == Some(owner.to_string().as_str())));
    assert!(!owned.iter().any(|x| x.id.as_ref() == Some(&shared_id)));

    // Create or update by uid, twice: same id, updated fields.
    let mut up = UpsertContact::new("crm-42", "Grace", "Hopper");
    up.phones = vec!["+14155550199".into()];
    let first = c.contacts().create_or_update(&up).await.expect("upsert 1");
    let uid_id = first.id.clone().expect("id");
    assert_eq!(first.first_name.as_deref(), Some("Grace"));
    let before = t.handle.sim.db().read().contacts.len();
    up.last_name = "Murray Hopper".into();
    up.job_title = Some("Rear Admiral".into());
    let second = c.contacts().create_or_update(&up).await.expect("upsert 2");
    assert_eq!(second.id.as_deref(), Some(uid_id.as_str()));
    assert_eq!(second.last_name.as_deref(), Some("Murray Hopper"));
    assert_eq!(second.job_title.as_deref(), Some("Rear Admiral"));
    assert_eq!(second.contact_type, Some(ContactType::Shared));
    assert_eq!(t.handle.sim.db().read().contacts.len(), before);

    // Get returns what was created.
    let got = c.contacts().get(&shared_id).await.expect("get");
    assert_eq!(got, shared);

    // Update changes only what is given.
    let upd = UpdateContact {
        job_title: Some("Countess".into()),
        phones: Some(vec!["+442071234567".into()]),
        ..Default::default()
    };
    let updated = c.contacts().update(&shared_id, &upd).await.expect("update");
    assert_eq!(updated.job_title.as_deref(), Some("Countess"));
    assert_eq!(updated.phones, vec!["+442071234567".to_owned()]);
    assert_eq!(updated.primary_phone.as_deref(), Some("+442071234567"));
    assert_eq!(updated.first_name.as_deref(), Some("Ada"));
    assert_eq!(updated.emails, shared.emails);
    assert_eq!(c.contacts().get(&shared_id).await.unwrap(), updated);

    // Delete returns the contact; then it is gone.
    let deleted = c.contacts().delete(&shared_id).await.expect("delete");
    assert_eq!(deleted.id.as_deref(), Some(shared_id.as_str()));
    let err = c.contacts().get(&shared_id).await.unwrap_err();
    let msg = assert_api(&err, 404, "notFound");
    assert!(msg.contains("Contact"), "{msg}");
    assert!(err.is_not_found());
    let after: Vec<_> = c.contacts().list().stream().try_collect().await.unwrap();
    assert!(!after.iter().any(|x| x.id.as_ref() == Some(&shared_id)));
    for id in [&local_id, &uid_id] {
        c.contacts().delete(id).await.expect("cleanup");
    }
}

#[tokio::test]
async fn contacts_round_trip() {
    let t = spawn().await;
    scenario(&t).await;
}

#[tokio::test]
async fn contact_with_bad_phone_is_400() {
    let t = spawn().await;
    let mut body = CreateContact::new("Bad", "Phone");
    body.phones = vec!["12345".into()];
    let err = t.client.contacts().create(&body).await.unwrap_err();
    let msg = assert_api(&err, 400, "badRequest");
    assert!(msg.contains("phones"), "{msg}");
    let err = t
        .client
        .contacts()
        .delete("no-such-contact")
        .await
        .unwrap_err();
    assert_api(&err, 404, "notFound");
}
