//! The endpoints behind the connector's actions, round trip against the simulator: unpark,
//! initiate a call from the user's app, recording of the active call, screen pops, recording
//! share links, transfers into a state, SMS to a channel on behalf of an office; their errors;
//! and pacing per user under the simulator's real limits.

use std::time::{Duration, Instant};

use dialpad::calls::{
    CallGroupType, CallState, RecordingType, RingCall, TransferCall, TransferDestination,
    TransferState,
};
use dialpad::recording_share_links::{CreateRecordingShareLink, SharePrivacy};
use dialpad::sms::SendSms;
use dialpad::user_calls::{ActiveCallUpdate, InitiateCall, ScreenPop};
use dialpad::users::TargetType;
use dialpad_sim::SimConfig;

use crate::helpers::{assert_api, some_user_id, spawn, spawn_with, TestSim};

/// Parks a call the way someone in Dialpad's app would (the simulator's control route).
async fn park(t: &TestSim, call_id: i64) {
    let resp = reqwest::Client::new()
        .post(format!("{}/_sim/calls/{call_id}/park", t.handle.base_url))
        .send()
        .await
        .expect("park");
    assert!(resp.status().is_success(), "park: {}", resp.status());
}

pub async fn scenario(t: &TestSim) {
    let c = &t.client;
    let user = some_user_id(c).await;

    // A live call, parked, then picked up by the user.
    let call_id = c
        .calls()
        .ring(&RingCall::new(user, "+14155550150"))
        .await
        .expect("ring")
        .call_id
        .expect("call id");
    park(t, call_id).await;
    assert_eq!(
        c.calls().get(call_id).await.unwrap().state,
        Some(CallState::Parked)
    );
    let unparked = c.calls().unpark(call_id, user).await.expect("unpark");
    assert_eq!(unparked.call_id, Some(call_id));
    assert_eq!(
        c.calls().get(call_id).await.unwrap().state,
        Some(CallState::Connected)
    );
    let msg = assert_api(
        &c.calls().unpark(call_id, user).await.unwrap_err(),
        400,
        "badRequest",
    );
    assert!(msg.contains("not parked"), "{msg}");

    // Recording on, then off: the stretch is one of the call's recordings.
    let on = c
        .users()
        .update_active_call(user, &ActiveCallUpdate::recording(true))
        .await
        .expect("recording on");
    assert_eq!(on.id, Some(call_id));
    assert_eq!(on.is_recording, Some(true));
    assert_eq!(on.call_state, Some(CallState::Connected));
    assert_eq!(
        c.calls().get(call_id).await.unwrap().was_recorded,
        Some(true)
    );
    let off = c
        .users()
        .update_active_call(user, &ActiveCallUpdate::recording(false))
        .await
        .expect("recording off");
    assert_eq!(off.is_recording, Some(false));
    let call = c.calls().get(call_id).await.unwrap();
    assert_eq!(call.recording_details.len(), 1);
    let recording = call.recording_details[0].clone();
    assert_eq!(recording.recording_type, Some(RecordingType::CallRecording));

    // A share link for that recording: create, get, change, delete.
    let links = c.recording_share_links();
    let body = CreateRecordingShareLink {
        privacy: Some(SharePrivacy::Company),
        ..CreateRecordingShareLink::new(recording.id.clone().unwrap(), RecordingType::CallRecording)
    };
    let link = links.create(&body).await.expect("create link");
    let id = link.id.clone().expect("link id");
    assert_eq!(link.call_id, Some(call_id));
    assert_eq!(link.item_id, recording.id);
    assert_eq!(link.privacy, Some(SharePrivacy::Company));
    assert_eq!(link.recording_type, Some(RecordingType::CallRecording));
    assert!(link.date_added.is_some());
    assert!(link.access_link.as_deref().unwrap().ends_with(&id));
    assert_eq!(links.get(&id).await.unwrap(), link);
    let changed = links.update(&id, &SharePrivacy::Public).await.unwrap();
    assert_eq!(changed.privacy, Some(SharePrivacy::Public));
    assert_eq!(
        links.delete(&id).await.unwrap().id.as_deref(),
        Some(id.as_str())
    );
    assert_api(&links.get(&id).await.unwrap_err(), 404, "notFound");
    // No such recording (a call id is not a recording id).
    let none = CreateRecordingShareLink::new(call_id.to_string(), RecordingType::CallRecording);
    assert_api(&links.create(&none).await.unwrap_err(), 404, "notFound");

    // Transferred into the parked state, to a department; then unparked again.
    let transferred = c
        .calls()
        .transfer(
            call_id,
            &TransferCall {
                transfer_state: Some(TransferState::Parked),
                custom_data: Some("crm-42".into()),
                ..TransferCall::to(TransferDestination::Target {
                    target_id: 77,
                    target_type: CallGroupType::Department,
                })
            },
        )
        .await
        .expect("transfer");
    assert_eq!(
        transferred.transferred_to_state,
        Some(TransferState::Parked)
    );
    let parked = c.calls().get(call_id).await.unwrap();
    assert_eq!(parked.state, Some(CallState::Parked));
    assert_eq!(parked.custom_data.as_deref(), Some("crm-42"));
    c.calls().unpark(call_id, user).await.expect("unpark again");
    c.calls().hangup(call_id).await.expect("hangup");
    // Ended: a second hangup, recording and unpark are Dialpad's errors.
    assert_api(
        &c.calls().hangup(call_id).await.unwrap_err(),
        400,
        "badRequest",
    );
    assert_api(
        &c.users()
            .update_active_call(user, &ActiveCallUpdate::recording(true))
            .await
            .unwrap_err(),
        404,
        "notFound",
    );

    // The user's app dials out; the device is one of the user's.
    let used = c
        .users()
        .initiate_call(
            user,
            &InitiateCall {
                custom_data: Some("ticket-9".into()),
                ..InitiateCall::new("+14155550151")
            },
        )
        .await
        .expect("initiate call");
    let device = used.device.expect("device");
    assert_eq!(device.user_id, Some(user));
    let listed = c
        .devices()
        .get(device.id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(listed, device);
    let bad = assert_api(
        &c.users()
            .initiate_call(user, &InitiateCall::new("not a number"))
            .await
            .unwrap_err(),
        400,
        "badRequest",
    );
    assert!(bad.contains("phone_number"), "{bad}");

    // A screen pop, logged by the simulator.
    let uri = "https://crm.example.com/contacts/42";
    let popped = c
        .users()
        .screen_pop(user, &ScreenPop::new(uri))
        .await
        .expect("screen pop");
    assert_eq!(popped.device.and_then(|d| d.user_id), Some(user));
    {
        let db = t.handle.sim.db().read();
        let last = db.screen_pops.back().expect("logged");
        assert_eq!(last.screen_pop_uri, uri);
        assert_eq!(last.user_id, user);
    }
    assert_api(
        &c.users()
            .screen_pop(user, &ScreenPop::new("https://u:p@crm.example.com/"))
            .await
            .unwrap_err(),
        400,
        "badRequest",
    );

    // An SMS to a channel, on behalf of the office.
    let (channel, office) = {
        let db = t.handle.sim.db().read();
        let channel = db.channels.values().next().map(|ch| ch.name.clone());
        let office = db.user_card(user).and_then(|u| u.office_id);
        (
            channel.expect("a seeded channel"),
            office.expect("an office"),
        )
    };
    let sms = SendSms {
        channel_hashtag: Some(format!("#{channel}")),
        text: Some("to the channel".into()),
        user_id: Some(user),
        sender_group_id: Some(office),
        sender_group_type: Some(CallGroupType::Office),
        ..Default::default()
    };
    let sent = c.sms().send(&sms).await.expect("sms to a channel");
    assert_eq!(sent.target_type, Some(TargetType::Office));
    assert_eq!(sent.target_id, Some(office));
    assert!(sent.to_numbers.is_empty());
}

#[tokio::test]
async fn action_endpoints_round_trip() {
    let t = spawn().await;
    scenario(&t).await;
}

#[tokio::test]
async fn screen_pops_need_the_screen_pop_scope() {
    let t = spawn().await;
    let without = t.oauth_client("calls:list").await;
    let me = without.users().me().await.unwrap().id.unwrap();
    let err = without
        .users()
        .screen_pop(me, &ScreenPop::new("https://crm.example.com/"))
        .await
        .unwrap_err();
    let msg = assert_api(&err, 403, "forbidden");
    assert!(msg.contains("screen_pop"), "{msg}");
    let with = t.oauth_client("screen_pop").await;
    with.users()
        .screen_pop("me", &ScreenPop::new("https://crm.example.com/"))
        .await
        .expect("with the scope");
}

/// Under the simulator's real limits (5 call starts a minute per user), the client paces per
/// user: four starts for each of two users go out at once and none is refused.
#[tokio::test]
async fn call_starts_are_paced_per_user_without_429s() {
    let t = spawn_with(SimConfig {
        rate_limit: true,
        auto_consent: true,
        ..Default::default()
    })
    .await;
    let users: Vec<i64> = t
        .handle
        .sim
        .db()
        .read()
        .users
        .keys()
        .take(2)
        .copied()
        .collect();
    let started = Instant::now();
    for user in &users {
        for _ in 0..4 {
            t.client
                .users()
                .initiate_call(user, &InitiateCall::new("+14155550152"))
                .await
                .expect("initiate call");
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "another user's starts do not wait for the first one's: {:?}",
        started.elapsed()
    );
    assert_eq!(
        t.handle.stats().rate_limited,
        0,
        "the client never hit a 429"
    );
}
