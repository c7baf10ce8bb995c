//! What the recording resource (`GET /api/v2/recordings/{call_id}`) and a
//! search result show of a recording, read from the store in one place:
//! its media files with their playable sizes, the interactions it
//! overlaps, its pause/mask marks and labels. The handlers
//! ([`crate::http::recordings`], [`crate::http::search`]) only shape these
//! facts into the GIR JSON.

use crate::Rws;
use crate::compliance::{self, Visibility};
use crate::error::ApiError;
use crate::recording::Rec;
use crate::store;

pub use crate::store::media::MediaRow;
pub use crate::store::recordings::Link;

/// A media file and its plaintext size (what playback serves).
#[derive(Debug)]
pub struct MediaView {
    /// The file as stored.
    pub row: MediaRow,
    /// Its playable plaintext bytes (the end of its segment index).
    pub plain_size: u64,
}

/// One recording of a call, with everything the resource shows of it.
#[derive(Debug)]
pub struct RecordingView {
    /// The recording.
    pub rec: Rec,
    /// Its media files, by stream.
    pub media: Vec<MediaView>,
    /// The interactions it overlaps, by start.
    pub links: Vec<Link>,
    /// Its marks `(at, kind, reason, title)`, by time (only `app` marks have a title).
    pub marks: Vec<(String, String, String, Option<String>)>,
    /// Its labels, sorted.
    pub labels: Vec<String>,
}

/// What a search result shows of a recording.
#[derive(Debug)]
pub struct SummaryView {
    /// Its media files, by stream.
    pub media: Vec<MediaView>,
    /// Its labels, sorted.
    pub labels: Vec<String>,
    /// Whether it was ever paused.
    pub has_pause: bool,
}

async fn media_of(rws: &Rws, rec: &Rec) -> Result<Vec<MediaView>, ApiError> {
    let rows = store::media::of_recording(&rws.db, &rec.id).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let plain_size = store::media::plain_size(&rws.db, &row.id).await?;
        out.push(MediaView { row, plain_size });
    }
    Ok(out)
}

/// The call's screen recordings that `vis` sees; 404 when there is none.
pub async fn of_call(
    rws: &Rws,
    call_id: &str,
    vis: &Visibility,
) -> Result<Vec<RecordingView>, ApiError> {
    let recs = compliance::recordings_of_call(&rws.db, call_id, vis).await?;
    let mut out = Vec::with_capacity(recs.len());
    for rec in recs {
        out.push(RecordingView {
            media: media_of(rws, &rec).await?,
            links: store::recordings::links_of(&rws.db, &rec.id).await?,
            marks: store::recordings::timeline_of(&rws.db, &rec.id).await?,
            labels: store::recordings::labels_of(&rws.db, &rec.id).await?,
            rec,
        });
    }
    Ok(out)
}

/// What a search result shows of `rec`.
pub async fn summary(rws: &Rws, rec: &Rec) -> Result<SummaryView, ApiError> {
    Ok(SummaryView {
        media: media_of(rws, rec).await?,
        labels: store::recordings::labels_of(&rws.db, &rec.id).await?,
        has_pause: store::recordings::pause_count(&rws.db, &rec.id).await? > 0,
    })
}
