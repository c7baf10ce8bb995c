//! Opening an SRS session (`POST /api/v2/srs/sessions`, handler
//! [`crate::http::sessions`]): which place and devices the agent records,
//! the recording rule and desktop origins SRS is given, and the live
//! session handed to the [`crate::hub`].
//!
//! Place rules (`srs-local-api.md`): no place → the user's default place;
//! a place with one DN → devices may be omitted; several DNs → devices are
//! required and each must belong to the place.

use proto::{CaptureSettings, Device, OpenSessionRequest, OpenSessionResponse};

use crate::Rws;
use crate::auth::{self, AuthUser};
use crate::error::ApiError;
use crate::hub::Live;
use crate::store;

/// Opens a session for `user` (an agent: integration accounts are
/// refused) and answers what SRS needs; `control_url` is where its control
/// channel connects (the handler knows the host it was reached on).
pub async fn open(
    rws: &Rws,
    user: &AuthUser,
    req: OpenSessionRequest,
    control_url: String,
) -> Result<OpenSessionResponse, ApiError> {
    if user.roles.iter().all(|r| r == "integration") {
        return Err(ApiError::Forbidden(format!(
            "user '{}' is an integration account, not an agent",
            user.username
        )));
    }
    let (place, devices) = resolve_place(rws, user, req.place.as_deref(), req.devices).await?;

    let recording_when = match &user.recording_when {
        Some(rw) => rw.clone(),
        None => setting(rws, "recording_when")
            .await?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "always".into()),
    };
    let allowed_origins = allowed_origins(rws).await?;

    let recipients = crate::keys::active_recipients(&rws.db)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let token = auth::new_token();
    let live = Live::new(
        uuid::Uuid::new_v4().to_string(),
        user.username.clone(),
        place.clone(),
        devices.clone(),
        auth::token_hash(&token),
        req.standby,
        req.srs_version.clone(),
        req.hostname.clone(),
    )
    .with_kind(req.kind);
    let session_id = live.id.clone();
    rws.hub.open(rws, live).await?;
    tracing::info!(session = %session_id, user = %user.username, place = %place, standby = req.standby, kind = ?req.kind, "SRS session opened");

    Ok(OpenSessionResponse {
        session_id,
        token,
        control_url,
        user: user.resource(),
        place,
        devices,
        recording_when,
        allowed_origins,
        capture: CaptureSettings::default(),
        recipients,
        heartbeat_interval_s: rws.config.heartbeat_interval.as_secs().max(1),
        silence_timeout_s: rws.config.silence_timeout.as_secs().max(1),
    })
}

/// The directory's `allowed_origins` (a JSON list in `settings`): the
/// desktop origins SRS and the browser recorder accept.
pub async fn allowed_origins(rws: &Rws) -> Result<Vec<String>, ApiError> {
    Ok(setting(rws, "allowed_origins")
        .await?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

async fn setting(rws: &Rws, key: &str) -> Result<Option<String>, ApiError> {
    Ok(store::directory::setting(&rws.db, key).await?)
}

/// The place and devices the session records (the rules in the module doc).
async fn resolve_place(
    rws: &Rws,
    user: &AuthUser,
    place: Option<&str>,
    devices: Option<Vec<Device>>,
) -> Result<(String, Vec<Device>), ApiError> {
    let place = match place {
        Some(p) if !p.trim().is_empty() => p.to_string(),
        _ => user.default_place.clone().ok_or_else(|| {
            ApiError::invalid(format!(
                "user '{}' has no default place: 'place' is required",
                user.username
            ))
        })?,
    };
    if !store::sessions::place_exists(&rws.db, &place).await? {
        return Err(ApiError::invalid(format!("unknown place '{place}'")));
    }
    let place_devices: Vec<Device> = store::sessions::devices_of_place(&rws.db, &place)
        .await?
        .into_iter()
        .map(|(dn, switch)| Device { dn, switch })
        .collect();
    let devices = match devices {
        None | Some(_) if place_devices.is_empty() => Vec::new(),
        None if place_devices.len() == 1 => place_devices,
        None => {
            return Err(ApiError::invalid(format!(
                "place '{place}' has {} devices: 'devices' is required",
                place_devices.len()
            )));
        }
        Some(given) if given.is_empty() && place_devices.len() == 1 => place_devices,
        Some(given) => {
            for d in &given {
                if !place_devices.contains(d) {
                    let known = store::sessions::place_of_device(&rws.db, &d.dn, &d.switch).await?;
                    return Err(ApiError::invalid(match known {
                        None => format!("unknown device {}@{}", d.dn, d.switch),
                        Some(_) => format!(
                            "device {}@{} does not belong to place '{place}'",
                            d.dn, d.switch
                        ),
                    }));
                }
            }
            if given.is_empty() {
                return Err(ApiError::invalid(format!(
                    "place '{place}' has {} devices: 'devices' is required",
                    place_devices.len()
                )));
            }
            given
        }
    };
    Ok((place, devices))
}
