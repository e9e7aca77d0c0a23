//! Seed: call history with transcripts, call labels, SMS and channels.
//!
//! Runs after the org seed. Calls span the 30 days before a reference instant fixed by the seed
//! (not the wall clock), so `--seed N` always yields the same history. External numbers are in
//! the fictional `+1<area>555xxxx` ranges: a third of calls come from seeded contacts, the rest
//! from unknown numbers on `+1<area>5550[2-9]xx` (which no contact uses).

use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;

use crate::activity::{
    external_party, Call, CallContact, Card, RecordingDetails, Sms, Transcript, TranscriptLine,
};
use crate::channels::Channel;
use crate::state::Db;
use crate::wire;

/// 2024-01-01T00:00:00Z; the reference instant falls 180–360 days later.
const BASE_MS: i64 = 1_704_067_200_000;
const DAY_MS: i64 = 86_400_000;

const LABELS: &[&str] = &[
    "billing",
    "churn-risk",
    "demo",
    "escalation",
    "follow-up",
    "onboarding",
    "renewal",
    "sales",
    "support",
    "vip",
];
const AREAS: &[&str] = &[
    "415", "212", "646", "312", "617", "206", "512", "303", "604", "305",
];

/// Conversation openers and replies: (customer, agent) pairs, with the moment they raise.
const EXCHANGES: &[(&str, &str, &str)] = &[
    (
        "Hi, I'm calling about the invoice we received last week, the total looks higher than expected.",
        "Thanks for flagging that, let me pull up your account and walk through the line items.",
        "Billing question",
    ),
    (
        "We'd like to add five more seats before the end of the month.",
        "Happy to help with that, I can send over an updated quote today.",
        "Upsell opportunity",
    ),
    (
        "Our team can't log in since this morning, we keep getting an error.",
        "Sorry about that, can you tell me the exact error message you're seeing?",
        "Technical issue",
    ),
    (
        "I wanted to check on the status of our order from Tuesday.",
        "Let me look that up, it shows as shipped yesterday with tracking attached.",
        "Order status",
    ),
    (
        "We're comparing a few vendors and wanted to understand your pricing tiers.",
        "Of course, most teams your size start on the professional plan, let me explain the differences.",
        "Pricing mentioned",
    ),
    (
        "Our contract is up for renewal next quarter and we have some questions.",
        "Great timing, I can schedule a review with your account manager this week.",
        "Renewal discussion",
    ),
    (
        "Can we get a demo of the reporting features for our operations lead?",
        "Absolutely, would Thursday afternoon work for a thirty minute session?",
        "Demo request",
    ),
    (
        "Honestly we've been frustrated with the response times lately.",
        "I understand, and I'm sorry, let me escalate this and get you a direct contact.",
        "Customer frustration",
    ),
];
const SMALL_TALK: &[(&str, &str)] = &[
    (
        "Sounds good, thank you.",
        "You're welcome, is there anything else I can help with?",
    ),
    (
        "Could you send that over by email as well?",
        "Sure, I'll email a summary right after this call.",
    ),
    (
        "That makes sense.",
        "Great, I'll note that on your account.",
    ),
    (
        "When can we expect an update?",
        "You should hear back from us by end of day tomorrow.",
    ),
    (
        "Perfect, that works for us.",
        "Wonderful, I'll get that scheduled.",
    ),
    (
        "Let me check with my team and get back to you.",
        "No problem, take your time.",
    ),
];
const VOICEMAILS: &[&str] = &[
    "Hi, this is a quick message about our account, please call me back when you get a chance.",
    "Hello, calling to follow up on the quote you sent, give me a ring back. Thanks.",
    "Hey, it's about the delivery scheduled for this week, we need to change the address.",
    "Hi there, just returning your call, I'm available this afternoon.",
];
const SMS_TEXTS: &[&str] = &[
    "Hi! Just confirming our call tomorrow at 10am.",
    "Thanks for your time today, the quote is in your inbox.",
    "Can you call me back when you have a minute?",
    "Your order has shipped, tracking details were sent by email.",
    "Running 5 minutes late, sorry!",
    "Got it, thanks!",
];
const CHANNELS: &[(&str, &str, &str)] = &[
    ("general", "Company-wide announcements", "public"),
    ("sales-team", "Deals, quotes and pipeline", "public"),
    ("support-escalations", "Escalated customer issues", "public"),
    ("leadership", "Leadership team", "private"),
    ("random", "Watercooler", "public"),
];

