//! Heartbeat frames without the encoder: hand-made all-skip P pictures.
//!
//! A still screen still needs a sample now and then (fragments must keep
//! flowing, and the timeline must show the screen lasted). An OpenH264
//! encode of an unchanged 1080p picture costs ~10 ms, as much as a busy one.
//! A P slice whose macroblocks are all skipped says "same as the previous
//! picture" in a dozen bytes, and we can write it ourselves.
//!
//! What makes that legal H.264 next to the encoder's own pictures:
//!
//! * the skip picture is a **non-reference** picture (`nal_ref_idc` 0): the
//!   decoder's reference buffer stays exactly what the encoder believes it
//!   is, so the encoder's next picture decodes as before. Its `frame_num` is
//!   the last reference picture's plus one, which is what the encoder's next
//!   reference picture carries too (allowed after non-reference pictures,
//!   as after B-pictures);
//! * OpenH264 writes `pic_order_cnt_type` 2 (order derived from
//!   `frame_num`), under which two non-reference pictures in a row are not
//!   allowed and would share one order count. So [`SkipWriter`] rewrites the
//!   SPS to `pic_order_cnt_type` 0 with 16-bit `pic_order_cnt_lsb` and
//!   inserts that field into each of the encoder's slice headers (16 bits
//!   exactly: the rest of the slice keeps its bit alignment and is copied
//!   byte for byte). Every picture then gets its own increasing order count;
//!   decoding order equals output order as before;
//! * the skipped macroblocks predict with motion vector 0 from reference
//!   index 0, the last reference picture (the previous picture in this
//!   stream): all macroblocks skipped means every neighbour predicts zero.
//!
//! Anything this writer does not understand in the parameter sets (CABAC,
//! weighted prediction, slice groups, field coding, scaling matrices) makes
//! [`SkipWriter::new`] return `None`, and the caller encodes heartbeats as
//! before. Tests decode the result with ffmpeg, an independent decoder.

/// Bits of `pic_order_cnt_lsb` written (the most H.264 allows).
const POC_BITS: u32 = 16;

/// Rewrites OpenH264's stream so that skip pictures can be inserted, and
/// writes them.
#[derive(Debug, Clone)]
pub struct SkipWriter {
    sps: Vec<u8>,
    pps_id: u32,
    log2_max_frame_num: u32,
    deblocking_control: bool,
    macroblocks: u32,
    /// `frame_num` of the last reference picture.
    prev_ref_frame_num: u32,
    /// Pictures since the last IDR picture (its order count is 0).
    since_idr: u32,
}

impl SkipWriter {
    /// From the encoder's SPS and PPS (NAL units without start code), or
    /// `None` when the stream uses a feature this writer does not handle.
    pub fn new(sps: &[u8], pps: &[u8]) -> Option<SkipWriter> {
        let sps_rbsp = unescape(sps.get(1..)?);
        let mut r = BitReader::new(&sps_rbsp);
        let profile = r.bits(8)?;
        r.bits(16)?; // constraint flags, level
        r.ue()?; // seq_parameter_set_id
        if matches!(
            profile,
            100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
        ) {
            let chroma_format = r.ue()?;
            if chroma_format == 3 && r.bits(1)? != 0 {
                return None; // separate colour planes
            }
            r.ue()?; // bit_depth_luma_minus8
            r.ue()?; // bit_depth_chroma_minus8
            r.bits(1)?; // qpprime_y_zero_transform_bypass_flag
            if r.bits(1)? != 0 {
                return None; // scaling matrices: not parsed here
            }
        }
        let log2_max_frame_num = r.ue()? + 4;
        let poc_start = r.pos;
        if r.ue()? != 2 {
            return None;
        }
        let poc_end = r.pos;
        r.ue()?; // max_num_ref_frames
        r.bits(1)?; // gaps_in_frame_num_value_allowed_flag
        let width_mbs = r.ue()? + 1;
        let height_mbs = r.ue()? + 1;
        if r.bits(1)? != 1 {
            return None; // field coding
        }
        // The new SPS: the same bits with pic_order_cnt_type 0 and
        // log2_max_pic_order_cnt_lsb_minus4 = POC_BITS - 4 in place of 2.
        let mut w = BitWriter::default();
        copy_bits(&sps_rbsp, 0, poc_start, &mut w);
        w.ue(0);
        w.ue(POC_BITS - 4);
        let end = last_one_bit(&sps_rbsp)?;
        copy_bits(&sps_rbsp, poc_end, end, &mut w);
        w.trailing();
        let mut new_sps = vec![*sps.first()?];
        new_sps.extend(escape(&w.bytes));

        let pps_rbsp = unescape(pps.get(1..)?);
        let mut r = BitReader::new(&pps_rbsp);
        let pps_id = r.ue()?;
        r.ue()?; // seq_parameter_set_id
        let cabac = r.bits(1)?;
        let bottom_field_poc = r.bits(1)?;
        let slice_groups = r.ue()?;
        r.ue()?; // num_ref_idx_l0_default_active_minus1
        r.ue()?; // l1
        let weighted_pred = r.bits(1)?;
        r.bits(2)?; // weighted_bipred_idc
        r.se()?; // pic_init_qp_minus26
        r.se()?; // pic_init_qs_minus26
        r.se()?; // chroma_qp_index_offset
        let deblocking_control = r.bits(1)? == 1;
        r.bits(1)?; // constrained_intra_pred_flag
        let redundant_pic_cnt = r.bits(1)?;
        if cabac != 0
            || bottom_field_poc != 0
            || slice_groups != 0
            || weighted_pred != 0
            || redundant_pic_cnt != 0
        {
            return None;
        }
        Some(SkipWriter {
            sps: new_sps,
            pps_id,
            log2_max_frame_num,
            deblocking_control,
            macroblocks: width_mbs * height_mbs,
            prev_ref_frame_num: 0,
            since_idr: 0,
        })
    }

