//! Fragmented MP4 for one H.264 track, as a state machine that returns
//! segments as bytes: the init segment (ftyp + moov with mvex), then one
//! moof + mdat fragment every ~2 s.
//!
//! Why our own writer on `mp4-atom` boxes: muxide 0.5 estimates each
//! fragment's `tfdt` from an average frame duration, which drifts with our
//! variable frame rate (40.2 s after 40 s, `design/measurements.md`). Here a
//! sample is written only once the next one is known, so every sample's
//! duration is exact and `tfdt` is the real capture time of the fragment's
//! first sample. A file cut after any complete fragment plays up to there,
//! which is what makes a recording survive `kill -9`.

use std::time::Duration;

use mp4_atom::{
    Avc1, Avcc, Dinf, Dref, Encode, FourCC, Ftyp, Hdlr, Mdat, Mdhd, Mdia, Mfhd, Minf, Moof, Moov,
    Mvex, Mvhd, Stbl, Stco, Stsd, Tfdt, Tfhd, Tkhd, Traf, Trak, Trex, Trun, TrunEntry, TrunSamples,
    Url, Visual, Vmhd,
};

use crate::{MediaError, Result};

/// Media timescale: 90 kHz, the usual video clock.
pub const TIMESCALE: u32 = 90_000;

/// Sample flags: a sync sample that depends on no other.
const FLAGS_SYNC: u32 = 0x0200_0000;
/// Sample flags: depends on others, not a sync sample.
const FLAGS_NON_SYNC: u32 = 0x0101_0000;

/// What a segment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    /// ftyp + moov: needed before any fragment.
    Init,
    /// moof + mdat: some samples.
    Fragment,
}

/// A piece of the MP4 file, ready to be written (and encrypted) as a whole.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Init or fragment.
    pub kind: SegmentKind,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Media time of the first sample (zero for the init segment).
    pub start: Duration,
    /// Media time covered by the samples.
    pub duration: Duration,
    /// Number of samples.
    pub samples: u32,
    /// Whether the fragment starts with a keyframe.
    pub starts_with_keyframe: bool,
}

struct Pending {
    data: Vec<u8>,
    dts: u64,
    keyframe: bool,
}

/// Fragmented-MP4 muxer for one video track.
pub struct Fmp4Muxer {
    width: u32,
    height: u32,
    fragment: u64,
    sequence: u32,
    pending: Vec<Pending>,
    last_dts: Option<u64>,
    /// Start a new fragment at every keyframe (live view: a viewer who
    /// joins starts at a fragment that begins with one).
    cut_at_keyframe: bool,
}

impl Fmp4Muxer {
    /// A muxer for `width` x `height` video, cutting a fragment when the
    /// buffered samples span at least `fragment_duration`. The very first
    /// fragment is cut as soon as its first sample's duration is known (at
    /// the second sample), so a recording has a playable frame on disk
    /// within one frame interval of its start rather than one fragment.
    pub fn new(width: u32, height: u32, fragment_duration: Duration) -> Self {
        Fmp4Muxer {
            width,
            height,
            fragment: to_ticks(fragment_duration).max(1),
            sequence: 0,
            pending: Vec::new(),
            last_dts: None,
            cut_at_keyframe: false,
        }
    }

    /// Changes the fragment length from the next cut on; with
    /// `cut_at_keyframe`, every keyframe also starts a fragment of its own
    /// (someone watches live: each fragment that begins with a keyframe is
    /// a place a new viewer can start from).
    pub fn set_fragment_duration(&mut self, fragment_duration: Duration, cut_at_keyframe: bool) {
        self.fragment = to_ticks(fragment_duration).max(1);
        self.cut_at_keyframe = cut_at_keyframe;
    }

