//! Authorization as extractors: a handler names who may call it in its
//! signature (`Admin`, `Overseer`, `Viewer`, `User`) and axum runs the check
//! before the handler, after the path and query are parsed and before the
//! body is read, so a stranger's body is never read (threat model, rule 4).
//! Who a request is and what a role may see are decided in the core
//! ([`crate::auth::authenticate`], [`crate::compliance::viewer`]); these
//! only call them. Rejections are `ApiError`s: the GWS envelope.

use std::net::SocketAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::Rws;
use crate::auth::{AuthUser, authenticate, require_role};
use crate::compliance::{Visibility, viewer};
use crate::error::ApiError;

/// The client's address, when the server knows it (audit "from where").
pub struct Remote(pub Option<SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Remote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Remote(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// Any authenticated user (cookie, Basic or bearer session token).
pub struct User(pub AuthUser);

impl FromRequestParts<Rws> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, rws: &Rws) -> Result<Self, ApiError> {
        authenticate(&rws.db, &parts.headers).await.map(User)
    }
}

/// A user with the role `admin`; 403 for anyone else.
pub struct Admin(pub AuthUser);

impl FromRequestParts<Rws> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, rws: &Rws) -> Result<Self, ApiError> {
        require_role(&rws.db, &parts.headers, &["admin"])
            .await
            .map(Admin)
    }
}

/// A user with the role `admin` or `supervisor`; 403 for anyone else.
pub struct Overseer(pub AuthUser);

impl FromRequestParts<Rws> for Overseer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, rws: &Rws) -> Result<Self, ApiError> {
        require_role(&rws.db, &parts.headers, &["admin", "supervisor"])
            .await
            .map(Overseer)
    }
}

/// A user who may look at recordings, and whose
/// ([`crate::compliance::viewer`]: admins all, supervisors their groups'
/// agents, agents their own when the directory allows it).
pub struct Viewer {
    /// Who.
    pub user: AuthUser,
    /// Whose recordings they see.
    pub visibility: Visibility,
}

impl FromRequestParts<Rws> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, rws: &Rws) -> Result<Self, ApiError> {
        let (user, visibility) = viewer(rws, &parts.headers).await?;
        Ok(Viewer { user, visibility })
    }
}

/// The client's address as the socket saw it (unspecified when RWS is
/// called without a socket, as in unit tests).
pub fn client_ip(req: &axum::extract::Request) -> std::net::IpAddr {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| {
            c.0.ip()
        })
}

/// The client's address, for handlers that check passwords from a body
/// (set by [`crate::http::auth::basic_gate`] on every request).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub std::net::IpAddr);
