//! Seed: company, offices, users, devices, shared and local contacts.
//!
//! Everything comes from `db.rng` in a fixed order, so a seed always yields the same data.
//! Numbers are in fictional ranges: `+1415555xxxx`, `+1212555xxxx`, `+4420794600xx`, and
//! contacts on `+1<area>55501xx`. Emails are on `.example.com` domains.

use std::collections::BTreeSet;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;

use crate::contacts::CreateContact;
use crate::org::{
    Company, CompanySettings, E911Address, Office, OfficeSettings, Plan, RoutingOptions,
    RoutingOptionsInner, User, UserDevice, VoicemailSettings,
};
use crate::state::Db;

/// 2023-01-01T00:00:00Z: seeded dates fall in the year after.
const BASE_MS: i64 = 1_672_531_200_000;
const DAY_MS: i64 = 86_400_000;

const COMPANIES: &[(&str, &str)] = &[
    ("Northwind Logistics", "northwind.example.com"),
    ("Bluebird Analytics", "bluebird.example.com"),
    ("Cedar & Pine Realty", "cedarpine.example.com"),
    ("Lumen Health Partners", "lumenhealth.example.com"),
];

const FIRST_NAMES: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Sophia", "Mason", "Isabella", "Lucas",
    "Mia", "Aiden", "Harper", "Elijah", "Amelia", "James", "Priya", "Mateo", "Chloe", "Daniel",
    "Zoe", "Samuel", "Nora", "Gabriel", "Layla", "Wei", "Fatima", "Diego", "Hannah", "Kenji",
    "Aisha", "Tomás", "Grace", "Omar", "Lily", "Rafael", "Ingrid", "Arjun", "Maya", "Felix",
];
const LAST_NAMES: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Martinez", "Lopez",
    "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Nguyen",
    "Patel", "Chen", "Kim", "Walker", "Hughes", "Okafor", "Rossi", "Schmidt", "Novak", "Silva",
    "Kowalski", "Murphy", "O'Brien", "Tanaka", "Haddad", "Fischer", "Larsen", "Cohen", "Ramirez",
    "Singh", "Bennett", "Clarke",
];
const JOB_TITLES: &[&str] = &[
    "Account Executive",
    "Sales Development Rep",
    "Customer Success Manager",
    "Support Engineer",
    "Operations Manager",
    "Product Manager",
    "Software Engineer",
    "Marketing Manager",
    "Office Manager",
    "Solutions Consultant",
    "Support Specialist",
    "Finance Analyst",
];
const CUSTOMER_COMPANIES: &[(&str, &str)] = &[
    ("Globex Supply", "globex.example.com"),
    ("Initech Systems", "initech.example.com"),
    ("Umbrella Foods", "umbrellafoods.example.com"),
    ("Stark Fabrication", "starkfab.example.com"),
    ("Wayne Freight", "waynefreight.example.com"),
    ("Hooli Cloud", "hooli.example.com"),
    ("Vandelay Imports", "vandelay.example.com"),
    ("Pied Piper Data", "piedpiper.example.com"),
    ("Soylent Farms", "soylent.example.com"),
    ("Tyrell Biotech", "tyrell.example.com"),
];
const CONTACT_TITLES: &[&str] = &[
    "Procurement Lead",
    "CFO",
    "IT Director",
    "Head of Operations",
    "Purchasing Manager",
    "CEO",
    "Facilities Coordinator",
    "VP Sales",
    "Buyer",
    "Office Administrator",
];
const AREA_CODES: &[&str] = &[
    "415", "510", "650", "212", "646", "312", "617", "206", "303", "512",
];
/// (type, display name, app version)
/// `DEVICE_KINDS`' web app.
const WEB_APP: usize = 2;
const DEVICE_KINDS: &[(&str, &str, &str)] = &[
    ("native", "Dialpad for Mac", "2412.3.1"),
    ("native", "Dialpad for Windows", "2412.3.1"),
    ("web", "Dialpad Web (Chrome)", "2412.3.0"),
    ("iphone", "iPhone", "24.12.2"),
    ("android", "Android", "24.12.1"),
    ("yealink", "Yealink T54W", "96.86.0.70"),
    ("polycom", "Poly VVX 450", "6.4.3.5018"),
];

