//! `dialpad-connector export`: one connection's records of one model into an NDJSON or CSV
//! file, a Dialpad page at a time, through the same unified mappers as the API
//! (`dpc_server::export`), paced by the connection's client under Dialpad's rate limits.
//!
//! Resumable: after each page the file is flushed and fsynced, then `FILE.checkpoint.json` is
//! replaced atomically (written beside, fsynced, renamed, directory fsynced) with where the
//! next page starts and the file's length at that point. `--resume` truncates the file to that
//! length (a record half-written by a killed process goes) and goes on from there, so no
//! record is written twice. Ctrl-C or SIGTERM stop between pages, after the flush.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use dpc_core::cursor::Resume;
use dpc_server::export::{Export, ExportRequest};
use dpc_server::operations::CONNECTOR_ID;
use dpc_server::{AppState, Config};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A TOML configuration file (as for `serve`).
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, default_value = CONNECTOR_ID)]
    connector: String,
    /// The connection's owner id.
    #[arg(long)]
    owner: String,
    /// The unified model: telephonyCall, telephonyCallTranscript, genericContact, genericUser or
    /// genericWorkspace.
    #[arg(long)]
    model: String,
    /// Calls started after this time (ISO-8601, a date YYYY-MM-DD meaning its midnight UTC, or
    /// epoch milliseconds); telephonyCall and telephonyCallTranscript.
    #[arg(long)]
    since: Option<String>,
    /// Calls started before this time (default: when the export started, kept for `--resume`).
    #[arg(long)]
    until: Option<String>,
    /// Fields to expand, comma-separated (the model's expandable fields; on telephonyCall,
    /// `transcript,recap` adds each transcript's AI recap, paced at Dialpad's 1 per 5 s).
    #[arg(long, value_delimiter = ',')]
    expand: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Ndjson)]
    format: Format,
    /// The output file (its checkpoint is written beside it: FILE.checkpoint.json).
    #[arg(long)]
    out: PathBuf,
    /// Continue the export that FILE.checkpoint.json describes (a fresh one if neither exists).
    #[arg(long)]
    resume: bool,
    /// Overwrite an existing FILE (and its checkpoint).
    #[arg(long, conflicts_with = "resume")]
    force: bool,
    /// Add Dialpad's record as received (`rawResource`) to each NDJSON line.
    #[arg(long)]
    raw: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Ndjson,
    Csv,
}

/// The export stopped on Ctrl-C or SIGTERM, everything up to the last page kept (exit 130).
#[derive(Debug, thiserror::Error)]
#[error(
    "interrupted: {records} records are in {out}; run the same command with --resume to continue"
)]
pub struct Interrupted {
    records: u64,
    out: String,
}

/// What `FILE.checkpoint.json` holds: the export it belongs to, where it resumes and how much
/// of the file is complete.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Checkpoint {
    version: u8,
    connector_id: String,
    owner_id: String,
    model: String,
    format: Format,
    since: Option<String>,
    until: Option<String>,
    expand: Vec<String>,
    raw: bool,
    /// Where the next page starts (Dialpad's cursor and the position inside its page).
    resume: Resume,
    /// The output's length when the records so far were flushed and fsynced.
    bytes: u64,
    records: u64,
    done: bool,
    /// How spent Dialpad's rate limits were when this was written (the client's limiter), so a
    /// `--resume` soon after paces on from there rather than bursting into a budget Dialpad
    /// has not refilled (which costs a 429 and its `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pacing: Option<Pacing>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pacing {
    /// Wall-clock time (Unix milliseconds) of the reading.
    at_ms: i64,
    /// Per limit: milliseconds until it is whole again.
    spent_ms: Vec<(String, u64)>,
}

impl Pacing {
    fn read(limiter: Option<&dialpad::RateLimiter>) -> Option<Pacing> {
        let spent = limiter?.spent();
        Some(Pacing {
            at_ms: chrono::Utc::now().timestamp_millis(),
            spent_ms: spent
                .into_iter()
                .map(|(k, d)| (k, d.as_millis() as u64))
                .collect(),
        })
    }