pub fn seed(db: &mut Db, calls: usize) {
    let reference = BASE_MS + db.rng.random_range(180..360) * DAY_MS;
    db.call_labels = LABELS.iter().map(|s| (*s).to_owned()).collect();

    let user_ids: Vec<i64> = db.users.keys().copied().collect();
    let users: Vec<Card> = user_ids.iter().filter_map(|&id| db.user_card(id)).collect();
    let office_ids: Vec<i64> = db.offices.keys().copied().collect();
    let offices: Vec<Card> = office_ids
        .iter()
        .filter_map(|&id| db.office_card(id))
        .collect();
    if users.is_empty() {
        return;
    }
    let contact_numbers: Vec<String> = db
        .contacts
        .values()
        .flat_map(|c| c.phones.iter().cloned())
        .collect();

    seed_calls(db, calls, reference, &users, &offices, &contact_numbers);
    seed_sms(db, reference, &users, &contact_numbers);
    seed_channels(db, &users);
}

fn external_number(db: &mut Db, contact_numbers: &[String]) -> String {
    if !contact_numbers.is_empty() && db.rng.random_bool(0.35) {
        if let Some(n) = contact_numbers.choose(&mut db.rng) {
            return n.clone();
        }
    }
    let area = AREAS.choose(&mut db.rng).copied().unwrap_or("415");
    format!("+1{area}5550{}", db.rng.random_range(200..1000))
}

/// Seconds in a realistic spread: mostly short calls, some long ones.
fn talk_seconds(db: &mut Db) -> i64 {
    match db.rng.random_range(0..100) {
        0..=29 => db.rng.random_range(20..90),
        30..=74 => db.rng.random_range(90..480),
        75..=94 => db.rng.random_range(480..1200),
        _ => db.rng.random_range(1200..2700),
    }
}