    /// The init segment, from the encoder's SPS and PPS.
    pub fn init_segment(&self, sps: &[u8], pps: &[u8]) -> Result<Segment> {
        let mut bytes = Vec::new();
        Ftyp {
            major_brand: FourCC::new(b"isom"),
            minor_version: 0x200,
            compatible_brands: vec![
                FourCC::new(b"isom"),
                FourCC::new(b"iso6"),
                FourCC::new(b"avc1"),
                FourCC::new(b"mp41"),
            ],
        }
        .encode(&mut bytes)
        .map_err(mux)?;
        let avcc = Avcc::new(sps, pps).map_err(mux)?;
        let (w, h) = (self.width as u16, self.height as u16);
        let moov = Moov {
            mvhd: Mvhd {
                timescale: 1000,
                next_track_id: 2,
                ..Default::default()
            },
            mvex: Some(Mvex {
                mehd: None,
                trex: vec![Trex {
                    track_id: 1,
                    default_sample_description_index: 1,
                    default_sample_duration: 0,
                    default_sample_size: 0,
                    default_sample_flags: 0,
                }],
            }),
            trak: vec![Trak {
                tkhd: Tkhd {
                    track_id: 1,
                    enabled: true,
                    in_movie: true,
                    width: w.into(),
                    height: h.into(),
                    ..Default::default()
                },
                mdia: Mdia {
                    mdhd: Mdhd {
                        timescale: TIMESCALE,
                        language: "und".into(),
                        ..Default::default()
                    },
                    hdlr: Hdlr {
                        handler: b"vide".into(),
                        name: "screenrec screen".into(),
                    },
                    minf: Minf {
                        vmhd: Some(Vmhd::default()),
                        dinf: Dinf {
                            dref: Dref {
                                entries: vec![Url::default().into()],
                            },
                        },
                        stbl: Stbl {
                            stsd: Stsd {
                                codecs: vec![
                                    Avc1 {
                                        visual: Visual {
                                            width: w,
                                            height: h,
                                            ..Default::default()
                                        },
                                        avcc,
                                        btrt: None,
                                        colr: None,
                                        pasp: None,
                                        taic: None,
                                        fiel: None,
                                        spatial: None,
                                    }
                                    .into(),
                                ],
                            },
                            stco: Some(Stco::default()),
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                },
                ..Default::default()
            }],
            ..Default::default()
        };
        moov.encode(&mut bytes).map_err(mux)?;
        Ok(Segment {
            kind: SegmentKind::Init,
            bytes,
            start: Duration::ZERO,
            duration: Duration::ZERO,
            samples: 0,
            starts_with_keyframe: false,
        })
    }

    /// Adds a sample captured at `pts` (since the stream start). Returns a
    /// fragment when the buffered samples, whose durations are now all
    /// known, span at least the fragment duration. Timestamps that do not
    /// increase are nudged forward by one tick.
    pub fn push(
        &mut self,
        sample: Vec<u8>,
        pts: Duration,
        keyframe: bool,
    ) -> Result<Option<Segment>> {
        let mut dts = to_ticks(pts);
        if let Some(last) = self.last_dts
            && dts <= last
        {
            dts = last + 1;
        }
        self.last_dts = Some(dts);
        let span = if self.sequence == 0 { 1 } else { self.fragment };
        let out = match self.pending.first() {
            Some(first) if dts - first.dts >= span || (keyframe && self.cut_at_keyframe) => {
                Some(self.fragment_until(dts)?)
            }
            _ => None,
        };
        self.pending.push(Pending {
            data: sample,
            dts,
            keyframe,
        });
        Ok(out)
    }

    /// Writes out the buffered samples; the last one lasts until `end`
    /// (at least one tick). Call at the end of the stream.
    pub fn finish(&mut self, end: Duration) -> Result<Option<Segment>> {
        let Some(last) = self.pending.last() else {
            return Ok(None);
        };
        let end = to_ticks(end).max(last.dts + 1);
        self.last_dts = Some(end);
        self.fragment_until(end).map(Some)
    }

    /// Media time of the last sample pushed.
    pub fn last_pts(&self) -> Option<Duration> {
        self.last_dts.map(from_ticks)
    }

    fn fragment_until(&mut self, end: u64) -> Result<Segment> {
        let samples = std::mem::take(&mut self.pending);
        self.sequence += 1;
        let first_dts = samples.first().map(|s| s.dts).unwrap_or(end);
        let entries: Vec<TrunEntry> = samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let next = samples.get(i + 1).map(|n| n.dts).unwrap_or(end);
                TrunEntry {
                    duration: Some((next - s.dts) as u32),
                    size: Some(s.data.len() as u32),
                    flags: Some(if s.keyframe {
                        FLAGS_SYNC
                    } else {
                        FLAGS_NON_SYNC
                    }),
                    cts: None,
                }
            })
            .collect();
        let mut moof = Moof {
            mfhd: Mfhd {
                sequence_number: self.sequence,
            },
            traf: vec![Traf {
                tfhd: Tfhd {
                    track_id: 1,
                    default_base_is_moof: true,
                    ..Default::default()
                },
                tfdt: Some(Tfdt {
                    base_media_decode_time: first_dts,
                }),
                trun: vec![Trun {
                    data_offset: Some(0),
                    samples: TrunSamples::Explicit(entries),
                }],
                ..Default::default()
            }],
        };
        // The data offset counts from the start of the moof to the first
        // sample byte; the moof's size does not depend on its value.
        let mut probe = Vec::new();
        moof.encode(&mut probe).map_err(mux)?;
        let offset = probe.len() + 8;
        if let Some(trun) = moof.traf.first_mut().and_then(|t| t.trun.first_mut()) {
            trun.data_offset = Some(offset as i32);
        }
        let mut bytes =
            Vec::with_capacity(offset + samples.iter().map(|s| s.data.len()).sum::<usize>());
        moof.encode(&mut bytes).map_err(mux)?;
        let mut data = Vec::new();
        for s in &samples {
            data.extend_from_slice(&s.data);
        }
        Mdat { data }.encode(&mut bytes).map_err(mux)?;
        Ok(Segment {
            kind: SegmentKind::Fragment,
            bytes,
            start: from_ticks(first_dts),
            duration: from_ticks(end - first_dts),
            samples: samples.len() as u32,
            starts_with_keyframe: samples.first().is_some_and(|s| s.keyframe),
        })
    }
}

