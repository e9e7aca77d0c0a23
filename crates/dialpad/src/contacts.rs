//! Contacts: `/api/v2/contacts`.

use std::fmt::Display;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{api, Client};
use crate::error::Result;
use crate::pagination::ListRequest;
use crate::wire::{self, string_enum};

string_enum! {
    /// Whether a contact is personal (`local`) or company-wide (`shared`).
    pub enum ContactType {
        Local = "local",
        Shared = "shared",
    }
}

/// A contact (`protos.contact.ContactProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Contact {
    /// Contact id; a string on the wire (e.g. `shared_...` ids exist).
    pub id: Option<String>,
    pub company_name: Option<String>,
    pub display_name: Option<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub emails: Vec<String>,
    pub extension: Option<String>,
    pub first_name: Option<String>,
    pub job_title: Option<String>,
    pub last_name: Option<String>,
    pub owner_id: Option<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub phones: Vec<String>,
    pub primary_email: Option<String>,
    pub primary_phone: Option<String>,
    pub trunk_group: Option<String>,
    #[serde(rename = "type")]
    pub contact_type: Option<ContactType>,
    #[serde(deserialize_with = "wire::null_default")]
    pub urls: Vec<String>,
}

/// Body of `POST /api/v2/contacts` (`CreateContactMessage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CreateContact {
    pub first_name: String,
    pub last_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    /// Owner user id; omit to create a company-wide (shared) contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk_group: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

impl CreateContact {
    pub fn new(first_name: impl Into<String>, last_name: impl Into<String>) -> Self {
        CreateContact {
            first_name: first_name.into(),
            last_name: last_name.into(),
            ..Default::default()
        }
    }
}

/// Body of `PUT /api/v2/contacts` (`CreateContactMessageWithUid`): creates
/// the shared contact with this `uid`, or updates it if it exists.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpsertContact {
    pub uid: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk_group: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

impl UpsertContact {
    pub fn new(
        uid: impl Into<String>,
        first_name: impl Into<String>,
        last_name: impl Into<String>,
    ) -> Self {
        UpsertContact {
            uid: uid.into(),
            first_name: first_name.into(),
            last_name: last_name.into(),
            ..Default::default()
        }
    }
}

/// Body of `PATCH /api/v2/contacts/{id}` (`UpdateContactMessage`). `None`
/// leaves a field unchanged; `Some(vec![])` clears a list.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpdateContact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phones: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

/// Handler for contacts; from [`Client::contacts`].
#[derive(Debug, Clone, Copy)]
pub struct Contacts<'c> {
    pub(crate) client: &'c Client,
}

impl Contacts<'_> {
    /// `GET /api/v2/contacts`.
    pub fn list(&self) -> ListRequest<Contact> {
        ListRequest::new(self.client, api(Method::GET, &["contacts"]))
    }

    /// `POST /api/v2/contacts`.
    pub async fn create(&self, body: &CreateContact) -> Result<Contact> {
        self.client
            .json(api(Method::POST, &["contacts"]).json(body)?)
            .await
    }

    /// `PUT /api/v2/contacts`: create or update the shared contact by `uid`.
    pub async fn create_or_update(&self, body: &UpsertContact) -> Result<Contact> {
        self.client
            .json(api(Method::PUT, &["contacts"]).json(body)?)
            .await
    }

    /// `GET /api/v2/contacts/{id}`.
    pub async fn get(&self, id: impl Display) -> Result<Contact> {
        let id = id.to_string();
        self.client.json(api(Method::GET, &["contacts", &id])).await
    }

    /// `PATCH /api/v2/contacts/{id}`.
    pub async fn update(&self, id: impl Display, body: &UpdateContact) -> Result<Contact> {
        let id = id.to_string();
        self.client
            .json(api(Method::PATCH, &["contacts", &id]).json(body)?)
            .await
    }

    /// `DELETE /api/v2/contacts/{id}`; returns the deleted contact.
    pub async fn delete(&self, id: impl Display) -> Result<Contact> {
        let id = id.to_string();
        self.client
            .json(api(Method::DELETE, &["contacts", &id]))
            .await
    }
}

impl Client {
    /// Contacts (`/api/v2/contacts`).
    pub fn contacts(&self) -> Contacts<'_> {
        Contacts { client: self }
    }
}

impl ListRequest<Contact> {
    /// Include the owner's local (personal) contacts.
    pub fn include_local(self, include: bool) -> Self {
        self.param("include_local", include)
    }

    /// Only contacts owned by this user.
    pub fn owner_id(self, owner_id: impl Display) -> Self {
        self.param("owner_id", owner_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_tolerates_nulls_unknowns() {
        let c: Contact = serde_json::from_str(
            r#"{"id":"5734470963462144","emails":null,"phones":["+15555550100"],
                "type":"federated","first_name":null,"brand_new_field":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(c.id.as_deref(), Some("5734470963462144"));
        assert!(c.emails.is_empty());
        assert_eq!(
            c.contact_type,
            Some(ContactType::Unknown("federated".into()))
        );
        assert_eq!(
            serde_json::to_value(&c).unwrap()["type"],
            serde_json::json!("federated")
        );
    }

    #[test]
    fn create_body_omits_unset() {
        let v = serde_json::to_value(CreateContact::new("Ada", "Lovelace")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"first_name":"Ada","last_name":"Lovelace"})
        );
    }
}