    /// What is still spent now, given to `limiter`.
    fn restore(&self, limiter: Option<&dialpad::RateLimiter>) {
        let Some(limiter) = limiter else { return };
        let since = (chrono::Utc::now().timestamp_millis() - self.at_ms).max(0) as u64;
        let left: Vec<(String, std::time::Duration)> = self
            .spent_ms
            .iter()
            // A checkpoint from an hour ago holds nothing still spent; a clock set back cannot
            // make a limit wait longer than it was spent.
            .filter(|(_, ms)| *ms > since)
            .map(|(k, ms)| (k.clone(), std::time::Duration::from_millis(ms - since)))
            .collect();
        limiter.restore_spent(&left);
    }
}

impl Checkpoint {
    fn same_export(&self, other: &Checkpoint) -> bool {
        let key = |c: &Checkpoint| {
            (
                c.connector_id.clone(),
                c.owner_id.clone(),
                c.model.clone(),
                c.format,
                c.since.clone(),
                c.until.clone(),
                c.expand.clone(),
                c.raw,
            )
        };
        key(self) == key(other)
    }
}

fn checkpoint_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".checkpoint.json");
    out.with_file_name(name)
}

/// Replaces the checkpoint atomically: a reader (or a resume after a crash) sees the old one or
/// the new one, never half of one.
fn write_checkpoint(path: &Path, cp: &Checkpoint) -> std::io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(cp).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    // The rename itself is durable only once the directory is.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    File::open(dir)?.sync_all()
}

/// `YYYY-MM-DD` as its midnight UTC; anything else is left for the model's filter to check
/// (ISO-8601 or epoch milliseconds).
fn normalize_time(s: &str) -> String {
    let s = s.trim();
    match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) => format!("{d}T00:00:00Z"),
        Err(_) => s.to_owned(),
    }
}

/// Refuses to resume at `bytes` unless it is the end of a line and, for NDJSON, the lines before
/// it are `records`. Reads the file once, sequentially, up to `bytes`.
fn check_boundary(
    out: &std::path::Path,
    bytes: u64,
    records: u64,
    format: Format,
) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::Read;
    if bytes == 0 {
        return Ok(());
    }
    let mut f = File::open(out)?;
    let mut left = bytes;
    let mut lines = 0u64;
    let mut last = 0u8;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        last = buf[n - 1];
        left -= n as u64;
    }
    let counts_agree = format != Format::Ndjson || lines == records;
    if left > 0 || last != b'\n' || !counts_agree {
        return Err(format!(
            "{} does not match its checkpoint ({records} records in {bytes} bytes): it or the \
             checkpoint was changed; start again with --force",
            out.display()
        )
        .into());
    }
    Ok(())
}

fn millis_of(s: &str) -> Option<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

