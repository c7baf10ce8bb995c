//! Recording search (`GET /api/v2/recordings`, handler
//! [`crate::http::search`], which parses the query, pages with cursors and
//! renders): one page of recordings matching a [`Filter`], read by the store.

use crate::Rws;
use crate::error::ApiError;
use crate::recording::Rec;

/// What to search for (visibility, filters, cursor, order, page size).
pub use crate::store::search::Filter;

/// The recordings matching `filter`, in its order, at most `filter.limit`.
pub async fn recordings(rws: &Rws, filter: &Filter<'_>) -> Result<Vec<Rec>, ApiError> {
    Ok(crate::store::search::recordings(&rws.db, filter).await?)
}
