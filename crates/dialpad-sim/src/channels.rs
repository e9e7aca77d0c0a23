//! Channels and their members (`/api/v2/channels`).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::operations::Op;
use crate::pagination::paginate;
use crate::params::Params;
use crate::state::{Caller, Db, Sim};
use crate::wire::{self, reply, Reply};

pub const OPERATIONS: &[Op] = &[
    Op::new("GET", "/api/v2/channels", "channels.list"),
    Op::new("POST", "/api/v2/channels", "channels.post"),
    Op::new("GET", "/api/v2/channels/{id}", "channels.get"),
    Op::new("DELETE", "/api/v2/channels/{id}", "channels.delete"),
    Op::new(
        "GET",
        "/api/v2/channels/{id}/members",
        "channels.members.list",
    ),
    Op::new(
        "POST",
        "/api/v2/channels/{id}/members",
        "channels.members.post",
    ),
    Op::new(
        "DELETE",
        "/api/v2/channels/{id}/members",
        "channels.members.delete",
    ),
];

pub fn routes() -> Router<Sim> {
    Router::new()
        .route("/api/v2/channels", get(list).post(create))
        .route("/api/v2/channels/{id}", get(get_one).delete(delete))
        .route(
            "/api/v2/channels/{id}/members",
            get(list_members).post(add_member).delete(remove_member),
        )
}

/// A channel as the simulator stores it; the REST shape (`protos.channel.ChannelProto`) is
/// only `{id, name}`.
#[derive(Clone, Debug, Serialize)]
pub struct Channel {
    #[serde(with = "wire::id")]
    pub id: i64,
    pub name: String,
    #[serde(skip)]
    pub description: String,
    /// `public` or `private`.
    #[serde(skip)]
    pub privacy_type: String,
    #[serde(skip)]
    pub owner_id: Option<i64>,
    /// Member user ids, in the order they joined.
    #[serde(skip)]
    pub members: Vec<i64>,
    /// `active` (the only state the simulator produces).
    #[serde(skip)]
    pub state: String,
}

/// `protos.member_channel.MembersProto`.
#[derive(Serialize)]
struct Member {
    #[serde(with = "wire::id")]
    id: i64,
    name: Option<String>,
}

fn member(db: &Db, id: i64) -> Member {
    Member {
        id,
        name: db.user_card(id).map(|c| c.name).filter(|n| !n.is_empty()),
    }
}

fn channel_id(raw: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse()
        .map_err(|_| ApiError::not_found("Channel"))
}

const PRIVACY_TYPES: &[&str] = &["private", "public"];

#[derive(Deserialize)]
struct CreateChannel {
    name: Option<String>,
    description: Option<String>,
    privacy_type: Option<String>,
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    user_id: Option<i64>,
}

#[derive(Deserialize)]
struct MemberBody {
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    user_id: Option<i64>,
}

async fn list(State(sim): State<Sim>, _caller: Caller, params: Params) -> ApiResult<Reply> {
    let state = params.str("state").map(str::to_owned);
    let db = sim.db().read();
    let items: Vec<&Channel> = db
        .channels
        .values()
        .filter(|c| {
            state
                .as_deref()
                .is_none_or(|s| c.state.eq_ignore_ascii_case(s))
        })
        .collect();
    Ok(reply(&paginate(items, &params)?))
}

/// `channels.post`: the owner (`user_id`, or the OAuth token's user) becomes its first member.
async fn create(
    State(sim): State<Sim>,
    caller: Caller,
    JsonBody(req): JsonBody<CreateChannel>,
) -> ApiResult<Reply> {
    let name = req
        .name
        .map(|n| n.trim().trim_start_matches('#').to_owned())
        .filter(|n| !n.is_empty());
    let name = name.ok_or_else(|| ApiError::missing_field("name"))?;
    if name.contains(['\n', '\r']) {
        return Err(ApiError::invalid_field("name", "must be a single line"));
    }
    let description = req
        .description
        .ok_or_else(|| ApiError::missing_field("description"))?;
    let privacy = req
        .privacy_type
        .ok_or_else(|| ApiError::missing_field("privacy_type"))?;
    if !PRIVACY_TYPES.contains(&privacy.as_str()) {
        return Err(ApiError::invalid_field(
            "privacy_type",
            format!("{privacy:?} is not one of private, public"),
        ));
    }
    let owner = req
        .user_id
        .or(caller.user_id)
        .ok_or_else(|| ApiError::missing_field("user_id"))?;
    let mut db = sim.db().write();
    if !db.users.contains_key(&owner) {
        return Err(ApiError::invalid_field(
            "user_id",
            format!("no user with id {owner}"),
        ));
    }
    if db
        .channels
        .values()
        .any(|c| c.name.eq_ignore_ascii_case(&name))
    {
        return Err(ApiError::conflict(format!(
            "A channel named {name:?} already exists"
        )));
    }
    let id = db.next_id();
    let channel = Channel {
        id,
        name,
        description,
        privacy_type: privacy,
        owner_id: Some(owner),
        members: vec![owner],
        state: "active".to_owned(),
    };
    db.channels.insert(id, channel.clone());
    Ok(reply(&channel))
}

async fn get_one(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let id = channel_id(&id)?;
    let db = sim.db().read();
    db.channels
        .get(&id)
        .map(reply)
        .ok_or_else(|| ApiError::not_found("Channel"))
}

async fn delete(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let id = channel_id(&id)?;
    match sim.db().write().channels.remove(&id) {
        Some(_) => Ok(wire::empty()),
        None => Err(ApiError::not_found("Channel")),
    }
}

async fn list_members(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    let id = channel_id(&id)?;
    let db = sim.db().read();
    let channel = db
        .channels
        .get(&id)
        .ok_or_else(|| ApiError::not_found("Channel"))?;
    let items: Vec<Member> = channel.members.iter().map(|&u| member(&db, u)).collect();
    Ok(reply(&paginate(items, &params)?))
}

/// `channels.members.post`: adding a member twice is harmless and answers the member again.
async fn add_member(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<MemberBody>,
) -> ApiResult<Reply> {
    let id = channel_id(&id)?;
    let user_id = req
        .user_id
        .ok_or_else(|| ApiError::missing_field("user_id"))?;
    let mut db = sim.db().write();
    if !db.channels.contains_key(&id) {
        return Err(ApiError::not_found("Channel"));
    }
    if !db.users.contains_key(&user_id) {
        return Err(ApiError::invalid_field(
            "user_id",
            format!("no user with id {user_id}"),
        ));
    }
    if let Some(c) = db.channels.get_mut(&id) {
        if !c.members.contains(&user_id) {
            c.members.push(user_id);
        }
    }
    Ok(reply(&member(&db, user_id)))
}

/// `channels.members.delete`: the user id comes in the JSON body (as the spec and the SDK send
/// it); `?user_id=` is accepted too for clients that cannot send a body with DELETE.
async fn remove_member(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
    params: Params,
    JsonBody(req): JsonBody<MemberBody>,
) -> ApiResult<Reply> {
    let id = channel_id(&id)?;
    let user_id = match req.user_id {
        Some(u) => u,
        None => params
            .i64("user_id")?
            .ok_or_else(|| ApiError::missing_field("user_id"))?,
    };
    let mut db = sim.db().write();
    let channel = db
        .channels
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("Channel"))?;
    let before = channel.members.len();
    channel.members.retain(|&m| m != user_id);
    if channel.members.len() == before {
        return Err(ApiError::not_found("Channel member"));
    }
    Ok(wire::empty())
}