/// Media time at the end of a fragment (moof + mdat) written by
/// [`Fmp4Muxer`]: its `tfdt` plus its samples' durations, at [`TIMESCALE`].
/// `None` for an init segment or bytes that are not such a fragment. RWS
/// uses it to time uploads that came without a segments header; the bytes
/// are a client's, so the sum is checked and nothing is sized by it.
pub fn fragment_end(bytes: &[u8]) -> Option<Duration> {
    use mp4_atom::Decode as _;
    let mut buf = bytes;
    let moof = Moof::decode(&mut buf).ok()?;
    let traf = moof.traf.first()?;
    let mut ticks = traf.tfdt.as_ref()?.base_media_decode_time;
    let default = traf.tfhd.default_sample_duration.unwrap_or(0);
    for trun in &traf.trun {
        for sample in trun.samples.iter() {
            ticks = ticks.checked_add(u64::from(sample.duration.unwrap_or(default)))?;
        }
    }
    Some(from_ticks(ticks))
}

/// Whether a fragment (moof + mdat) written by [`Fmp4Muxer`] starts with
/// a keyframe (its first sample's flags say sync): where a live viewer can
/// start. `None` for an init segment or bytes that are not such a fragment.
pub fn fragment_starts_with_keyframe(bytes: &[u8]) -> Option<bool> {
    use mp4_atom::Decode as _;
    let mut buf = bytes;
    let moof = Moof::decode(&mut buf).ok()?;
    let traf = moof.traf.first()?;
    let first = traf.trun.first()?.samples.iter().next()?;
    let flags = first.flags.or(traf.tfhd.default_sample_flags)?;
    // sample_is_non_sync_sample (ISO 14496-12 8.8.3.1).
    Some(flags & 0x0001_0000 == 0)
}

fn to_ticks(d: Duration) -> u64 {
    (d.as_nanos() * TIMESCALE as u128 / 1_000_000_000) as u64
}

fn from_ticks(t: u64) -> Duration {
    Duration::from_nanos((t as u128 * 1_000_000_000 / TIMESCALE as u128) as u64)
}

