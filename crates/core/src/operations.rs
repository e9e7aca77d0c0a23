//! The operation catalog: every `"<model>::<op>"` and `"action::<id>"` an app may ask for, in
//! plain words for the connect page, with the Dialpad OAuth scopes it needs (models.md,
//! "Scopes"). Most operations need no scope beyond the default grant; `offline_access` is always
//! requested so that Dialpad issues a refresh token.

use std::collections::BTreeSet;

/// Always asked for: it makes Dialpad issue a refresh token.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// The only connector this server serves.
pub const CONNECTOR_ID: &str = "dialpad";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub id: &'static str,
    /// What the customer grants, in plain words (the connect page shows it).
    pub description: &'static str,
    pub scopes: &'static [&'static str],
}

const fn op(
    id: &'static str,
    description: &'static str,
    scopes: &'static [&'static str],
) -> Operation {
    Operation {
        id,
        description,
        scopes,
    }
}

/// Every model operation (native Dialpad operations only: e.g. deleting a workspace or a call
/// has no Dialpad API and is not offered). The runnable actions' `action::<id>` operations are
/// derived from the actions table ([`crate::actions::catalog`]), see [`ACTIONS`].
pub const CATALOG: &[Operation] = &[
    op("genericContact::list", "List your contacts", &[]),
    op("genericContact::retrieve", "Read a contact", &[]),
    op("genericContact::create", "Create contacts", &[]),
    op("genericContact::update", "Update contacts", &[]),
    op("genericContact::delete", "Delete contacts", &[]),
    op("genericContact::fieldRead", "Read contact fields", &[]),
    op("genericContact::fieldWrite", "Write contact fields", &[]),
    op("genericUser::list", "List the users of your company", &[]),
    op("genericUser::retrieve", "Read a user's profile", &[]),
    op("genericUser::create", "Create users", &[]),
    op("genericUser::update", "Update users", &[]),
    op("genericUser::delete", "Delete users", &[]),
    op("genericUser::fieldRead", "Read user fields", &[]),
    op("genericUser::fieldWrite", "Write user fields", &[]),
    op("genericWorkspace::list", "List your offices", &[]),
    op(
        "genericWorkspace::retrieve",
        "Read an office and your company",
        &[],
    ),
    op("genericWorkspace::create", "Create offices", &[]),
    op("genericWorkspace::update", "Update office hours", &[]),
    op("genericWorkspace::fieldRead", "Read office fields", &[]),
    op("genericWorkspace::fieldWrite", "Write office fields", &[]),
    op(
        "telephonyCall::list",
        "Read your company's call history, with recording links",
        &["calls:list", "recordings_export"],
    ),
    op(
        "telephonyCall::retrieve",
        "Read a call, with its recording link",
        &["recordings_export"],
    ),
    op("telephonyCall::create", "Place calls", &[]),
    op("telephonyCall::update", "Label calls", &[]),
    op("telephonyCall::fieldRead", "Read call fields", &[]),
    op("telephonyCall::fieldWrite", "Write call fields", &[]),
    op(
        "telephonyCallTranscript::list",
        "Read the transcripts of your call history, with AI recaps",
        &["calls:list", "ai_recap"],
    ),
    op(
        "telephonyCallTranscript::retrieve",
        "Read a call's transcript, with its AI recap",
        &["ai_recap"],
    ),
    op(
        "telephonyCallTranscript::fieldRead",
        "Read transcript fields",
        &[],
    ),
    // Not an action one runs: SMS text in `telephonySms` events needs this scope.
    op(
        "action::receiveSmsContent",
        "Receive the text of SMS messages in events",
        &["message_content_export"],
    ),
];

/// The actions' operations, made from their catalog entries (one table states each action).
static ACTIONS: std::sync::LazyLock<Vec<Operation>> = std::sync::LazyLock::new(|| {
    crate::actions::catalog()
        .iter()
        .map(|a| op(a.operation, a.grant, a.scopes))
        .collect()
});