fn seed_calls(
    db: &mut Db,
    calls: usize,
    reference: i64,
    users: &[Card],
    offices: &[Card],
    contact_numbers: &[String],
) {
    // Start times first, oldest first, so ids grow with time as Dialpad's do.
    let mut starts: Vec<i64> = (0..calls)
        .map(|_| {
            let day = db.rng.random_range(0..30);
            // Business hours, 08:00–19:00 UTC.
            let offset = db.rng.random_range(8 * 3_600_000..19 * 3_600_000);
            reference - (day + 1) * DAY_MS + offset
        })
        .collect();
    starts.sort_unstable();
    for started in starts {
        let Some(user) = users.choose(&mut db.rng).cloned() else {
            return;
        };
        let inbound = db.rng.random_bool(0.6);
        let to_office = inbound && !offices.is_empty() && db.rng.random_bool(0.15);
        let office = if to_office {
            offices.choose(&mut db.rng).cloned()
        } else {
            None
        };
        let number = external_number(db, contact_numbers);
        let outcome = match (inbound, db.rng.random_range(0..100)) {
            (true, 0..=64) | (false, 0..=74) => "answered",
            (true, 65..=84) | (false, 75..=99) => "missed",
            _ => "voicemail",
        };
        let id = db.next_id();
        let rang = started + db.rng.random_range(300..2000);
        let ring_ms = db.rng.random_range(3_000..25_000);
        let (connected, ended, talk_ms) = match outcome {
            "answered" => {
                let talk = talk_seconds(db) * 1000 + db.rng.random_range(0..1000);
                (Some(rang + ring_ms), rang + ring_ms + talk, talk)
            }
            "voicemail" => (None, rang + 25_000 + db.rng.random_range(10_000..90_000), 0),
            _ => (None, rang + db.rng.random_range(15_000..32_000), 0),
        };
        let (target, target_id, target_type, office_id) = match &office {
            Some(o) => (o.party("office"), o.id, "office", Some(o.id)),
            None => (user.party("user"), user.id, "user", user.office_id),
        };
        let internal = match &office {
            Some(o) => o.phone.clone().or_else(|| user.phone.clone()),
            None => user.phone.clone(),
        };
        let recorded = outcome == "answered" && db.rng.random_bool(0.3);
        let mut recordings = Vec::new();
        if recorded {
            if let Some(c) = connected {
                recordings.push(RecordingDetails {
                    id: format!("{}", db.next_id()),
                    duration: talk_ms,
                    recording_type: "callrecording".to_owned(),
                    start_time: c,
                    url: format!("https://dialpad.com/r/{id}/callrecording"),
                });
            }
        }
        let mut voicemail_link = None;
        let mut transcription_text = None;
        if outcome == "voicemail" {
            let vm_start = rang + 25_000;
            recordings.push(RecordingDetails {
                id: format!("{}", db.next_id()),
                duration: ended - vm_start,
                recording_type: "voicemail".to_owned(),
                start_time: vm_start,
                url: format!("https://dialpad.com/r/{id}/voicemail"),
            });
            voicemail_link = Some(format!("https://dialpad.com/shared/voicemail/{id}"));
            transcription_text = VOICEMAILS.choose(&mut db.rng).map(|s| (*s).to_owned());
        }
        let labels = if outcome == "answered" && db.rng.random_bool(0.3) {
            let n = db.rng.random_range(1..=2);
            let mut l: Vec<String> = LABELS
                .choose_multiple(&mut db.rng, n)
                .map(|s| (*s).to_owned())
                .collect();
            l.sort();
            l
        } else {
            Vec::new()
        };
        let contact = external_party(db, &number);
        let call = Call {
            call_id: id,
            master_call_id: None,
            entry_point_call_id: None,
            operator_call_id: None,
            contact: Some(contact.clone()),
            target: Some(target.clone()),
            entry_point_target: if inbound { Some(target) } else { None },
            proxy_target: None,
            date_started: Some(started),
            date_rang: Some(rang),
            date_connected: connected,
            date_ended: Some(ended),
            event_timestamp: Some(ended),
            direction: if inbound { "inbound" } else { "outbound" }.to_owned(),
            duration: Some(talk_ms as f64),
            total_duration: Some((ended - started) as f64),
            external_number: Some(number),
            internal_number: internal,
            group_id: office.as_ref().map(|o| o.id.to_string()),
            is_transferred: outcome == "answered" && db.rng.random_bool(0.05),
            labels,
            mos_score: connected.map(|_| (db.rng.random_range(380..=450) as f64) / 100.0),
            recording_details: recordings,
            state: "hangup".to_owned(),
            was_recorded: recorded,
            transcription_text,
            voicemail_share_link: voicemail_link,
            custom_data: None,
            target_id,
            target_type: target_type.to_owned(),
            office_id,
            agent_id: Some(user.id),
            recording_since: None,
        };
        db.calls.insert(id, call);
        // Most answered calls longer than half a minute are transcribed.
        if let Some(c) = connected {
            if talk_ms > 30_000 && db.rng.random_bool(0.85) {
                let t = transcript(db, id, &user, &contact, c, talk_ms);
                db.transcripts.insert(id, t);
            }
        }
    }
}

