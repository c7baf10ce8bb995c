//! Wire types shared by SRS (agent side) and RWS (server side).
//!
//! This crate is the contract between the two services; it depends on no
//! internal crate and holds no logic beyond (de)serialisation and small,
//! obvious constructors. Services convert these types to and from their own
//! domain types at their edges.
//!
//! * [`envelope`]: the GWS `{"statusCode", "statusMessage"}` envelope used by
//!   the SRS loopback API and by RWS error bodies.
//! * [`session`]: opening and listing SRS sessions on RWS
//!   (`POST/GET /api/v2/srs/sessions`).
//! * [`control`]: messages on the control channel WebSocket
//!   (`GET /api/v2/srs/control`).
//! * [`upload`]: the tus media upload and the end-of-recording report.
//! * [`logsafe`]: escaping what peers and users typed before it is logged.
//!
//! Field names are `snake_case` on our own protocols and `camelCase` where
//! the shape follows a GIR/GWS resource (the user resource), so that
//! desktops written for GIR read them unchanged.

pub mod control;
pub mod envelope;
pub mod logsafe;
pub mod metrics_text;
pub mod origin;
pub mod session;
pub mod upload;

pub use envelope::{Envelope, StatusCode};
pub use session::{
    CaptureSettings, Device, OpenSessionRequest, OpenSessionResponse, SessionKind, SessionState,
    SessionSummary, UserResource,
};