/// Operations of the configured custom models, registered at start-up (`custom::register`).
/// Process-wide like the static catalog: an operation id means one thing in a process. An id
/// registered again with other scopes or wording replaces the earlier entry.
static REGISTERED: std::sync::RwLock<Vec<&'static Operation>> = std::sync::RwLock::new(Vec::new());

/// Adds (or replaces) operations beside the static catalog.
pub fn register(ops: Vec<Operation>) {
    let mut reg = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    for op in ops {
        match reg.iter_mut().find(|o| o.id == op.id) {
            Some(existing) if **existing == op => {}
            // Leaked once per distinct declaration: the catalog hands out `&'static` entries.
            Some(existing) => *existing = Box::leak(Box::new(op)),
            None => reg.push(Box::leak(Box::new(op))),
        }
    }
}

pub fn find(id: &str) -> Option<&'static Operation> {
    CATALOG
        .iter()
        .chain(ACTIONS.iter())
        .find(|o| o.id == id)
        .or_else(|| {
            REGISTERED
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .find(|o| o.id == id)
                .copied()
        })
}

/// The static catalog, the actions, then the registered operations.
pub fn all() -> Vec<&'static Operation> {
    let reg = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
    CATALOG
        .iter()
        .chain(ACTIONS.iter())
        .chain(reg.iter().copied())
        .collect()
}

/// Checks operation ids against the catalog; the error lists the unknown ones.
pub fn validate(ids: &[String]) -> Result<Vec<String>, Vec<String>> {
    let unknown: Vec<String> = ids.iter().filter(|i| find(i).is_none()).cloned().collect();
    if !unknown.is_empty() {
        return Err(unknown);
    }
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    Ok(out)
}

/// The union of the operations' scopes plus `offline_access`, sorted.
pub fn scopes_for<'a>(ids: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    let mut s: BTreeSet<String> = ids
        .into_iter()
        .filter_map(|i| find(i))
        .flat_map(|o| o.scopes.iter().map(|s| (*s).to_owned()))
        .collect();
    s.insert(OFFLINE_ACCESS.to_owned());
    s
}

/// Scopes `op` needs that the connection's last authorization did not ask for (`granted`: the
/// scopes it asked for). Empty: the operation may be sent to Dialpad. Scopes a 403 proved
/// missing do not block it: Dialpad's own answer decides, and a later success clears them.
pub fn missing_scopes(granted: &[String], op: &Operation) -> Vec<String> {
    op.scopes
        .iter()
        .filter(|s| !granted.iter().any(|g| g == *s))
        .map(|s| (*s).to_owned())
        .collect()
}

/// Scopes a connection lacks for what it asks to do: those Dialpad proved missing (a 403) plus
/// those its `operations` need that the last authorization (`granted`) did not ask for
/// (operations added since). Authorizing again asks exactly for these. Sorted, unique.
pub fn effective_missing_scopes(
    operations: &[String],
    granted: &[String],
    proven_missing: &[String],
) -> Vec<String> {
    let mut missing: BTreeSet<String> = proven_missing.iter().cloned().collect();
    missing.extend(
        scopes_for(operations.iter())
            .into_iter()
            .filter(|s| !granted.contains(s)),
    );
    missing.into_iter().collect()
}

/// Whether a connection may run an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    Granted,
    /// The connection (or the session) lists its operations and this is not one of them.
    NotGranted,
    /// Granted, but the authorization did not ask for these scopes.
    MissingScopes(Vec<String>),
}

