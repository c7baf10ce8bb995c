//! `screenrec record`: records the local screen to fragmented MP4 files,
//! without a server. For diagnostics, benchmarks, and to see what an agent
//! PC would record.
//!
//! `--monitor N` writes exactly `--out`; `--monitor all` writes one file per
//! monitor, `<out stem>.<monitor name>.mp4`, plus `<out stem>.layout.json`
//! with every monitor's geometry. With `--encrypt-to`, each file is the
//! concatenated age segments (`….mp4.age`) plus its segment index
//! (`….mp4.age.idx`). Ctrl-C or SIGTERM ends the recording cleanly.
//!
//! `--mask-title`/`--mask-class` mask windows before encoding (see
//! `capture::mask`); the spans in which the rule matched a mapped window go
//! to `<out stem>.masks.jsonl`, by rule name only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use capture::synthetic::SyntheticSource;
use capture::x11::X11Source;
use capture::{MaskAction, MaskRule, MaskRuleError, Monitor, Source};
use media::sink::{EncryptedFileSink, PlainFileSink, SegmentSink};
use recorder::raw::RawFileSource;
use recorder::{MonitorSelection, Recorder, RecorderConfig, RecorderEvent, SinkFactory};

/// Flags of `screenrec record`.
#[derive(clap::Args)]
pub struct Args {
    /// Output file (`.mp4`). With `--monitor all` it is the stem of one file per monitor.
    #[arg(long, required_unless_present = "list_monitors")]
    out: Option<PathBuf>,
    /// List the display's monitors (index, name, geometry) and exit.
    #[arg(long)]
    list_monitors: bool,
    /// X display to record (default: $DISPLAY).
    #[arg(long)]
    display: Option<String>,
    /// Monitor index (see --list-monitors), or `all`.
    #[arg(long, default_value = "0")]
    monitor: String,
    /// Frames per second (an upper bound: unchanged screens produce no frames).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=30))]
    fps: u32,
    /// Stop after this long (e.g. `30s`, `2m`); default: until Ctrl-C/SIGTERM.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// H.264 quantiser, 1..=51: lower is sharper and larger; 14 keeps text near-lossless.
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u8).range(1..=51))]
    quality: u8,
    /// Time between keyframes.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    keyframe_interval: Duration,
    /// Do not draw the mouse cursor.
    #[arg(long)]
    no_cursor: bool,
    /// Screen source: `x11`, `synthetic[:WxH]`, or `raw:FILE:WxH:FPS` (BGRA frames, for benchmarks).
    #[arg(long, default_value = "x11")]
    source: String,
    /// Encrypt the output for this age X25519 recipient (`age1…`); repeatable.
    #[arg(long = "encrypt-to", value_name = "RECIPIENT")]
    encrypt_to: Vec<String>,
    /// Blank the frames (the PAUSED picture) from this time on (diagnostics, tests).
    #[arg(long, value_parser = humantime::parse_duration, requires = "pause_for")]
    pause_at: Option<Duration>,
    /// How long to blank, with --pause-at.
    #[arg(long, value_parser = humantime::parse_duration, requires = "pause_at")]
    pause_for: Option<Duration>,
    /// Mask windows whose title (`_NET_WM_NAME`, else `WM_NAME`) matches this regex; repeatable.
    #[arg(long = "mask-title", value_name = "REGEX")]
    mask_title: Vec<String>,
    /// Mask windows whose `WM_CLASS` instance or class matches this glob (`*`, `?`;
    /// case-insensitive); repeatable. With --mask-title, a window must match both.
    #[arg(long = "mask-class", value_name = "GLOB")]
    mask_class: Vec<String>,
    /// `blank` paints masked windows' visible area; `pause` paints whole frames
    /// while a matching window is mapped.
    #[arg(long = "mask-action", value_name = "ACTION", default_value = "blank")]
    mask_action: String,
    /// The rule's name in the mask log (`<out stem>.masks.jsonl`).
    #[arg(long = "mask-name", value_name = "NAME", default_value = "mask")]
    mask_name: String,
}