pub(crate) fn transcript(
    db: &mut Db,
    call_id: i64,
    agent: &Card,
    other: &CallContact,
    connected: i64,
    talk_ms: i64,
) -> Transcript {
    let other_name = other.name.clone().unwrap_or_else(|| "Unknown".to_owned());
    let contact_id = other.id.clone();
    let turns = db.rng.random_range(3..=9usize);
    let mut script: Vec<(bool, String)> = vec![(
        true,
        format!(
            "Thanks for calling, this is {}, how can I help?",
            first_word(&agent.name)
        ),
    )];
    let mut moments = Vec::new();
    let topics: Vec<&(&str, &str, &str)> = EXCHANGES.choose_multiple(&mut db.rng, 2).collect();
    for (i, (customer, reply, moment)) in topics.into_iter().enumerate() {
        if i == 1 && db.rng.random_bool(0.5) {
            break;
        }
        script.push((false, (*customer).to_owned()));
        moments.push((script.len(), (*moment).to_owned()));
        script.push((true, (*reply).to_owned()));
    }
    for _ in 0..turns.saturating_sub(script.len() / 2) {
        if let Some((c, a)) = SMALL_TALK.choose(&mut db.rng) {
            script.push((false, (*c).to_owned()));
            script.push((true, (*a).to_owned()));
        }
    }
    script.push((false, "Thanks, bye.".to_owned()));
    script.push((true, "Have a great day!".to_owned()));
    let step = talk_ms / (script.len() as i64 + 1);
    let mut lines = Vec::new();
    for (i, (is_agent, content)) in script.into_iter().enumerate() {
        let at = connected + step * i as i64 + db.rng.random_range(0..step.max(1) / 2 + 1);
        for (pos, m) in &moments {
            if *pos == i {
                lines.push(TranscriptLine {
                    contact_id: None,
                    content: m.clone(),
                    name: agent.name.clone(),
                    time: wire::naive_iso(at),
                    kind: "moment".to_owned(),
                    user_id: Some(agent.id),
                });
            }
        }
        lines.push(if is_agent {
            TranscriptLine {
                contact_id: None,
                content,
                name: agent.name.clone(),
                time: wire::naive_iso(at),
                kind: "transcript".to_owned(),
                user_id: Some(agent.id),
            }
        } else {
            TranscriptLine {
                contact_id: contact_id.clone(),
                content,
                name: other_name.clone(),
                time: wire::naive_iso(at),
                kind: "transcript".to_owned(),
                user_id: None,
            }
        });
    }
    Transcript { call_id, lines }
}

fn first_word(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

fn seed_sms(db: &mut Db, reference: i64, users: &[Card], contact_numbers: &[String]) {
    for _ in 0..12 {
        let Some(user) = users.choose(&mut db.rng).cloned() else {
            return;
        };
        let number = external_number(db, contact_numbers);
        let inbound = db.rng.random_bool(0.4);
        let at = reference - db.rng.random_range(1..30 * DAY_MS);
        let id = db.next_id();
        let contact_id = db.contact_for_number(&number).and_then(|c| c.id);
        let (from, to) = if inbound {
            (Some(number), user.phone.clone())
        } else {
            (user.phone.clone(), Some(number))
        };
        let sms = Sms {
            id,
            contact_id,
            created_date: Some(at),
            device_type: Some(if inbound { "proxy" } else { "web" }.to_owned()),
            direction: if inbound { "inbound" } else { "outbound" }.to_owned(),
            from_number: from,
            message_delivery_result: Some("accepted".to_owned()),
            message_status: "success".to_owned(),
            target_id: Some(user.id),
            target_type: Some("user".to_owned()),
            text: SMS_TEXTS.choose(&mut db.rng).map(|s| (*s).to_owned()),
            to_numbers: to.into_iter().collect(),
            user_id: Some(user.id),
        };
        db.sms.insert(id, sms);
    }
}

fn seed_channels(db: &mut Db, users: &[Card]) {
    let mut ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    for (name, description, privacy) in CHANNELS {
        ids.shuffle(&mut db.rng);
        let size = if *name == "general" {
            ids.len()
        } else {
            db.rng
                .random_range(2..=ids.len().clamp(2, 8))
                .min(ids.len())
        };
        let mut members: Vec<i64> = ids.iter().take(size).copied().collect();
        members.sort_unstable();
        let id = db.next_id();
        db.channels.insert(
            id,
            Channel {
                id,
                name: (*name).to_owned(),
                description: (*description).to_owned(),
                privacy_type: (*privacy).to_owned(),
                owner_id: members.first().copied(),
                members,
                state: "active".to_owned(),
            },
        );
    }
}
