//! Calls: filtered listing streamed to the end, get, ring, add participant, transfer, hang up,
//! labels and the company's call labels.

use dialpad::calls::{
    CallState, Direction, Participant, RingCall, TransferCall, TransferDestination, TransferState,
};
use dialpad::users::TargetType;
use futures::TryStreamExt;

use crate::helpers::{assert_api, some_user_id, spawn, TestSim};

pub async fn scenario(t: &TestSim) {
    let c = &t.client;

    // Everything, streamed across pages, equals the simulator's concluded calls.
    let all: Vec<_> = c.calls().list().stream().try_collect().await.unwrap();
    let (mut starts, ended, user_target) = {
        let db = t.handle.sim.db().read();
        let ended: Vec<_> = db
            .calls
            .values()
            .filter(|x| x.date_ended.is_some())
            .collect();
        let starts: Vec<i64> = ended.iter().filter_map(|x| x.date_started).collect();
        let user_target = ended
            .iter()
            .find(|x| x.target_type == "user")
            .map(|x| x.target_id)
            .expect("a call with a user target");
        (starts, ended.len(), user_target)
    };
    assert!(all.len() > 100, "seed should need several pages");
    assert_eq!(all.len(), ended);
    assert!(all
        .iter()
        .all(|x| x.call_id.is_some() && x.date_ended.is_some()));
    // Newest first.
    let listed: Vec<i64> = all
        .iter()
        .map(|x| x.date_started.unwrap().as_millis())
        .collect();
    assert!(listed.windows(2).all(|w| w[0] >= w[1]));

    // A started_after/started_before window.
    starts.sort_unstable();
    let (after, before) = (starts[starts.len() / 4], starts[3 * starts.len() / 4]);
    let expected = starts.iter().filter(|&&s| s > after && s < before).count();
    let window: Vec<_> = c
        .calls()
        .list()
        .started_after_millis(after)
        .started_before_millis(before)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(window.len(), expected);
    assert!(window.iter().all(|x| {
        let s = x.date_started.unwrap().as_millis();
        s > after && s < before
    }));
    // The chrono variant sends the same thing.
    let dt = chrono::DateTime::from_timestamp_millis(after).unwrap();
    let via_chrono = c
        .calls()
        .list()
        .started_after(dt)
        .started_before(chrono::DateTime::from_timestamp_millis(before).unwrap());
    assert_eq!(
        via_chrono
            .stream()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .len(),
        expected
    );

    // Target filter.
    let expected_target = {
        let db = t.handle.sim.db().read();
        db.calls
            .values()
            .filter(|x| {
                x.date_ended.is_some() && x.target_type == "user" && x.target_id == user_target
            })
            .count()
    };
    let by_target: Vec<_> = c
        .calls()
        .list()
        .target_id(user_target)
        .target_type(TargetType::User)
        .include_anonymized(true)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(by_target.len(), expected_target);
    assert!(!by_target.is_empty());

    // Get a listed call: same object.
    let first = all[0].clone();
    let got = c
        .calls()
        .get(first.call_id.unwrap())
        .await
        .expect("get call");
    assert_eq!(got, first);

    // Ring, add a participant, transfer, hang up.
    let user_id = some_user_id(c).await;
    let mut ring = RingCall::new(user_id, "+14155550111");
    ring.custom_data = Some("ticket-7".into());
    let rung = c.calls().ring(&ring).await.expect("ring");
    let call_id = rung.call_id.expect("call id");
    let live = c.calls().get(call_id).await.unwrap();
    assert_eq!(live.state, Some(CallState::Calling));
    assert_eq!(live.direction, Some(Direction::Outbound));
    assert_eq!(live.external_number.as_deref(), Some("+14155550111"));
    assert_eq!(live.custom_data.as_deref(), Some("ticket-7"));
    assert_eq!(
        live.target.as_ref().and_then(|p| p.id.clone()),
        Some(user_id.to_string())
    );
    assert_eq!(live.date_ended, None);

    let leg = c
        .calls()
        .add_participant(
            call_id,
            &Participant::Number {
                number: "+14155550122".into(),
            },
        )
        .await
        .expect("add participant");
    let leg_id = leg.call_id.expect("leg id");
    assert_ne!(leg_id, call_id);
    let leg_call = c.calls().get(leg_id).await.unwrap();
    assert_eq!(leg_call.entry_point_call_id, Some(call_id));
    assert_eq!(leg_call.state, Some(CallState::Ringing));
    assert_eq!(leg_call.external_number.as_deref(), Some("+14155550122"));

    let mut tr = TransferCall::to(TransferDestination::Number {
        number: "+14155550133".into(),
    });
    tr.transfer_state = Some(TransferState::Hold);
    let transferred = c.calls().transfer(call_id, &tr).await.expect("transfer");
    assert_eq!(transferred.call_id, Some(call_id));
    assert_eq!(
        transferred.transferred_to_number.as_deref(),
        Some("+14155550133")
    );
    assert_eq!(transferred.transferred_to_state, Some(TransferState::Hold));
    let held = c.calls().get(call_id).await.unwrap();
    assert_eq!(held.is_transferred, Some(true));
    assert_eq!(held.state, Some(CallState::Hold));

    // Transfer to a user target works too.
    let to_user = TransferCall::to(TransferDestination::Target {
        target_id: user_id,
        target_type: dialpad::calls::CallGroupType::User,
    });
    let tu = c
        .calls()
        .transfer(call_id, &to_user)
        .await
        .expect("transfer to user");
    assert_eq!(tu.call_id, Some(call_id));

    c.calls().hangup(call_id).await.expect("hangup");
    let ended_call = c.calls().get(call_id).await.unwrap();
    assert_eq!(ended_call.state, Some(CallState::Hangup));
    assert!(ended_call.date_ended.is_some());
    // A concluded call cannot be hung up again.
    assert_api(
        &c.calls().hangup(call_id).await.unwrap_err(),
        400,
        "badRequest",
    );
    // It now shows up in the listing.
    let now_listed: Vec<_> = c.calls().list().stream().try_collect().await.unwrap();
    assert_eq!(now_listed.len(), all.len() + 1);
    assert!(now_listed.iter().any(|x| x.call_id == Some(call_id)));

    // Labels.
    let company_labels = c.calls().labels(None).await.expect("call labels");
    assert_eq!(company_labels.labels, t.handle.sim.db().read().call_labels);
    assert!(company_labels.labels.len() >= 2);
    let two = c.calls().labels(Some(2)).await.unwrap();
    assert_eq!(two.labels, company_labels.labels[..2].to_vec());
    let wanted: Vec<String> = company_labels.labels[..2].to_vec();
    let labelled = c
        .calls()
        .set_labels(call_id, &wanted)
        .await
        .expect("set labels");
    assert_eq!(labelled.call_id, Some(call_id));
    assert_eq!(labelled.labels, wanted);
    assert_eq!(c.calls().get(call_id).await.unwrap().labels, wanted);
    let cleared = c.calls().set_labels(call_id, &[]).await.unwrap();
    assert!(cleared.labels.is_empty());

    assert_api(&c.calls().get(1).await.unwrap_err(), 404, "notFound");
}

#[tokio::test]
async fn calls_round_trip() {
    let t = spawn().await;
    scenario(&t).await;
}

#[tokio::test]
async fn call_list_target_id_without_type_is_400() {
    let t = spawn().await;
    let err = t
        .client
        .calls()
        .list()
        .target_id(1)
        .send()
        .await
        .unwrap_err();
    let msg = assert_api(&err, 400, "badRequest");
    assert!(msg.contains("target_type"), "{msg}");
}