pub async fn run(args: ExportArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(args.config.as_deref())?;
    let store = dpc_server::connect_store(&config).await?;
    let state = AppState::new(config, store)?;
    let cp_path = checkpoint_path(&args.out);
    let is_call_model = matches!(
        dpc_core::Model::parse(&args.model),
        Some(dpc_core::Model::Call | dpc_core::Model::Transcript)
    );

    let previous: Option<Checkpoint> = if args.resume && cp_path.exists() {
        let text = std::fs::read(&cp_path)?;
        Some(serde_json::from_slice(&text).map_err(|e| {
            format!(
                "{} is not a checkpoint this tool wrote: {e}",
                cp_path.display()
            )
        })?)
    } else {
        None
    };
    let since = args.since.as_deref().map(normalize_time);
    // A window that ends when the export started: calls that end meanwhile do not shift the
    // pages being read, and a resume reads the same window.
    let until = match (&args.until, &previous) {
        (Some(u), _) => Some(normalize_time(u)),
        (None, Some(p)) => p.until.clone(),
        (None, None) if is_call_model => Some(dpc_core::resources::now_iso()),
        (None, None) => None,
    };
    if let (Some(s), Some(u)) = (&since, &until) {
        if let (Some(a), Some(b)) = (millis_of(s), millis_of(u)) {
            if a >= b {
                return Err(format!("--since ({s}) must be before --until ({u})").into());
            }
        }
    }
    let mut expand: Vec<String> = args
        .expand
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    expand.dedup();
    let mut cp = Checkpoint {
        version: 1,
        connector_id: args.connector.clone(),
        owner_id: args.owner.clone(),
        model: args.model.clone(),
        format: args.format,
        since: since.clone(),
        until: until.clone(),
        expand: expand.clone(),
        raw: args.raw,
        resume: Resume::default(),
        bytes: 0,
        records: 0,
        done: false,
        pacing: None,
    };
    if let Some(p) = &previous {
        if !p.same_export(&cp) {
            return Err(format!(
                "{} belongs to another export ({} of {} as {}, since {}, until {}, expand {}): \
                 give the same options, or start a new one with --force",
                cp_path.display(),
                p.model,
                p.owner_id,
                format!("{:?}", p.format).to_lowercase(),
                p.since.as_deref().unwrap_or("-"),
                p.until.as_deref().unwrap_or("-"),
                if p.expand.is_empty() {
                    "-".to_owned()
                } else {
                    p.expand.join(",")
                },
            )
            .into());
        }
        if p.done {
            eprintln!(
                "the export in {} is already complete ({} records)",
                args.out.display(),
                p.records
            );
            return Ok(());
        }
    }

    // Everything is checked before the file is touched: an unknown model, a connection that
    // is not authorized or may not list leave no file behind (or the old one as it was).
    let export = Export::open(
        &state,
        &ExportRequest {
            connector_id: args.connector.clone(),
            owner_id: args.owner.clone(),
            model: args.model.clone(),
            since,
            until,
            expand,
            raw: args.raw,
        },
    )
    .await
    .map_err(|e| format!("{}: {}", e.code, e.message))?;
    let columns = export.columns();

    let mut file = match previous {
        Some(p) => {
            let mut f = OpenOptions::new()
                .write(true)
                .open(&args.out)
                .map_err(|e| {
                    format!(
                        "cannot open {} to resume it: {e} (its checkpoint is {})",
                        args.out.display(),
                        cp_path.display()
                    )
                })?;
            let len = f.metadata()?.len();
            if len < p.bytes {
                return Err(format!(
                    "{} is shorter ({len} bytes) than its checkpoint says ({} bytes): it was changed; start again with --force",
                    args.out.display(),
                    p.bytes
                )
                .into());
            }
            // The checkpoint's offset must end a record (and, for NDJSON, the records before
            // it must be the checkpoint's count): an edited or foreign checkpoint would
            // otherwise cut a record in half and glue the next one to it.
            check_boundary(&args.out, p.bytes, p.records, p.format)?;
            // What a stopped run wrote after its last checkpoint is written again now.
            f.set_len(p.bytes)?;
            f.sync_all()?;
            f.seek(SeekFrom::End(0))?;
            if let Some(pacing) = &p.pacing {
                pacing.restore(export.rate_limiter().as_deref());
            }
            cp = p;
            f
        }
        None => {
            if args.out.exists() && !args.force {
                let hint = if cp_path.exists() {
                    "pass --resume to continue it, or --force to overwrite it"
                } else {
                    "pass --force to overwrite it"
                };
                return Err(format!("{} exists: {hint}", args.out.display()).into());
            }
            let mut f = File::create(&args.out)
                .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
            if args.format == Format::Csv {
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record(&columns)?;
                let header = w.into_inner().map_err(|e| e.to_string())?;
                f.write_all(&header)?;
                cp.bytes = header.len() as u64;
            }
            f.sync_all()?;
            write_checkpoint(&cp_path, &cp)?;
            f
        }
    };

    let mut progress = Progress::new(&cp);
    let mut stop = std::pin::pin!(crate::sim_cmd::shutdown_signal());
    let started_with = cp.records;
    loop {
        let at = cp.resume.clone();
        let page = tokio::select! {
            biased;
            _ = &mut stop => {
                // A request may have been in flight: what it spent is kept for --resume.
                cp.pacing = Pacing::read(export.rate_limiter().as_deref());
                let _ = write_checkpoint(&cp_path, &cp);
                progress.finish(&cp);
                return Err(Box::new(Interrupted {
                    records: cp.records,
                    out: args.out.display().to_string(),
                }));
            }
            page = export.page(&at) => page,
        };
        let (records, next) = match page {
            Ok(p) => p,
            Err(e) => {
                progress.finish(&cp);
                return Err(format!(
                    "{}: {} — the {} records written so far stay in {} (valid up to there); \
                     run the same command with --resume to continue",
                    e.code,
                    e.message,
                    cp.records,
                    args.out.display()
                )
                .into());
            }
        };
        let bytes = match args.format {
            Format::Ndjson => ndjson(&records)?,
            Format::Csv => csv_rows(&records, &columns)?,
        };
        file.write_all(&bytes)?;
        file.sync_data()?;
        cp.bytes += bytes.len() as u64;
        cp.records += records.len() as u64;
        let last_started = records
            .last()
            .and_then(|r| r["fields"]["startedAt"].as_str())
            .and_then(millis_of);
        match next {
            Some(n) => cp.resume = n,
            None => cp.done = true,
        }
        cp.pacing = Pacing::read(export.rate_limiter().as_deref());
        write_checkpoint(&cp_path, &cp)?;
        progress.page(&cp, last_started);
        if cp.done {
            break;
        }
    }
    progress.finish(&cp);
    eprintln!(
        "exported {} records ({} in this run) to {}",
        cp.records,
        cp.records - started_with,
        args.out.display()
    );
    Ok(())
}