/// The permission check every unified operation goes through. `allowed`: the connection's
/// operations (an empty list restricts nothing: every operation its scopes cover), narrowed by
/// a session's operations when the caller is a session. `granted`: the scopes asked for.
pub fn check(
    op: &Operation,
    allowed: &[String],
    session: Option<&[String]>,
    granted: &[String],
) -> Permission {
    let listed = |ops: &[String]| ops.is_empty() || ops.iter().any(|o| o == op.id);
    if !listed(allowed) || !session.is_none_or(listed) {
        return Permission::NotGranted;
    }
    let missing = missing_scopes(granted, op);
    if missing.is_empty() {
        Permission::Granted
    } else {
        Permission::MissingScopes(missing)
    }
}

/// Whether a connection may see `model`'s records in events: its `list` or `retrieve` granted
/// with their scopes (`telephonySms`, which has no unified model, with `action::sendSms`). An
/// event is a read: what the connection's grants keep from the API they keep from its events.
pub fn may_read(model: &str, allowed: &[String], granted: &[String]) -> bool {
    let ids: Vec<String> = if model == "telephonySms" {
        vec!["action::sendSms".to_owned()]
    } else {
        vec![format!("{model}::list"), format!("{model}::retrieve")]
    };
    ids.iter().any(|id| {
        find(id).is_some_and(|op| check(op, allowed, None, granted) == Permission::Granted)
    })
}

/// The scopes among `op`'s that a Dialpad 403 body says are missing: Dialpad names the scope
/// in its message (e.g. "requires the 'recordings_export' scope"). A 403 for another reason (an
/// admin-only endpoint, a user outside the token's office) names none, and marks nothing.
pub fn scopes_named_in_forbidden(op: &Operation, body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    if !text.contains("scope") {
        return Vec::new();
    }
    op.scopes
        .iter()
        .filter(|s| {
            text.match_indices(&s.to_ascii_lowercase()).any(|(i, m)| {
                // The whole scope name, not a prefix of a longer one.
                let after = text[i + m.len()..].chars().next();
                let before = text[..i].chars().next_back();
                let word = |c: Option<char>| {
                    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                };
                !word(after) && !word(before)
            })
        })
        .map(|s| (*s).to_owned())
        .collect()
}

