//! Is the database there? (`/readyz`, handler [`crate::http::readiness`];
//! the media store's check is [`crate::storage`]'s.)

use crate::Rws;

/// The database answers a trivial query.
pub async fn database(rws: &Rws) -> Result<(), sqlx::Error> {
    crate::store::health::ping(&rws.db).await
}
