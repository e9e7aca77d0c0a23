//! Company: `GET /api/v2/company`.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{api, Client};
use crate::error::Result;
use crate::users::UserState;
use crate::wire::{self, string_enum};

string_enum! {
    /// Dialpad plan tier of the company.
    pub enum AccountType {
        Enterprise = "enterprise",
        Free = "free",
        Pro = "pro",
        Standard = "standard",
    }
}

/// Company-wide settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CompanySettings {
    pub allow_ai_training: Option<bool>,
    pub has_callai: Option<bool>,
}

/// The company (`protos.company.CompanyProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Company {
    #[serde(with = "wire::opt_int64")]
    pub id: Option<i64>,
    pub account_type: Option<AccountType>,
    pub admin_email: Option<String>,
    pub country: Option<String>,
    pub domain: Option<String>,
    pub name: Option<String>,
    #[serde(with = "wire::opt_int64")]
    pub office_count: Option<i64>,
    pub settings: Option<CompanySettings>,
    pub state: Option<UserState>,
}

/// Handler for the company; from [`Client::company`].
#[derive(Debug, Clone, Copy)]
pub struct CompanyHandler<'c> {
    pub(crate) client: &'c Client,
}

impl CompanyHandler<'_> {
    /// `GET /api/v2/company`.
    pub async fn get(&self) -> Result<Company> {
        self.client.json(api(Method::GET, &["company"])).await
    }
}

impl Client {
    /// The company the credentials belong to (`/api/v2/company`).
    pub fn company(&self) -> CompanyHandler<'_> {
        CompanyHandler { client: self }
    }
}
