//! Offices (list, get, primary, create, update hours) and the company.

use dialpad::company::AccountType;
use dialpad::offices::{BillingAddress, CreateOffice, E911Address, OfficeHours, UpdateOffice};
use futures::TryStreamExt;

use crate::helpers::{spawn, TestSim};

fn new_office() -> CreateOffice {
    CreateOffice {
        name: "Integration Branch".into(),
        country: "US".into(),
        currency: "USD".into(),
        plan_period: "monthly".into(),
        annual_commit_monthly_billing: false,
        invoiced: false,
        unified_billing: true,
        billing_address: BillingAddress {
            address_line_1: Some("1 Main St".into()),
            city: Some("Springfield".into()),
            country: Some("US".into()),
            postal_code: Some("94105".into()),
            region: Some("CA".into()),
            ..Default::default()
        },
        e911_address: Some(E911Address {
            address: Some("1 Main St".into()),
            city: Some("Springfield".into()),
            state: Some("CA".into()),
            zip: Some("94105".into()),
            country: Some("US".into()),
            ..Default::default()
        }),
        timezone: Some("America/Los_Angeles".into()),
        hours: OfficeHours {
            monday_hours: Some(vec!["09:00".into(), "17:00".into()]),
            ..Default::default()
        },
        ..Default::default()
    }
}

pub async fn scenario(t: &TestSim) {
    let c = &t.client;

    let company = c.company().get().await.expect("company");
    assert!(company.id.is_some());
    assert!(company.name.as_deref().is_some_and(|n| !n.is_empty()));
    assert!(matches!(
        company.account_type,
        Some(
            AccountType::Enterprise | AccountType::Pro | AccountType::Standard | AccountType::Free
        )
    ));

    let before: Vec<_> = c.offices().list().stream().try_collect().await.unwrap();
    assert_eq!(before.len(), t.handle.sim.db().read().offices.len());
    let primary = c.offices().primary().await.expect("primary");
    assert_eq!(primary.is_primary_office, Some(true));
    assert!(before.iter().any(|o| o.id == primary.id));
    assert_eq!(
        before
            .iter()
            .filter(|o| o.is_primary_office == Some(true))
            .count(),
        1
    );
    let got = c.offices().get(primary.id.unwrap()).await.expect("get");
    assert_eq!(got, primary);
    let active: Vec<_> = c
        .offices()
        .list()
        .active_only(true)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert!(active
        .iter()
        .all(|o| o.state == Some(dialpad::users::UserState::Active)));

    // Create.
    let created = c.offices().create(&new_office()).await.expect("create");
    let office = created.office.expect("office in response");
    assert!(created.plan.is_some(), "plan in response");
    let id = office.id.expect("id");
    assert_eq!(office.name.as_deref(), Some("Integration Branch"));
    // The simulator (like Dialpad) answers with a lower-case country code.
    assert!(office
        .country
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case("US")));
    assert_eq!(office.is_primary_office, Some(false));
    assert_eq!(
        office.monday_hours,
        vec!["09:00".to_owned(), "17:00".to_owned()]
    );
    assert_eq!(office.phone_numbers.len(), 1, "a main line is provisioned");
    let after: Vec<_> = c.offices().list().stream().try_collect().await.unwrap();
    assert_eq!(after.len(), before.len() + 1);
    assert!(after.iter().any(|o| o.id == Some(id)));

    // Update hours.
    let upd = UpdateOffice {
        hours_on: Some(true),
        hours: OfficeHours {
            tuesday_hours: Some(vec![
                "08:00".into(),
                "12:00".into(),
                "13:00".into(),
                "17:30".into(),
            ]),
            saturday_hours: Some(vec![]),
            ..Default::default()
        },
    };
    let updated = c.offices().update(id, &upd).await.expect("update");
    let o = updated.office.expect("office in update response");
    assert_eq!(o.tuesday_hours, vec!["08:00", "12:00", "13:00", "17:30"]);
    assert_eq!(o.monday_hours, vec!["09:00", "17:00"], "untouched day kept");
    assert!(o.saturday_hours.is_empty());
    let reread = c.offices().get(id).await.unwrap();
    assert_eq!(reread.tuesday_hours, o.tuesday_hours);
    assert_eq!(reread.monday_hours, o.monday_hours);
}

#[tokio::test]
async fn offices_and_company_round_trip() {
    let t = spawn().await;
    scenario(&t).await;
}

#[tokio::test]
async fn office_bad_hours_are_400() {
    let t = spawn().await;
    let primary = t.client.offices().primary().await.unwrap();
    let upd = UpdateOffice {
        hours_on: None,
        hours: OfficeHours {
            monday_hours: Some(vec!["17:00".into(), "09:00".into()]),
            ..Default::default()
        },
    };
    let err = t
        .client
        .offices()
        .update(primary.id.unwrap(), &upd)
        .await
        .unwrap_err();
    let msg = crate::helpers::assert_api(&err, 400, "badRequest");
    assert!(msg.contains("monday_hours"), "{msg}");
}