struct OfficeSeed {
    name: &'static str,
    country: &'static str,
    timezone: &'static str,
    prefix: &'static str,
    digits: u32,
    e911: (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ),
}

const OFFICES: [OfficeSeed; 3] = [
    OfficeSeed {
        name: "San Francisco HQ",
        country: "us",
        timezone: "America/Los_Angeles",
        prefix: "+1415555",
        digits: 4,
        e911: ("535 Mission St", "San Francisco", "CA", "94105", "us"),
    },
    OfficeSeed {
        name: "New York",
        country: "us",
        timezone: "America/New_York",
        prefix: "+1212555",
        digits: 4,
        e911: ("250 Park Ave S", "New York", "NY", "10003", "us"),
    },
    OfficeSeed {
        name: "London",
        country: "gb",
        timezone: "Europe/London",
        prefix: "+4420794600",
        digits: 2,
        e911: (
            "1 Finsbury Ave",
            "London",
            "Greater London",
            "EC2M 2PF",
            "gb",
        ),
    },
];

/// A number `prefix` + `digits` random digits that nobody holds yet.
fn unique_number(db: &mut Db, used: &mut BTreeSet<String>, prefix: &str, digits: u32) -> String {
    let max = 10_i64.pow(digits);
    loop {
        let n = format!(
            "{prefix}{:0width$}",
            db.rng.random_range(0..max),
            width = digits as usize
        );
        if used.insert(n.clone()) {
            return n;
        }
    }
}

fn hours(open: &str, close: &str) -> Vec<String> {
    vec![open.to_owned(), close.to_owned()]
}

fn slug(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase()
}