/// The unified operation a raw Dialpad request amounts to, when it needs a scope (used by the
/// proxy to answer `CONNECTION::MISSING_PERMISSION` precisely). Paths without a scoped
/// operation are `None` and pass through unchecked.
pub fn for_dialpad_request(method: &str, path: &str) -> Option<&'static Operation> {
    let path = path.trim_end_matches('/');
    let segs: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let id = match (method, segs.as_slice()) {
        ("GET", ["api", "v2", "call"]) => "telephonyCall::list",
        ("GET", ["api", "v2", "call", _, "ai_recap"]) => "telephonyCallTranscript::retrieve",
        _ => return None,
    };
    find(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_by_the_grants_that_read_the_model() {
        let ops = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // The scopes an authorization of these operations asks for.
        let may = |model: &str, v: &[&str]| {
            let o = ops(v);
            let scopes: Vec<String> = scopes_for(&o).into_iter().collect();
            may_read(model, &o, &scopes)
        };
        let users = &["genericUser::list"][..];
        assert!(may("genericUser", users));
        assert!(!may("telephonyCall", users));
        assert!(!may("telephonyCallTranscript", users));
        assert!(may("telephonyCall", &["telephonyCall::retrieve"]));
        assert!(may("telephonySms", &["action::sendSms"]));
        assert!(!may("telephonySms", users));
        // Granted, but authorized without the scope: not readable.
        assert!(!may_read(
            "telephonyCall",
            &ops(&["telephonyCall::list"]),
            &[]
        ));
        // No list named: every operation.
        let all: Vec<String> = CATALOG
            .iter()
            .flat_map(|o| o.scopes.iter().map(|s| (*s).to_owned()))
            .collect();
        assert!(may_read("telephonyCallTranscript", &[], &all));
        assert!(!may_read("nope", &[], &[]));
    }

    fn granted(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn catalog_ids_are_unique_and_well_formed() {
        let mut seen = BTreeSet::new();
        for o in CATALOG {
            assert!(seen.insert(o.id), "duplicate {}", o.id);
            let (model, op) = o.id.split_once("::").expect("model::op");
            assert!(!model.is_empty() && !op.is_empty());
        }
    }

    #[test]
    fn actions_are_operations_with_their_scopes() {
        for a in crate::actions::catalog() {
            let o = find(a.operation).expect(a.operation);
            assert_eq!(o.scopes, a.scopes);
            assert!(all().iter().any(|x| x.id == a.operation));
            assert!(!CATALOG.iter().any(|x| x.id == a.operation), "stated twice");
        }
        assert_eq!(
            find("action::screenPop").unwrap().scopes,
            &["screen_pop"][..]
        );
        assert_eq!(
            find("action::createRecordingShareLink").unwrap().scopes,
            &["recordings_export"][..]
        );
        assert_eq!(
            find("action::receiveSmsContent").unwrap().scopes,
            &["message_content_export"][..]
        );
        assert!(find("action::hangUp").is_none(), "renamed to hangUpCall");
    }

    #[test]
    fn validate_reports_unknown_and_dedups() {
        assert_eq!(
            validate(&["genericUser::list".into(), "nope::list".into()]),
            Err(vec!["nope::list".to_string()])
        );
        assert_eq!(
            validate(&["genericUser::list".into(), "genericUser::list".into()]),
            Ok(vec!["genericUser::list".to_string()])
        );
    }

    #[test]
    fn scopes_union_always_has_offline_access() {
        let s = scopes_for(&["genericUser::list".to_string()]);
        assert_eq!(s.into_iter().collect::<Vec<_>>(), vec!["offline_access"]);
        let s = scopes_for(&[
            "telephonyCall::list".to_string(),
            "telephonyCallTranscript::list".to_string(),
        ]);
        assert_eq!(
            s.into_iter().collect::<Vec<_>>(),
            vec![
                "ai_recap",
                "calls:list",
                "offline_access",
                "recordings_export"
            ]
        );
    }

    #[test]
    fn missing_permission_check() {
        let list = find("telephonyCall::list").unwrap();
        assert_eq!(
            missing_scopes(&granted(&["offline_access"]), list),
            vec!["calls:list", "recordings_export"]
        );
        let all = granted(&["calls:list", "recordings_export", "offline_access"]);
        assert!(missing_scopes(&all, list).is_empty());
        assert!(missing_scopes(&[], find("genericUser::list").unwrap()).is_empty());
    }

    #[test]
    fn forbidden_bodies_mark_only_the_scopes_they_name() {
        let list = find("telephonyCall::list").unwrap();
        let body = br#"{"error":{"code":403,"message":"This operation requires the 'recordings_export' scope, which was not granted"}}"#;
        assert_eq!(
            scopes_named_in_forbidden(list, body),
            vec!["recordings_export"]
        );
        let admin =
            br#"{"error":{"code":403,"message":"This operation requires a company admin"}}"#;
        assert!(scopes_named_in_forbidden(list, admin).is_empty());
        assert!(scopes_named_in_forbidden(list, b"<html>Forbidden</html>").is_empty());
        let longer = br#"{"error":{"message":"scope calls:listing missing"}}"#;
        assert!(scopes_named_in_forbidden(list, longer).is_empty());
    }

    #[test]
    fn dialpad_paths_map_to_scoped_operations() {
        assert_eq!(
            for_dialpad_request("GET", "/api/v2/call").map(|o| o.id),
            Some("telephonyCall::list")
        );
        assert_eq!(
            for_dialpad_request("GET", "/api/v2/call/12/ai_recap").map(|o| o.id),
            Some("telephonyCallTranscript::retrieve")
        );
        assert!(for_dialpad_request("GET", "/api/v2/users/me").is_none());
        assert!(for_dialpad_request("POST", "/api/v2/call").is_none());
    }
}
