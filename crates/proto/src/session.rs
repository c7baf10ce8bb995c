//! SRS sessions on RWS: `POST /api/v2/srs/sessions` (open) and
//! `GET /api/v2/srs/sessions` (list).
//!
//! Opening a session: SRS forwards the agent's credentials once, as
//! `Authorization: Basic ...`, with an [`OpenSessionRequest`] body. RWS checks
//! them against its directory and answers `201` with an
//! [`OpenSessionResponse`]. Errors are an [`crate::Envelope`] with the HTTP
//! status that SRS relays to the desktop: 401 + statusCode 20 for bad
//! credentials, 400 + statusCode 10 naming the offending place/DN.

use serde::{Deserialize, Serialize};

/// A telephony device (DN) on a switch, as in the GIR login body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Device {
    /// Directory number.
    pub dn: String,
    /// Name of the switch the DN belongs to.
    pub switch: String,
}

/// The RWS user resource, in the GWS shape (`camelCase`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserResource {
    /// Stable user id.
    pub id: String,
    /// Login name.
    pub user_name: String,
    /// Given name.
    #[serde(default)]
    pub first_name: String,
    /// Family name.
    #[serde(default)]
    pub last_name: String,
    /// Roles in GWS form: `ROLE_AGENT`, `ROLE_SUPERVISOR`, `ROLE_ADMIN`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Body of `POST /api/v2/srs/sessions`. Credentials travel in the
/// `Authorization: Basic` header, never in the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSessionRequest {
    /// The place the agent sits at; `None` = the agent's default place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// The DNs used at that place; may be omitted for a one-DN place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<Device>>,
    /// SRS version string (`CARGO_PKG_VERSION`).
    pub srs_version: String,
    /// Host name of the agent PC, for the administrator's session list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `true` when SRS opens a standby session on the peer (disaster
    /// recovery) RWS at login: the session is kept but not listed as live
    /// until SRS connects its control channel there.
    #[serde(default)]
    pub standby: bool,
    /// What kind of SRS opens the session: the native `screenrec srs`
    /// (default) or the recorder in the agent's browser (`srs-browser.js`).
    #[serde(default, skip_serializing_if = "SessionKind::is_native")]
    pub kind: SessionKind,
}

/// The kind of SRS behind a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// `screenrec srs` on the agent PC.
    #[default]
    Native,
    /// `srs-browser.js` in the agent's desktop page (Chrome or Edge).
    Browser,
}

impl SessionKind {
    /// True for the native SRS (the default, left out of JSON).
    pub fn is_native(&self) -> bool {
        *self == SessionKind::Native
    }
}

/// Capture settings RWS hands to SRS (at session open and in `config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureSettings {
    /// Frames per second (upper bound: frames are only encoded on change).
    pub fps: u32,
    /// Pinned H.264 QP (lower = sharper; 14 is near-lossless for text).
    pub quality: u8,
    /// Seconds between forced keyframes.
    pub keyframe_interval_s: u32,
    /// Draw the mouse cursor into the frames.
    pub cursor: bool,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        CaptureSettings {
            fps: 5,
            quality: 14,
            keyframe_interval_s: 30,
            cursor: true,
        }
    }
}

/// Success body of `POST /api/v2/srs/sessions` (HTTP 201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSessionResponse {
    /// Session id, used in admin URLs (`/api/v2/srs/sessions/{id}`).
    pub session_id: String,
    /// Bearer token for the control channel. A secret: never logged.
    pub token: String,
    /// Absolute `ws://` or `wss://` URL of the control channel.
    pub control_url: String,
    /// The authenticated user.
    pub user: UserResource,
    /// The place resolved by RWS (the default place when none was given).
    pub place: String,
    /// The devices resolved by RWS for that place.
    pub devices: Vec<Device>,
    /// The agent's effective `recordingWhen` (agent override, else cluster).
    pub recording_when: String,
    /// Desktop origins SRS must add to its CORS allow-list.
    pub allowed_origins: Vec<String>,
    /// Capture settings.
    pub capture: CaptureSettings,
    /// age X25519 recipients (`age1…`) to encrypt recordings to. Public
    /// keys only: the private keys never leave RWS.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// How often each side sends a heartbeat on the control channel.
    pub heartbeat_interval_s: u64,
    /// RWS drops a session whose SRS has been silent this long.
    pub silence_timeout_s: u64,
}

/// State of an SRS session as RWS sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Opened; the control channel has not connected yet.
    Opened,
    /// Control channel connected, heartbeats flowing.
    Connected,
    /// The control channel dropped; waiting for SRS to reconnect (until the
    /// silence timeout).
    Disconnected,
    /// A disaster-recovery standby session (on the peer RWS), not yet used.
    Standby,
}

/// One entry of `GET /api/v2/srs/sessions` (`{"sessions": [...]}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// Session id.
    pub session_id: String,
    /// The user's login name.
    pub user: String,
    /// Place.
    pub place: String,
    /// Devices.
    pub devices: Vec<Device>,
    /// SRS version reported at open.
    pub srs_version: String,
    /// Agent PC host name, when SRS sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// When the session was opened (RFC 3339).
    pub connected_since: String,
    /// Last heartbeat or message from SRS (RFC 3339), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat: Option<String>,
    /// Current state.
    pub state: SessionState,
    /// The recording in progress, as SRS last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
    /// Spooled bytes RWS has not acknowledged yet, as SRS last reported.
    #[serde(default)]
    pub upload_backlog_bytes: u64,
    /// The last error SRS reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Native SRS or the browser recorder.
    #[serde(default)]
    pub kind: SessionKind,
}