    /// The SPS to put in the MP4 (`pic_order_cnt_type` 0).
    pub fn sps(&self) -> &[u8] {
        &self.sps
    }

    /// Rewrites one encoded picture (length-prefixed slice NAL units) in
    /// place: each slice header gains its `pic_order_cnt_lsb`. `None` when a
    /// slice cannot be parsed (the caller then stops using this writer).
    pub fn rewrite(&mut self, sample: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(sample.len() + 8);
        let mut rest = sample;
        let mut idr = false;
        let mut reference = None;
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            let nal = rest.get(4..4 + len)?;
            rest = &rest[4 + len..];
            let header = *nal.first()?;
            let kind = header & 0x1f;
            let new = if kind == 1 || kind == 5 {
                idr |= kind == 5;
                let (bytes, frame_num) =
                    self.insert_poc(nal, kind == 5, if kind == 5 { 0 } else { self.poc() })?;
                if header & 0x60 != 0 {
                    reference = Some(frame_num);
                }
                bytes
            } else {
                nal.to_vec()
            };
            out.extend_from_slice(&(new.len() as u32).to_be_bytes());
            out.extend_from_slice(&new);
        }
        if idr {
            self.since_idr = 0;
        }
        if let Some(f) = reference {
            self.prev_ref_frame_num = f;
        }
        self.since_idr += 1;
        Some(out)
    }

    /// An AVC sample (length-prefixed) showing the previous picture again.
    pub fn skip_frame(&mut self) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.ue(0); // first_mb_in_slice
        w.ue(5); // slice_type: P, all slices of the picture
        w.ue(self.pps_id);
        let max_frame_num = 1u32 << self.log2_max_frame_num;
        w.bits(
            (self.prev_ref_frame_num + 1) % max_frame_num,
            self.log2_max_frame_num,
        );
        w.bits(self.poc(), POC_BITS);
        w.bits(1, 1); // num_ref_idx_active_override_flag
        w.ue(0); // one reference: the last reference picture
        w.bits(0, 1); // ref_pic_list_modification_flag_l0
        w.se(0); // slice_qp_delta
        if self.deblocking_control {
            w.ue(1); // no deblocking (nothing to filter anyway)
        }
        w.ue(self.macroblocks); // mb_skip_run: every macroblock
        w.trailing();
        self.since_idr += 1;
        let mut nal = vec![0x01]; // nal_ref_idc 0, non-IDR slice
        nal.extend(escape(&w.bytes));
        let mut sample = (nal.len() as u32).to_be_bytes().to_vec();
        sample.extend(nal);
        sample
    }

    fn poc(&self) -> u32 {
        (self.since_idr * 2) & ((1 << POC_BITS) - 1)
    }

    /// The slice NAL with `poc` inserted after `frame_num` (and `idr_pic_id`),
    /// and its `frame_num`.
    fn insert_poc(&self, nal: &[u8], idr: bool, poc: u32) -> Option<(Vec<u8>, u32)> {
        let rbsp = unescape(nal.get(1..)?);
        let mut r = BitReader::new(&rbsp);
        r.ue()?; // first_mb_in_slice
        r.ue()?; // slice_type
        r.ue()?; // pic_parameter_set_id
        let frame_num = r.bits(self.log2_max_frame_num)?;
        if idr {
            r.ue()?; // idr_pic_id
        }
        let at = r.pos;
        let byte = at / 8;
        let offset = at % 8;
        // 8 bits around the insertion point become 24: the bits before it,
        // the 16 of the order count, the bits after it. Everything later
        // moves by exactly two bytes.
        let current = u32::from(*rbsp.get(byte)?);
        let high = current >> (8 - offset) << (8 - offset);
        let low = current & ((1 << (8 - offset)) - 1);
        let merged = (high << 16) | (poc << (8 - offset)) | low;
        let mut out = Vec::with_capacity(rbsp.len() + 2);
        out.extend_from_slice(&rbsp[..byte]);
        out.extend_from_slice(&merged.to_be_bytes()[1..]);
        out.extend_from_slice(&rbsp[byte + 1..]);
        let mut nal_out = vec![nal[0]];
        nal_out.extend(escape(&out));
        Some((nal_out, frame_num))
    }
}

