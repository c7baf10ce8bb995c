//! OpenH264 in screen-content mode with a pinned QP.
//!
//! Settings come from `design/measurements.md`: `ScreenContentRealTime`,
//! Quality rate control with `QpRange(q, q)` (the QP pin; OpenH264's knee is
//! at QP ≤ 14, where text is essentially exact), no frame skipping, no
//! automatic intra period: keyframes are forced by the caller from wall time.
//! Output is split into NAL units: SPS/PPS go to the MP4 `avcC` box, the rest
//! become one length-prefixed AVC sample per frame.
//!
//! [`H264Encoder::repeat_frame`] makes a picture identical to the previous
//! one without running OpenH264 (see [`crate::skip`]): the recorder's
//! heartbeat on a still screen.

use openh264::OpenH264API;
use openh264::Timestamp;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, QpRange,
    RateControlMode, UsageType, VuiConfig,
};

use crate::convert::I420Frame;
use crate::skip::SkipWriter;
use crate::{MediaError, Result};

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderSettings {
    /// Pinned QP, 1..=51 (lower is sharper and bigger; 14 is near-lossless
    /// for text).
    pub qp: u8,
    /// Upper bound of the frame rate, for the encoder's rate model.
    pub max_fps: u32,
}

impl EncoderSettings {
    /// Refuses settings the encoder would refuse, without making one (an
    /// OpenH264 instance is ~15 MB that the allocator may keep afterwards).
    pub fn check(&self) -> Result<()> {
        if !(1..=51).contains(&self.qp) {
            return Err(MediaError::Encoder(format!(
                "quality (QP) {} is out of range 1..=51",
                self.qp
            )));
        }
        Ok(())
    }
}

impl Default for EncoderSettings {
    fn default() -> Self {
        EncoderSettings { qp: 14, max_fps: 5 }
    }
}

/// One encoded picture.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    /// The AVC sample: NAL units, each prefixed by its 4-byte big-endian
    /// length, without SPS/PPS.
    pub sample: Vec<u8>,
    /// An IDR picture (a random-access point).
    pub keyframe: bool,
}

/// An OpenH264 encoder for one stream.
pub struct H264Encoder {
    inner: Encoder,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    /// Set up from the first parameter sets; `None` when they use features
    /// it does not handle (then there are no repeat frames, only encodes).
    skip: Option<SkipWriter>,
    /// The SPS was seen and [`SkipWriter::new`] tried.
    skip_tried: bool,
}

impl H264Encoder {
    /// Creates the encoder.
    pub fn new(settings: EncoderSettings) -> Result<Self> {
        settings.check()?;
        let config = EncoderConfig::new()
            .usage_type(UsageType::ScreenContentRealTime)
            .rate_control_mode(RateControlMode::Quality)
            .qp(QpRange::new(settings.qp, settings.qp))
            .bitrate(BitRate::from_bps(20_000_000))
            .max_frame_rate(FrameRate::from_hz(settings.max_fps.max(1) as f32))
            .skip_frames(false)
            .adaptive_quantization(false)
            .background_detection(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(0))
            .vui(VuiConfig::bt709());
        let inner = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| MediaError::Encoder(e.to_string()))?;
        Ok(H264Encoder {
            inner,
            sps: None,
            pps: None,
            skip: None,
            skip_tried: false,
        })
    }

    /// Encodes `frame`; `force_keyframe` makes it an IDR picture.
    /// `timestamp_ms` is the capture time relative to the stream start.
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        force_keyframe: bool,
        timestamp_ms: u64,
    ) -> Result<Option<EncodedFrame>> {
        if force_keyframe {
            self.inner.force_intra_frame();
        }
        let stream = self
            .inner
            .encode_at(frame, Timestamp::from_millis(timestamp_ms))
            .map_err(|e| MediaError::Encoder(e.to_string()))?;
        let frame_type = stream.frame_type();
        if matches!(frame_type, FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        let mut sample = Vec::new();
        let mut keyframe = false;
        for l in 0..stream.num_layers() {
            let Some(layer) = stream.layer(l) else {
                continue;
            };
            for n in 0..layer.nal_count() {
                let Some(nal) = layer.nal_unit(n) else {
                    continue;
                };
                let payload = strip_start_code(nal);
                let Some(&header) = payload.first() else {
                    continue;
                };
                match header & 0x1f {
                    7 => self.sps = Some(payload.to_vec()),
                    8 => self.pps = Some(payload.to_vec()),
                    t => {
                        keyframe |= t == 5;
                        sample.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                        sample.extend_from_slice(payload);
                    }
                }
            }
        }
        if sample.is_empty() {
            return Ok(None);
        }
        if !self.skip_tried
            && let (Some(sps), Some(pps)) = (&self.sps, &self.pps)
        {
            self.skip_tried = true;
            self.skip = SkipWriter::new(sps, pps);
            if self.skip.is_none() {
                tracing::info!(
                    "parameter sets not handled by the skip writer: heartbeats are encoded"
                );
            }
        }
        if let Some(skip) = &mut self.skip {
            // Only the first picture can reach here before the SPS is
            // rewritten, and it is the IDR picture the SPS came with.
            match skip.rewrite(&sample) {
                Some(rewritten) => sample = rewritten,
                None => {
                    return Err(MediaError::Encoder(
                        "an encoded slice header could not be parsed".into(),
                    ));
                }
            }
        }
        Ok(Some(EncodedFrame { sample, keyframe }))
    }

    /// A picture identical to the last one encoded, made without the
    /// encoder (a few bytes, microseconds); `None` before the first encode
    /// or when the stream's parameter sets do not allow it.
    pub fn repeat_frame(&mut self) -> Option<EncodedFrame> {
        let skip = self.skip.as_mut()?;
        Some(EncodedFrame {
            sample: skip.skip_frame(),
            keyframe: false,
        })
    }

    /// SPS and PPS, known after the first keyframe (the SPS as rewritten
    /// for repeat frames, when they are possible).
    pub fn parameter_sets(&self) -> Option<(&[u8], &[u8])> {
        let sps = match &self.skip {
            Some(skip) => skip.sps(),
            None => self.sps.as_deref()?,
        };
        Some((sps, self.pps.as_deref()?))
    }
}

fn strip_start_code(nal: &[u8]) -> &[u8] {
    if nal.starts_with(&[0, 0, 0, 1]) {
        &nal[4..]
    } else if nal.starts_with(&[0, 0, 1]) {
        &nal[3..]
    } else {
        nal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_frame_is_a_keyframe_with_parameter_sets() {
        let mut enc = H264Encoder::new(EncoderSettings::default()).expect("encoder");
        let frame = I420Frame::new(320, 240).expect("frame");
        let first = enc
            .encode(&frame, true, 0)
            .expect("encode")
            .expect("a frame");
        assert!(first.keyframe);
        let (sps, pps) = enc.parameter_sets().expect("sps/pps");
        assert_eq!(sps[0] & 0x1f, 7);
        assert_eq!(pps[0] & 0x1f, 8);
        let second = enc
            .encode(&frame, false, 200)
            .expect("encode")
            .expect("a frame");
        assert!(!second.keyframe);
        assert!(second.sample.len() < first.sample.len());
        assert!(H264Encoder::new(EncoderSettings { qp: 0, max_fps: 5 }).is_err());
    }
}
