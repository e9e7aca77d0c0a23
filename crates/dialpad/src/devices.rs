//! User devices: `/api/v2/userdevices`.

use std::fmt::Display;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{api, Client};
use crate::error::Result;
use crate::pagination::ListRequest;
use crate::wire::{self, string_enum, Timestamp};

string_enum! {
    /// Kind of device or app.
    pub enum DeviceType {
        Android = "android",
        Ata = "ata",
        Audiocodes = "audiocodes",
        C2t = "c2t",
        Ciscompp = "ciscompp",
        Dect = "dect",
        Dpmroom = "dpmroom",
        Grandstream = "grandstream",
        Harness = "harness",
        IframeCtiExtension = "iframe_cti_extension",
        IframeCtiV2 = "iframe_cti_v2",
        IframeFront = "iframe_front",
        IframeHubspot = "iframe_hubspot",
        IframeMsTeams = "iframe_ms_teams",
        IframeOpenCti = "iframe_open_cti",
        IframeSalesforce = "iframe_salesforce",
        IframeServiceTitan = "iframe_service_titan",
        IframeZendesk = "iframe_zendesk",
        IframeZoho = "iframe_zoho",
        Ipad = "ipad",
        Iphone = "iphone",
        Mini = "mini",
        Mitel = "mitel",
        Msteams = "msteams",
        Native = "native",
        Obi = "obi",
        PackagedApp = "packaged_app",
        Polyandroid = "polyandroid",
        Polycom = "polycom",
        Proxy = "proxy",
        PublicApi = "public_api",
        Salesforce = "salesforce",
        Sip = "sip",
        Tickiot = "tickiot",
        Web = "web",
        Yealink = "yealink",
    }
}

/// A registered device (`UserDeviceProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct UserDevice {
    /// String id on the wire.
    #[serde(deserialize_with = "wire::opt_string_or_number")]
    pub id: Option<String>,
    pub app_version: Option<String>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub date_created: Option<Timestamp>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub date_registered: Option<Timestamp>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub date_updated: Option<Timestamp>,
    pub display_name: Option<String>,
    pub phone_number: Option<String>,
    #[serde(rename = "type")]
    pub device_type: Option<DeviceType>,
    #[serde(with = "wire::opt_int64")]
    pub user_id: Option<i64>,
}

/// Handler for user devices; from [`Client::devices`].
#[derive(Debug, Clone, Copy)]
pub struct Devices<'c> {
    pub(crate) client: &'c Client,
}

impl Devices<'_> {
    /// `GET /api/v2/userdevices?user_id=…` (the user id is required by
    /// Dialpad in practice; `"me"` works).
    pub fn list(&self, user_id: impl Display) -> ListRequest<UserDevice> {
        ListRequest::new(
            self.client,
            api(Method::GET, &["userdevices"]).query("user_id", user_id),
        )
    }

    /// `GET /api/v2/userdevices/{id}`.
    pub async fn get(&self, id: impl Display) -> Result<UserDevice> {
        let id = id.to_string();
        self.client
            .json(api(Method::GET, &["userdevices", &id]))
            .await
    }
}

impl Client {
    /// User devices (`/api/v2/userdevices`).
    pub fn devices(&self) -> Devices<'_> {
        Devices { client: self }
    }
}