/// Runs `screenrec record`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !media::ASM_ENABLED {
        tracing::warn!("OpenH264 was built without nasm: encoding costs about twice the CPU");
    }
    if args.list_monitors {
        let monitors = open_source(&args)?.monitors()?;
        println!(
            "{:<5} {:<16} {:>11} {:>11}  primary",
            "index", "name", "size", "position"
        );
        for (i, m) in monitors.iter().enumerate() {
            println!(
                "{i:<5} {:<16} {:>11} {:>11}  {}",
                m.name,
                format!("{}x{}", m.width, m.height),
                format!("+{}+{}", m.x, m.y),
                if m.primary { "yes" } else { "" }
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(out) = args.out.clone() else {
        bail!("--out is required");
    };
    let selection = match args.monitor.as_str() {
        "all" => MonitorSelection::All,
        n => MonitorSelection::Index(n.parse().map_err(|_| {
            anyhow::anyhow!("--monitor {n}: expected a monitor index (0, 1, …) or `all`")
        })?),
    };
    let recipients = args
        .encrypt_to
        .iter()
        .map(|r| media::crypt::parse_recipient(r).context("--encrypt-to"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let masks = mask_rules(&args)?;
    check_writable(&out)?;

    let mut source = open_source(&args)?;
    let monitors = source.monitors()?;
    if let MonitorSelection::Index(i) = selection
        && i >= monitors.len()
    {
        bail!(
            "--monitor {i}: the display has {} monitor(s), indexes 0..={}",
            monitors.len(),
            monitors.len().saturating_sub(1)
        );
    }
    let all = selection == MonitorSelection::All;
    if all {
        write_layout(&out, &monitors)?;
    }
    let sinks = Box::new(FileSinks {
        out: out.clone(),
        per_monitor: all,
        recipients,
        used: Vec::new(),
    });
    let config = RecorderConfig {
        fps: args.fps,
        quality: args.quality,
        keyframe_interval: args.keyframe_interval,
        cursor: !args.no_cursor,
        monitors: selection,
        masks: masks.clone(),
        ..RecorderConfig::default()
    };
    let mut mask_log = if masks.is_empty() {
        None
    } else {
        let path = stem_path(&out, "masks.jsonl");
        Some(std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?)
    };

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C/SIGTERM handler")?;
    }
    let recorder = Recorder::start(source, config, sinks).map_err(|e| match e {
        recorder::RecorderError::Capture(capture::CaptureError::MaskingUnsupported) => {
            anyhow::anyhow!("--mask-title/--mask-class need --source x11: {e}")
        }
        e => e.into(),
    })?;
    let started = Instant::now();
    let mut paused = false;
    let mut layout = monitors;
    loop {
        if stop.load(Ordering::SeqCst) {
            tracing::info!("stopping on signal");
            break;
        }
        let elapsed = started.elapsed();
        if args.duration.is_some_and(|d| elapsed >= d) {
            break;
        }
        if let (Some(at), Some(len)) = (args.pause_at, args.pause_for) {
            let want = elapsed >= at && elapsed < at + len;
            if want != paused {
                paused = want;
                if paused {
                    recorder.pause()
                } else {
                    recorder.resume()
                }
            }
        }
        while let Ok(event) = recorder.events().try_recv() {
            log_event(&event);
            if let Some(file) = &mut mask_log {
                log_mask(file, &event)?;
            }
            if let RecorderEvent::StreamStarted { monitor, .. } = &event
                && all
                && !layout.contains(monitor)
            {
                layout.push(monitor.clone());
                write_layout(&out, &layout)?;
            }
        }
        if recorder.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let summary = recorder.stop()?;
    // The spans still open end with the recording.
    if let Some(file) = &mut mask_log {
        for event in &summary.events {
            log_mask(file, event)?;
        }
    }
    for s in &summary.streams {
        println!(
            "{}: monitor {} {}x{}, {:.1} s, {} frames, {} bytes",
            s.path.display(),
            s.monitor.name,
            s.monitor.width,
            s.monitor.height,
            s.duration.as_secs_f64(),
            s.frames,
            s.bytes
        );
    }
    if let Some(e) = summary.error {
        return Err(anyhow::Error::new(e).context(
            "recording stopped early; the files are playable up to their last complete fragment",
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The rules of `--mask-*`: one per title × class pair (so a window matches
/// when its title matches one `--mask-title` and its class one
/// `--mask-class`), all under `--mask-name`.
fn mask_rules(args: &Args) -> anyhow::Result<Vec<MaskRule>> {
    if args.mask_title.is_empty() && args.mask_class.is_empty() {
        if args.mask_action != "blank" || args.mask_name != "mask" {
            bail!("--mask-action and --mask-name need --mask-title or --mask-class");
        }
        return Ok(Vec::new());
    }
    let action: MaskAction = args
        .mask_action
        .parse()
        .map_err(|e| anyhow::anyhow!("--mask-action {}: {e}", args.mask_action))?;
    let name = args.mask_name.as_str();
    let explain = |e: MaskRuleError, title: Option<&str>, class: Option<&str>| match e {
        MaskRuleError::Title {
            position, message, ..
        } => anyhow::anyhow!(
            "--mask-title '{}': invalid regex at character {position}: {message}",
            title.unwrap_or_default()
        ),
        MaskRuleError::Class { message, .. } => {
            anyhow::anyhow!("--mask-class '{}': {message}", class.unwrap_or_default())
        }
        MaskRuleError::Name => anyhow::anyhow!("--mask-name '{name}': {e}"),
        e => anyhow::anyhow!("{e}"),
    };
    let titles: Vec<Option<&str>> = if args.mask_title.is_empty() {
        vec![None]
    } else {
        args.mask_title.iter().map(|t| Some(t.as_str())).collect()
    };
    let classes: Vec<Option<&str>> = if args.mask_class.is_empty() {
        vec![None]
    } else {
        args.mask_class.iter().map(|c| Some(c.as_str())).collect()
    };
    let mut rules = Vec::new();
    for &title in &titles {
        for &class in &classes {
            rules.push(
                MaskRule::new(name, title, class, action).map_err(|e| explain(e, title, class))?,
            );
        }
    }
    Ok(rules)
}

/// Appends one mask span boundary to the mask log (JSON lines).
fn log_mask(file: &mut std::fs::File, event: &RecorderEvent) -> anyhow::Result<()> {
    use std::io::Write;
    let line = match event {
        RecorderEvent::MaskStarted { rule, action, at } => serde_json::json!({
            "event": "mask_started", "rule": rule, "action": action.to_string(),
            "at_ms": at.as_millis() as u64,
        }),
        RecorderEvent::MaskEnded { rule, at } => serde_json::json!({
            "event": "mask_ended", "rule": rule, "at_ms": at.as_millis() as u64,
        }),
        _ => return Ok(()),
    };
    writeln!(file, "{line}").context("writing the mask log")
}

fn log_event(event: &RecorderEvent) {
    match event {
        RecorderEvent::Paused { at } => {
            tracing::info!(at_ms = at.as_millis() as u64, "frames blanked")
        }
        RecorderEvent::Resumed { at } => {
            tracing::info!(at_ms = at.as_millis() as u64, "frames shown again")
        }
        RecorderEvent::SegmentWritten {
            stream,
            bytes,
            start,
            ..
        } => {
            tracing::debug!(
                stream,
                bytes,
                start_ms = start.as_millis() as u64,
                "fragment written"
            )
        }
        _ => {}
    }
}

fn open_source(args: &Args) -> anyhow::Result<Box<dyn Source>> {
    let spec = args.source.as_str();
    if spec == "x11" {
        return Ok(Box::new(X11Source::connect(args.display.as_deref())?));
    }
    if let Some(rest) = spec.strip_prefix("synthetic") {
        let (w, h) = match rest.strip_prefix(':') {
            Some(size) => parse_size(size).context("--source synthetic:WxH")?,
            None if rest.is_empty() => (1280, 720),
            None => bail!("--source {spec}: expected synthetic or synthetic:WxH"),
        };
        return Ok(Box::new(SyntheticSource::single(w, h)));
    }
    if let Some(rest) = spec.strip_prefix("raw:") {
        let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
        let [fps, size, file] = parts[..] else {
            bail!("--source {spec}: expected raw:FILE:WxH:FPS");
        };
        let (w, h) = parse_size(size).context("--source raw:FILE:WxH:FPS")?;
        let _fps: u32 = fps
            .parse()
            .map_err(|_| anyhow::anyhow!("--source {spec}: FPS must be a number"))?;
        let source = RawFileSource::open(Path::new(file), w, h)
            .with_context(|| format!("--source: cannot read {file}"))?;
        return Ok(Box::new(source));
    }
    bail!("--source {spec}: expected x11, synthetic[:WxH] or raw:FILE:WxH:FPS")
}

fn parse_size(s: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = s
        .split_once('x')
        .ok_or_else(|| anyhow::anyhow!("'{s}' is not WIDTHxHEIGHT"))?;
    let w: u32 = w.parse().map_err(|_| anyhow::anyhow!("'{s}': bad width"))?;
    let h: u32 = h
        .parse()
        .map_err(|_| anyhow::anyhow!("'{s}': bad height"))?;
    if w == 0 || h == 0 || w > 4096 || h > 4096 {
        bail!("'{s}': each side must be 1..=4096");
    }
    Ok((w, h))
}

/// Fails early, naming the flag, when the output cannot be created.
fn check_writable(out: &Path) -> anyhow::Result<()> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!(
            "--out {}: folder {} does not exist",
            out.display(),
            dir.display()
        );
    }
    let probe = dir.join(format!(".screenrec-probe-{}", std::process::id()));
    std::fs::File::create(&probe)
        .with_context(|| format!("--out {}: cannot create files there", out.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn stem_path(out: &Path, suffix: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "screen".into());
    out.with_file_name(format!("{stem}.{suffix}"))
}

fn write_layout(out: &Path, monitors: &[Monitor]) -> anyhow::Result<()> {
    let list: Vec<serde_json::Value> = monitors
        .iter()
        .map(|m| {
            serde_json::json!({
                "name": m.name, "x": m.x, "y": m.y,
                "width": m.width, "height": m.height, "primary": m.primary,
            })
        })
        .collect();
    let path = stem_path(out, "layout.json");
    let text = serde_json::to_string_pretty(&serde_json::json!({ "monitors": list }))?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

struct FileSinks {
    out: PathBuf,
    per_monitor: bool,
    recipients: Vec<age::x25519::Recipient>,
    used: Vec<PathBuf>,
}

impl SinkFactory for FileSinks {
    fn create(&mut self, monitor: &Monitor, _n: usize) -> media::Result<Box<dyn SegmentSink>> {
        let mut path = if self.per_monitor {
            let name: String = monitor
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            stem_path(&self.out, &format!("{name}.mp4"))
        } else {
            self.out.clone()
        };
        // A monitor that comes back gets a new file rather than overwriting.
        let mut k = 2;
        let base = path.clone();
        while self.used.contains(&path) {
            path = base.with_extension(format!("{k}.mp4"));
            k += 1;
        }
        self.used.push(path.clone());
        if self.recipients.is_empty() {
            Ok(Box::new(PlainFileSink::create(&path)?))
        } else {
            let mut p = path.into_os_string();
            p.push(".age");
            Ok(Box::new(EncryptedFileSink::create(
                Path::new(&p),
                self.recipients.clone(),
            )?))
        }
    }
}