fn mux(e: mp4_atom::Error) -> MediaError {
    MediaError::Mux(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_mode_cuts_shorter_fragments_and_at_every_keyframe() {
        let mut m = Fmp4Muxer::new(64, 64, Duration::from_secs(2));
        let mut frags = Vec::new();
        let mut push = |m: &mut Fmp4Muxer, ms: u64, key: bool| {
            if let Some(f) = m
                .push(vec![0, 0, 0, 1, 0x65], Duration::from_millis(ms), key)
                .expect("push")
            {
                frags.push(f);
            }
        };
        push(&mut m, 0, true);
        push(&mut m, 100, false); // first fragment: the first sample alone
        m.set_fragment_duration(Duration::from_secs(1), true);
        for ms in [400, 900, 1200] {
            push(&mut m, ms, false);
        }
        // 100..1200 closed at 1200 (1.1 s ≥ 1 s); a keyframe at 1500 cuts
        // 1200..1500 early and starts its own fragment.
        push(&mut m, 1500, true);
        push(&mut m, 1700, false);
        m.set_fragment_duration(Duration::from_secs(2), false);
        push(&mut m, 2600, false);
        push(&mut m, 3000, true); // no early cut outside live mode
        push(&mut m, 3600, false);
        let starts: Vec<(u128, bool)> = frags
            .iter()
            .map(|f| (f.start.as_millis(), f.starts_with_keyframe))
            .collect();
        assert_eq!(
            starts,
            vec![(0, true), (100, false), (1200, false), (1500, true)]
        );
        let keyed: Vec<Option<bool>> = frags
            .iter()
            .map(|f| fragment_starts_with_keyframe(&f.bytes))
            .collect();
        assert_eq!(
            keyed,
            vec![Some(true), Some(false), Some(false), Some(true)]
        );
        assert_eq!(fragment_starts_with_keyframe(b"not a fragment"), None);
    }

    #[test]
    fn fragments_cut_after_two_seconds_with_exact_durations() {
        let mut m = Fmp4Muxer::new(64, 64, Duration::from_secs(2));
        let mut frags = Vec::new();
        // The first fragment is the first sample alone, cut at the second.
        let first = m
            .push(vec![0, 0, 0, 1, 0x65], Duration::ZERO, true)
            .expect("push");
        assert!(first.is_none());
        let first = m
            .push(vec![0, 0, 0, 1, 0x65], Duration::from_millis(100), true)
            .expect("push")
            .expect("the first fragment at the second sample");
        assert_eq!(first.samples, 1);
        assert_eq!(first.duration, Duration::from_millis(100));
        assert_eq!(fragment_end(&first.bytes), Some(Duration::from_millis(100)));
        for ms in [200u64, 700, 1900, 2000, 2100, 4500] {
            if let Some(f) = m
                .push(vec![0, 0, 0, 1, 0x65], Duration::from_millis(ms), false)
                .expect("push")
            {
                frags.push(f);
            }
        }
        // 100..2100 becomes one fragment when the 2100 ms sample arrives;
        // 2100..4500 when 4500 arrives.
        assert_eq!(frags.len(), 2);
        assert_eq!(frags[0].samples, 5);
        assert_eq!(frags[0].duration, Duration::from_millis(2000));
        assert!(frags[0].starts_with_keyframe);
        assert_eq!(frags[1].start, Duration::from_millis(2100));
        assert_eq!(frags[1].duration, Duration::from_millis(2400));
        let last = m
            .finish(Duration::from_millis(5000))
            .expect("finish")
            .expect("a fragment");
        assert_eq!(last.duration, Duration::from_millis(500));
        assert!(m.finish(Duration::from_secs(9)).expect("finish").is_none());
        // The end time is read back from the fragments' bytes.
        assert_eq!(
            fragment_end(&frags[0].bytes),
            Some(Duration::from_millis(2100))
        );
        assert_eq!(
            fragment_end(&frags[1].bytes),
            Some(Duration::from_millis(4500))
        );
        assert_eq!(fragment_end(&last.bytes), Some(Duration::from_millis(5000)));
        assert_eq!(fragment_end(b"not a fragment"), None);
        assert_eq!(fragment_end(&frags[1].bytes[..20]), None);
    }

    #[test]
    fn non_increasing_timestamps_are_nudged() {
        let mut m = Fmp4Muxer::new(64, 64, Duration::from_secs(2));
        m.push(vec![1], Duration::from_millis(100), true)
            .expect("push");
        m.push(vec![1], Duration::from_millis(100), false)
            .expect("push");
        assert!(m.last_pts().expect("pts") > Duration::from_millis(100));
    }
}