pub fn seed(db: &mut Db) {
    let mut used_numbers = BTreeSet::new();

    // The company.
    let company_id = db.next_id();
    let (company_name, domain) = *COMPANIES.choose(&mut db.rng).unwrap_or(&COMPANIES[0]);
    db.company = Company {
        id: company_id,
        name: company_name.to_owned(),
        domain: domain.to_owned(),
        country: "us".to_owned(),
        account_type: "pro".to_owned(),
        admin_email: None,
        settings: CompanySettings {
            allow_ai_training: false,
            has_callai: true,
        },
        state: "active".to_owned(),
    };

    // Three offices, the first one primary.
    let mut office_ids = Vec::new();
    for (i, o) in OFFICES.iter().enumerate() {
        let id = db.next_id();
        let main_line = unique_number(db, &mut used_numbers, o.prefix, o.digits);
        let (address, city, state, zip, country) = o.e911;
        let weekday = hours("08:00", "18:00");
        let office = Office {
            id,
            office_id: id,
            name: o.name.to_owned(),
            state: "active".to_owned(),
            is_primary_office: i == 0,
            country: o.country.to_owned(),
            timezone: o.timezone.to_owned(),
            phone_numbers: vec![main_line],
            availability_status: None,
            first_action: Some(if i == 0 { "menu" } else { "operators" }.to_owned()),
            no_operators_action: Some("voicemail".to_owned()),
            ring_seconds: Some(30),
            monday_hours: weekday.clone(),
            tuesday_hours: weekday.clone(),
            wednesday_hours: weekday.clone(),
            thursday_hours: weekday.clone(),
            friday_hours: if i == 2 {
                hours("08:00", "16:00")
            } else {
                weekday.clone()
            },
            saturday_hours: if i == 0 {
                hours("10:00", "14:00")
            } else {
                Vec::new()
            },
            sunday_hours: Vec::new(),
            hours_on: true,
            e911_address: Some(E911Address {
                address: Some(address.to_owned()),
                address2: None,
                city: Some(city.to_owned()),
                state: Some(state.to_owned()),
                zip: Some(zip.to_owned()),
                country: Some(country.to_owned()),
            }),
            office_settings: Some(OfficeSettings {
                allow_device_guest_login: i == 0,
                bridged_target_recording_allowed: true,
                ..OfficeSettings::default()
            }),
            routing_options: Some(RoutingOptions {
                open: Some(RoutingOptionsInner {
                    action: Some("voicemail".to_owned()),
                    try_dial_operators: Some(true),
                    operator_routing: Some("simultaneous".to_owned()),
                    action_target_id: None,
                    action_target_type: None,
                }),
                closed: Some(RoutingOptionsInner {
                    action: Some("voicemail".to_owned()),
                    try_dial_operators: Some(false),
                    operator_routing: None,
                    action_target_id: None,
                    action_target_type: None,
                }),
            }),
            voicemail_notification_emails: Vec::new(),
            plan: Plan {
                balance: "0.00".to_owned(),
                talk_lines: 30,
                ..Plan::default()
            },
        };
        db.offices.insert(id, office);
        office_ids.push(id);
    }

    // 25 users: the first a company admin in HQ; one office admin in each other office; one
    // suspended, one pending, the rest active.
    let mut names: Vec<(&str, &str)> = FIRST_NAMES
        .iter()
        .flat_map(|f| LAST_NAMES.iter().map(move |l| (*f, *l)))
        .collect();
    names.shuffle(&mut db.rng);
    let mut first_used = BTreeSet::new();
    let names: Vec<(&str, &str)> = names
        .into_iter()
        .filter(|(f, _)| first_used.insert(*f))
        .take(25)
        .collect();
    let mut user_ids = Vec::new();
    for (i, (first, last)) in names.iter().enumerate() {
        let id = db.next_id();
        let office_idx = match i {
            0 => 0,
            1 => 1,
            2 => 2,
            _ => *[0, 0, 0, 1, 1, 2].choose(&mut db.rng).unwrap_or(&0),
        };
        let office_id = office_ids.get(office_idx).copied().unwrap_or_default();
        let o = &OFFICES[office_idx];
        let email = format!("{}.{}@{domain}", slug(first), slug(last));
        let mut phone_numbers = vec![unique_number(db, &mut used_numbers, o.prefix, o.digits)];
        if i == 0 {
            phone_numbers.push(unique_number(db, &mut used_numbers, o.prefix, o.digits));
        }
        let state = match i {
            9 => "suspended",
            21 => "pending",
            _ => "active",
        };
        let date_added =
            BASE_MS + db.rng.random_range(0..300) * DAY_MS + db.rng.random_range(0..DAY_MS);
        let logged_in = state != "pending";
        let agent = i % 5 == 3;
        let on_duty = agent && state == "active";
        let dnd = db.rng.random_bool(0.1);
        let mut user = User {
            id,
            company_id,
            office_id,
            first_name: (*first).to_owned(),
            last_name: (*last).to_owned(),
            display_name: String::new(),
            emails: if i == 0 {
                vec![email, format!("admin@{domain}")]
            } else {
                vec![email]
            },
            phone_numbers,
            forwarding_numbers: Vec::new(),
            extension: Some(format!("{}", 101 + i)),
            job_title: Some(
                if i == 0 {
                    "Head of IT"
                } else {
                    JOB_TITLES
                        .choose(&mut db.rng)
                        .copied()
                        .unwrap_or("Associate")
                }
                .to_owned(),
            ),
            location: Some(o.e911.1.to_owned()),
            country: Some(o.country.to_owned()),
            timezone: Some(o.timezone.to_owned()),
            language: Some("en".to_owned()),
            image_url: None,
            state: state.to_owned(),
            is_admin: false,
            is_super_admin: i == 0,
            admin_office_ids: match i {
                0 => office_ids.clone(),
                1 | 2 => vec![office_id],
                _ => Vec::new(),
            },
            license: Some(if agent { "agents" } else { "talk" }.to_owned()),
            international_dialing_enabled: i < 3 || db.rng.random_bool(0.3),
            do_not_disturb: dnd && state == "active",
            is_available: state == "active",
            is_online: false,
            is_on_duty: on_duty,
            on_duty_status: on_duty.then(|| "available".to_owned()),
            on_duty_started: on_duty.then_some(date_added + 30 * DAY_MS),
            duty_status_reason: None,
            duty_status_started: None,
            muted: false,
            status_message: None,
            session_type: None,
            onboarding_completed: logged_in,
            voicemail: VoicemailSettings::default(),
            group_details: Vec::new(),
            date_added: Some(date_added),
            date_active: logged_in.then_some(date_added + 3_600_000),
            date_first_login: logged_in.then_some(date_added + 3_900_000),
        };
        user.refresh_derived();
        if i == 0 {
            db.company.admin_email = user.emails.first().cloned();
        }
        db.users.insert(id, user);
        user_ids.push(id);
    }

    // 1–3 devices per signed-in user.
    for uid in &user_ids {
        let Some(user) = db.users.get(uid).cloned() else {
            continue;
        };
        if user.state == "pending" {
            continue;
        }
        let count = db.rng.random_range(1..=3);
        let mut kinds: Vec<usize> = (0..DEVICE_KINDS.len()).collect();
        kinds.shuffle(&mut db.rng);
        kinds.truncate(count);
        // Everyone signed in has the desktop or web app (what `initiate_call` and screen pops
        // drive); phones and deskphones come on top. No extra draw, so the rest stays as seeded.
        if !kinds
            .iter()
            .any(|&k| DEVICE_KINDS[k].0 == "native" || DEVICE_KINDS[k].0 == "web")
        {
            kinds[0] = WEB_APP;
        }
        for k in kinds {
            let (kind, name, version) = DEVICE_KINDS[k];
            let id = db.next_id().to_string();
            let created = user.date_added.unwrap_or(BASE_MS) + db.rng.random_range(1..30) * DAY_MS;
            let registered = created + db.rng.random_range(30..330) * DAY_MS;
            db.devices.insert(
                id.clone(),
                UserDevice {
                    id,
                    user_id: user.id,
                    kind: kind.to_owned(),
                    display_name: name.to_owned(),
                    phone_number: user.phone_numbers.first().cloned(),
                    app_version: Some(version.to_owned()),
                    date_created: Some(created),
                    date_registered: Some(registered),
                    date_updated: Some(registered),
                },
            );
        }
        if let Some(u) = db.users.get_mut(uid) {
            u.is_online = u.state == "active";
        }
    }

    // ~60 shared contacts (customers) and ~20 local contacts owned by users.
    let mut contact_numbers = BTreeSet::new();
    let active: Vec<i64> = user_ids
        .iter()
        .copied()
        .filter(|id| db.users.get(id).is_some_and(|u| u.state == "active"))
        .collect();
    for i in 0..80 {
        let first = FIRST_NAMES.choose(&mut db.rng).copied().unwrap_or("Alex");
        let last = LAST_NAMES.choose(&mut db.rng).copied().unwrap_or("Doe");
        let (company, cdomain) = *CUSTOMER_COMPANIES
            .choose(&mut db.rng)
            .unwrap_or(&CUSTOMER_COMPANIES[0]);
        let area = AREA_CODES.choose(&mut db.rng).copied().unwrap_or("415");
        let phone = unique_number(db, &mut contact_numbers, &format!("+1{area}55501"), 2);
        let mut phones = vec![phone];
        if db.rng.random_bool(0.25) {
            let mobile_area = AREA_CODES.choose(&mut db.rng).copied().unwrap_or("415");
            phones.push(unique_number(
                db,
                &mut contact_numbers,
                &format!("+1{mobile_area}55501"),
                2,
            ));
        }
        let owner_id = if i >= 60 {
            active.choose(&mut db.rng).copied()
        } else {
            None
        };
        let req = CreateContact {
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            company_name: Some(company.to_owned()),
            job_title: CONTACT_TITLES.choose(&mut db.rng).map(|s| (*s).to_owned()),
            extension: None,
            emails: Some(vec![format!("{}.{}@{cdomain}", slug(first), slug(last))]),
            phones: Some(phones),
            urls: (i % 4 == 0).then(|| vec![format!("https://www.{cdomain}")]),
            owner_id,
            trunk_group: None,
            uid: None,
        };
        let id = db.next_id().to_string();
        db.insert_contact(id, req);
    }
}