/// Removes emulation-prevention bytes (`00 00 03` → `00 00`).
fn unescape(ebsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ebsp.len());
    let mut zeros = 0;
    for &b in ebsp {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Adds emulation-prevention bytes where two zeros precede a byte ≤ 3.
fn escape(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Position of the RBSP stop bit (the last 1 bit).
fn last_one_bit(rbsp: &[u8]) -> Option<usize> {
    let i = rbsp.iter().rposition(|&b| b != 0)?;
    Some(i * 8 + 7 - rbsp[i].trailing_zeros() as usize)
}

fn copy_bits(src: &[u8], from: usize, to: usize, w: &mut BitWriter) {
    for pos in from..to {
        w.bits(u32::from(src[pos / 8] >> (7 - pos % 8)) & 1, 1);
    }
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let b = self.data.get(self.pos / 8)?;
        let v = (b >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(v))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Some(v)
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        let magnitude = k.div_ceil(2) as i32;
        Some(if k % 2 == 1 { magnitude } else { -magnitude })
    }
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    used: u32,
}

impl BitWriter {
    fn bits(&mut self, value: u32, n: u32) {
        for i in (0..n).rev() {
            if self.used.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = ((value >> i) & 1) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= bit << (7 - self.used % 8);
            }
            self.used += 1;
        }
    }

    fn ue(&mut self, v: u32) {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros();
        self.bits(0, len - 1);
        // x < 2^33: split so each call takes at most 32 bits.
        if len > 32 {
            self.bits((x >> 32) as u32, len - 32);
            self.bits(x as u32, 32);
        } else {
            self.bits(x as u32, len);
        }
    }

    fn se(&mut self, v: i32) {
        let k = if v > 0 {
            (v as u32) * 2 - 1
        } else {
            v.unsigned_abs() * 2
        };
        self.ue(k);
    }

    /// The RBSP stop bit and zero bits up to the byte boundary.
    fn trailing(&mut self) {
        self.bits(1, 1);
        while !self.used.is_multiple_of(8) {
            self.bits(0, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::convert::I420Frame;
    use crate::encoder::{EncoderSettings, H264Encoder};
    use crate::fmp4::Fmp4Muxer;
    use std::time::Duration;

    const W: u32 = 320;
    const H: u32 = 240;

    /// A BGRA picture that differs with `n`: a moving block and a stripe of text-like pixels.
    fn picture(n: u32) -> Vec<u8> {
        let mut px = vec![255u8; (W * H * 4) as usize];
        for y in 0..H {
            for x in 0..W {
                let i = ((y * W + x) * 4) as usize;
                let in_block = (x + 300 - n * 23 % 300) % 300 < 40 && (60..120).contains(&y);
                let texty = y / 8 % 3 == 0 && (x * 7 + y * 3 + n * 5) % 11 < 4;
                if in_block {
                    px[i..i + 3].copy_from_slice(&[40, 90, 200]);
                } else if texty {
                    px[i..i + 3].copy_from_slice(&[0, 0, 0]);
                }
            }
        }
        px
    }

    /// Encodes the plan (`true`: a new picture through OpenH264, `false`: a
    /// repeat frame), muxes it at 5 fps with a keyframe where asked, and
    /// returns every frame ffmpeg decodes (I420 bytes each).
    fn encode_and_decode(plan: &[(bool, bool)], with_skips: bool) -> Vec<Vec<u8>> {
        let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
        let mut pic = I420Frame::new(W, H).unwrap();
        let mut mux = Fmp4Muxer::new(W, H, Duration::from_millis(600));
        let mut file = Vec::new();
        let mut init = false;
        let mut n = 0;
        let mut pts = Duration::ZERO;
        for &(new, keyframe) in plan {
            let frame = if new {
                n += 1;
                pic.convert_rows(&picture(n), (W * 4) as usize, W, H, 0..H)
                    .unwrap();
                enc.encode(&pic, keyframe, pts.as_millis() as u64)
                    .unwrap()
                    .unwrap()
            } else if with_skips {
                enc.repeat_frame()
                    .expect("repeat frames for OpenH264's stream")
            } else {
                pts += Duration::from_millis(200);
                continue;
            };
            if !init {
                let (sps, pps) = enc.parameter_sets().unwrap();
                file.extend(mux.init_segment(sps, pps).unwrap().bytes);
                init = true;
            }
            if let Some(seg) = mux.push(frame.sample, pts, frame.keyframe).unwrap() {
                file.extend(seg.bytes);
            }
            pts += Duration::from_millis(200);
        }
        file.extend(mux.finish(pts).unwrap().unwrap().bytes);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skip.mp4");
        std::fs::write(&path, &file).unwrap();
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-xerror", "-i"])
            .arg(&path)
            .args([
                "-vsync",
                "passthrough",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "yuv420p",
                "-",
            ])
            .output()
            .expect("ffmpeg runs");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "ffmpeg decodes cleanly: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let size = (W * H * 3 / 2) as usize;
        assert_eq!(out.stdout.len() % size, 0);
        out.stdout.chunks(size).map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn repeat_frames_decode_with_ffmpeg_as_the_previous_picture_and_leave_the_rest_alone() {
        // new picture?, keyframe?: runs of repeats after an IDR, between P
        // pictures, before and after a second IDR.
        let plan = [
            (true, true),
            (false, false),
            (false, false),
            (false, false),
            (true, false),
            (false, false),
            (true, false),
            (true, false),
            (false, false),
            (false, false),
            (true, true),
            (false, false),
            (true, false),
            (false, false),
        ];
        let with = encode_and_decode(&plan, true);
        let without = encode_and_decode(&plan, false);
        assert_eq!(with.len(), plan.len(), "one decoded frame per sample");
        assert_eq!(without.len(), plan.iter().filter(|p| p.0).count());
        let mut encoded = without.iter();
        for (i, (new, _)) in plan.iter().enumerate() {
            if *new {
                // The encoder's pictures decode exactly as in a stream
                // without repeats: its references were not disturbed.
                assert!(with[i] == *encoded.next().unwrap(), "frame {i} differs");
            } else {
                assert!(
                    with[i] == with[i - 1],
                    "repeat frame {i} is not the previous picture"
                );
            }
        }
        // The pictures really change, so equality above means something.
        assert!(with[0] != with[4] && with[4] != with[6]);
    }

    #[test]
    fn a_repeat_frame_is_a_few_bytes() {
        let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
        assert!(enc.repeat_frame().is_none(), "nothing to repeat yet");
        let pic = I420Frame::new(1920, 1080).unwrap();
        enc.encode(&pic, true, 0).unwrap().unwrap();
        let skip = enc.repeat_frame().unwrap();
        assert!(!skip.keyframe);
        assert!(skip.sample.len() < 32, "{} bytes", skip.sample.len());
    }

    #[test]
    fn exp_golomb_round_trips_and_escaping_is_reversible() {
        let mut w = BitWriter::default();
        for v in [0u32, 1, 2, 7, 8, 8159, 65535] {
            w.ue(v);
        }
        for v in [0i32, 1, -1, 5, -26] {
            w.se(v);
        }
        w.trailing();
        let mut r = BitReader::new(&w.bytes);
        for v in [0u32, 1, 2, 7, 8, 8159, 65535] {
            assert_eq!(r.ue(), Some(v));
        }
        for v in [0i32, 1, -1, 5, -26] {
            assert_eq!(r.se(), Some(v));
        }
        let raw = [0u8, 0, 1, 0, 0, 0, 0, 3, 7, 0, 0];
        let escaped = escape(&raw);
        assert!(
            !escaped
                .windows(3)
                .any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2)
        );
        assert_eq!(unescape(&escaped), raw);
    }
}