fn ndjson(records: &[Value]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(records.len() * 512);
    for r in records {
        serde_json::to_writer(&mut out, r)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// One row per resource: id and times, then each field (strings as they are, numbers and
/// booleans as text, null as empty, objects and arrays as JSON).
fn csv_rows(records: &[Value], columns: &[String]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(records.len() * 256));
    let cell = |v: Option<&Value>| match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
    };
    for r in records {
        let row: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < 3 {
                    cell(r.get(c.as_str()))
                } else {
                    cell(r["fields"].get(c.as_str()))
                }
            })
            .collect();
        w.write_record(&row)?;
    }
    Ok(w.into_inner().map_err(|e| e.to_string())?)
}

/// A bar on a terminal (records, rate, and the ETA from how much of the time window the pages
/// have covered: calls come newest first); plain lines on stderr otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    at_start: u64,
    last_line: Instant,
    /// The window, epoch ms (for the ETA).
    window: Option<(i64, i64)>,
}

impl Progress {
    fn new(cp: &Checkpoint) -> Self {
        let window = match (
            cp.since.as_deref().and_then(millis_of),
            cp.until.as_deref().and_then(millis_of),
        ) {
            (Some(s), Some(u)) if u > s => Some((s, u)),
            _ => None,
        };
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match window {
                Some((s, u)) => {
                    let b = ProgressBar::new((u - s) as u64);
                    b.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{elapsed_precise}] [{wide_bar}] {percent}% {msg} ETA {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b
                }
                None => {
                    let b = ProgressBar::new_spinner();
                    b.set_style(
                        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b
                }
            };
            b_tick(&bar);
            bar
        });
        let p = Progress {
            bar,
            started: Instant::now(),
            at_start: cp.records,
            last_line: Instant::now(),
            window,
        };
        p.message(cp);
        p
    }

    fn rate(&self, cp: &Checkpoint) -> f64 {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        (cp.records - self.at_start) as f64 / secs
    }

    fn message(&self, cp: &Checkpoint) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{} records, {:.0}/s", cp.records, self.rate(cp)));
        }
    }

    fn page(&mut self, cp: &Checkpoint, last_started: Option<i64>) {
        let covered = match (self.window, last_started) {
            (Some((s, u)), Some(t)) => Some(((u - t.clamp(s, u)) as u64, (u - s) as u64)),
            _ => None,
        };
        if let Some(b) = &self.bar {
            if let Some((c, _)) = covered {
                b.set_position(c);
            }
            if cp.done {
                b.set_position(b.length().unwrap_or(0));
            }
            self.message(cp);
            return;
        }
        // Plain lines: at most one every 2 s, and the last one.
        if !cp.done && self.last_line.elapsed() < Duration::from_secs(2) {
            return;
        }
        self.last_line = Instant::now();
        let elapsed = self.started.elapsed().as_secs_f64();
        let mut line = format!(
            "export: {} records, {:.0}/s, {:.1} s",
            cp.records,
            self.rate(cp),
            elapsed
        );
        if let Some((c, total)) = covered.filter(|_| !cp.done) {
            let frac = c as f64 / total.max(1) as f64;
            line.push_str(&format!(", {:.0}% of the window", frac * 100.0));
            if frac > 0.0 {
                line.push_str(&format!(", ETA {:.0} s", elapsed * (1.0 - frac) / frac));
            }
        }
        eprintln!("{line}");
    }

    fn finish(&self, cp: &Checkpoint) {
        if let Some(b) = &self.bar {
            self.message(cp);
            b.abandon();
        }
    }
}

fn b_tick(b: &ProgressBar) {
    b.enable_steady_tick(Duration::from_millis(200));
}
