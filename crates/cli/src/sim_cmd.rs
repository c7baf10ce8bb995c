//! `screenrec sim`: posts scripted telephony/chat scenarios to RWS's event
//! intake, in real time, as a switch or chat server would. Also used by
//! `screenrec demo` to place a call every minute.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// A scripted scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// One recorded call on DN: established, recording started, released.
    Basic,
    /// Agent A on a call consults agent B on a second call, then resumes the first.
    Consultation,
    /// Single-step transfer of a call from A to B.
    Transfer,
    /// A conferences B into a call.
    Conference,
    /// A chat handled by a non-voice agent.
    Chat,
    /// A call whose recording is paused and resumed (PCI) in the middle.
    Pause,
}

/// Flags of `screenrec sim`.
#[derive(clap::Args)]
pub struct Args {
    /// The scenario to play.
    #[arg(long, value_enum, default_value = "basic")]
    scenario: Scenario,
    /// RWS base URL.
    #[arg(
        long,
        env = "SCREENREC_SIM_RWS",
        default_value = "http://127.0.0.1:8090"
    )]
    rws: url::Url,
    /// RWS's integration token.
    #[arg(long, env = "SCREENREC_INTEGRATION_TOKEN", hide_env_values = true)]
    token: String,
    /// Agent A's DN.
    #[arg(long, default_value = "1001")]
    dn: String,
    /// Agent B's DN (consultation, transfer, conference).
    #[arg(long, default_value = "1002")]
    other_dn: String,
    /// The switch the DNs are on.
    #[arg(long, default_value = "SIP_Switch")]
    switch: String,
    /// The non-voice agent (chat scenario).
    #[arg(long, default_value = "agent1")]
    agent: String,
    /// The chat queue (chat scenario).
    #[arg(long, default_value = "Sales")]
    queue: String,
    /// How long the scenario lasts (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    length: Duration,
    /// Call (or interaction) id; default: a new one.
    #[arg(long)]
    id: Option<String>,
}

/// Runs `screenrec sim`.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    if args.length < Duration::from_secs(3) {
        bail!("--length must be at least 3s");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let id = args
            .id
            .clone()
            .unwrap_or_else(|| format!("sim-{}", &uuid::Uuid::new_v4().to_string()[..8]));
        let sim = Sim {
            client,
            rws: args.rws.clone(),
            token: args.token.clone(),
            switch: args.switch.clone(),
            verbose: true,
        };
        let parties = Parties {
            a: args.dn.clone(),
            b: args.other_dn.clone(),
            agent: args.agent.clone(),
            queue: args.queue.clone(),
        };
        sim.play(args.scenario, &id, &parties, args.length).await?;
        println!("done: {id}");
        Ok(std::process::ExitCode::SUCCESS)
    })
}

/// Who takes part.
pub struct Parties {
    /// Agent A's DN.
    pub a: String,
    /// Agent B's DN.
    pub b: String,
    /// Non-voice agent.
    pub agent: String,
    /// Chat queue.
    pub queue: String,
}

/// Posts events to one RWS.
pub struct Sim {
    /// HTTP client.
    pub client: reqwest::Client,
    /// RWS base URL.
    pub rws: url::Url,
    /// Integration token.
    pub token: String,
    /// Switch name.
    pub switch: String,
    /// Print each event.
    pub verbose: bool,
}

impl Sim {
    async fn post(&self, event: Value) -> anyhow::Result<()> {
        let url = self.rws.join("/api/v2/events")?;
        let r = self
            .client
            .post(url.clone())
            .bearer_auth(&self.token)
            .json(&event)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = r.status();
        if !status.is_success() {
            bail!(
                "POST {url}: HTTP {status}: {}",
                r.text().await.unwrap_or_default()
            );
        }
        if self.verbose {
            println!(
                "{} {} {}",
                event["timestamp"].as_str().unwrap_or(""),
                event["type"].as_str().unwrap_or(""),
                event["dn"]
                    .as_str()
                    .or(event["agent"].as_str())
                    .unwrap_or("")
            );
        }
        Ok(())
    }

    async fn voice(&self, kind: &str, call: &str, dn: &str) -> anyhow::Result<()> {
        self.post(json!({
            "id": uuid::Uuid::new_v4().to_string(), "type": kind, "call_id": call,
            "dn": dn, "switch": self.switch, "timestamp": now(),
        }))
        .await
    }

    /// Plays a scenario in real time.
    pub async fn play(
        &self,
        s: Scenario,
        id: &str,
        p: &Parties,
        length: Duration,
    ) -> anyhow::Result<()> {
        let third = length / 3;
        let half = length / 2;
        let (a, b) = (p.a.as_str(), p.b.as_str());
        match s {
            Scenario::Basic => {
                self.voice("call.established", id, a).await?;
                self.voice("recording.started", id, a).await?;
                tokio::time::sleep(length).await;
                self.voice("recording.stopped", id, a).await?;
                self.voice("call.released", id, a).await?;
            }
            Scenario::Pause => {
                self.voice("call.established", id, a).await?;
                self.voice("recording.started", id, a).await?;
                tokio::time::sleep(third).await;
                self.voice("recording.paused", id, a).await?;
                tokio::time::sleep(third).await;
                self.voice("recording.resumed", id, a).await?;
                tokio::time::sleep(third).await;
                self.voice("call.released", id, a).await?;
            }
            Scenario::Consultation => {
                let consult = format!("{id}-consult");
                self.voice("call.established", id, a).await?;
                self.voice("recording.started", id, a).await?;
                tokio::time::sleep(third).await;
                self.voice("call.held", id, a).await?;
                self.voice("call.established", &consult, a).await?;
                self.voice("call.established", &consult, b).await?;
                self.voice("recording.started", &consult, a).await?;
                tokio::time::sleep(third).await;
                self.voice("call.released", &consult, b).await?;
                self.voice("call.released", &consult, a).await?;
                self.voice("call.retrieved", id, a).await?;
                tokio::time::sleep(third).await;
                self.voice("call.released", id, a).await?;
            }
            Scenario::Transfer => {
                self.voice("call.established", id, a).await?;
                self.voice("recording.started", id, a).await?;
                tokio::time::sleep(half).await;
                self.voice("call.transferred", id, a).await?;
                self.voice("call.established", id, b).await?;
                tokio::time::sleep(half).await;
                self.voice("call.released", id, b).await?;
                self.voice("recording.stopped", id, b).await?;
            }
            Scenario::Conference => {
                self.voice("call.established", id, a).await?;
                self.voice("recording.started", id, a).await?;
                tokio::time::sleep(half).await;
                self.voice("call.conferenced", id, b).await?;
                tokio::time::sleep(half).await;
                self.voice("call.released", id, b).await?;
                self.voice("call.released", id, a).await?;
            }
            Scenario::Chat => {
                let chat = |kind: &str| {
                    json!({
                        "id": uuid::Uuid::new_v4().to_string(), "type": kind, "interaction_id": id,
                        "agent": p.agent, "media": "chat", "queue": p.queue, "timestamp": now(),
                    })
                };
                self.post(chat("interaction.started")).await?;
                tokio::time::sleep(length).await;
                self.post(chat("interaction.ended")).await?;
            }
        }
        Ok(())
    }
}

fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
