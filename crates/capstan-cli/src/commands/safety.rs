//! Release safety commands: rollout plans (`capstan channel rollout NAME --plan …`, `capstan
//! channel plan NAME`), a channel's health, and scheduled publishes.

use capstan_client::api::Api;
use capstan_core::api::{CreatePlan, FailureAction, PlanView, ReleaseHealth, SchedulePublish, ScheduledPublish};
use capstan_core::rollout::percent_text;

use crate::context::GlobalArgs;
use crate::output::{or_dash, print_json, print_table, time};

/// A duration such as `90s`, `30m`, `6h`, `2d` (or a bare number of seconds), in ms.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len()));
    let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration (e.g. 30m, 6h, 2d)"))?;
    let unit_ms = match unit.trim() {
        "" | "s" => 1000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        other => return Err(format!("unknown unit `{other}` in `{text}` (s, m, h or d)")),
    };
    Ok((value * unit_ms).round() as i64)
}

/// A percentage such as `2%`, `2` or `0.5 %`.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%').trim();
    number.parse::<f64>().map_err(|_| format!("`{text}` is not a percentage (e.g. 2%)"))
}

/// A plan's steps in percent, as given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Steps(pub Vec<f64>);

/// Steps such as `1,10,50,100` (percent).
pub fn parse_steps(text: &str) -> Result<Steps, String> {
    text.split(',').map(parse_percent).collect::<Result<_, _>>().map(Steps)
}

/// A UTC time `2026-12-02T09:00Z` (seconds optional, `Z` or `+00:00`), or `+2h` from now; in
/// epoch ms.
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    if let Some(later) = text.strip_prefix('+') {
        return Ok(now_ms + parse_duration(later)?);
    }
    let bad = || format!("`{text}` is not a UTC time like 2026-12-02T09:00Z (or +2h)");
    let body = text.strip_suffix('Z').or_else(|| text.strip_suffix("+00:00")).ok_or_else(bad)?;
    let (date, clock) = body.split_once(['T', ' ']).ok_or_else(bad)?;
    let date: Vec<i64> = date.split('-').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
    let clock: Vec<i64> = clock.split(':').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
    let ([year, month, day], [hour, minute, rest @ ..]) = (date.as_slice(), clock.as_slice()) else {
        return Err(bad());
    };
    let second = rest.first().copied().unwrap_or(0);
    let valid = (1..=12).contains(month)
        && (1..=31).contains(day)
        && (0..24).contains(hour)
        && (0..60).contains(minute)
        && (0..60).contains(&second)
        && rest.len() <= 1;
    if !valid {
        return Err(bad());
    }
    // Days since 1970-01-01 from a civil date (Howard Hinnant's algorithm).
    let y = if *month <= 2 { year - 1 } else { *year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(((days * 86_400) + hour * 3600 + minute * 60 + second) * 1000)
}

/// The options of a plan, from `capstan channel rollout NAME --plan …`.
pub struct PlanOptions {
    /// Steps, percent.
    pub steps: Vec<f64>,
    /// The bundle (default: the channel's running rollout).
    pub version: Option<String>,
    /// Wait per step, ms.
    pub every_ms: i64,
    /// Least attempts per step.
    pub min_devices: i64,
    /// Threshold, percent.
    pub max_failure_rate: f64,
    /// Breach action.
    pub on_failure: FailureAction,
    /// Even if not newer.
    pub force: bool,
}

/// Starts a plan and prints it.
pub async fn start_plan(
    api: &Api,
    app: &str,
    channel: &str,
    options: PlanOptions,
    global: &GlobalArgs,
) -> anyhow::Result<()> {
    let version = plan_version(api, app, channel, options.version).await?;
    let body = CreatePlan {
        version,
        steps: options.steps,
        every_ms: options.every_ms,
        min_devices: options.min_devices,
        max_failure_rate: options.max_failure_rate,
        on_failure: Some(options.on_failure),
        force: options.force,
    };
    let view = api.create_plan(app, channel, &body).await?;
    if global.json {
        return print_json(&view);
    }
    println!("Started the rollout plan of channel `{channel}`.");
    print_plan(&view);
    Ok(())
}

/// The bundle a plan rolls out: `version`, or the one the channel rolls out now.
pub async fn plan_version(api: &Api, app: &str, channel: &str, version: Option<String>) -> anyhow::Result<String> {
    if let Some(version) = version {
        return Ok(version);
    }
    let current = api.channel(app, channel).await?;
    let rolling: Vec<&str> =
        current.lanes.iter().filter_map(|l| l.rollout.as_ref()).map(|r| r.version.as_str()).collect();
    match rolling.as_slice() {
        [one] => Ok(one.to_string()),
        [] => anyhow::bail!("channel `{channel}` rolls nothing out: name the bundle with --version"),
        _ => anyhow::bail!("channel `{channel}` rolls out {}: name one with --version", rolling.join(" and ")),
    }
}

/// What `capstan channel plan NAME` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanVerb {
    /// Show it.
    Show,
    /// Pause it.
    Pause,
    /// Resume it.
    Resume,
    /// Cancel it.
    Cancel,
}

/// Shows, pauses, resumes or cancels a channel's plan.
pub async fn plan(api: &Api, app: &str, channel: &str, verb: PlanVerb, global: &GlobalArgs) -> anyhow::Result<()> {
    let view = match verb {
        PlanVerb::Show => api.plan(app, channel).await?,
        PlanVerb::Pause => api.pause_plan(app, channel).await?,
        PlanVerb::Resume => api.resume_plan(app, channel).await?,
        PlanVerb::Cancel => api.cancel_plan(app, channel).await?,
    };
    if global.json {
        return print_json(&view);
    }
    print_plan(&view);
    Ok(())
}

fn print_plan(view: &PlanView) {
    let plan = &view.plan;
    let steps: Vec<String> = plan
        .steps_bp
        .iter()
        .enumerate()
        .map(|(i, &bp)| {
            let text = percent_text(f64::from(bp) / 10_000.0);
            if i as u32 == plan.step { format!("[{text}]") } else { text }
        })
        .collect();
    println!(
        "Rollout plan of `{}`: {} on {}",
        plan.channel,
        plan.version,
        capstan_core::api::describe_line(plan.min_native.as_deref())
    );
    println!("  status              {}", plan.status.as_str());
    println!("  steps               {}", steps.join(" → "));
    println!("  every               {} min, at least {} install attempts", plan.every_ms / 60_000, plan.min_devices);
    println!(
        "  on failure          {} when failing over {}",
        plan.on_failure.as_str(),
        percent_text(f64::from(plan.max_failure_bp) / 10_000.0)
    );
    println!("  next step           {}", view.next_step_at_ms.map(time).unwrap_or_else(|| "-".into()));
    if let Some(reason) = &plan.reason {
        println!("  why                 {reason}");
    }
    if let Some(health) = &view.health {
        println!("  health              {}", health.summary);
    }
}

/// Prints a channel's health.
pub async fn health(api: &Api, app: &str, channel: &str, global: &GlobalArgs) -> anyhow::Result<()> {
    let health = api.channel_health(app, channel).await?;
    if global.json {
        return print_json(&health);
    }
    let rows: Vec<Vec<String>> = health.iter().map(health_row).collect();
    print_table(
        &["BUNDLE", "LINE", "AS", "ATTEMPTS", "FAILURES", "RATE", "95% INTERVAL", "VERDICT"],
        &rows,
        "serves no bundle",
    );
    for h in &health {
        println!("{}", h.summary);
    }
    Ok(())
}

fn health_row(h: &ReleaseHealth) -> Vec<String> {
    vec![
        h.version.clone(),
        or_dash(h.min_native.as_deref()),
        if h.rollout { "rollout".into() } else { "target".into() },
        h.current.attempts.to_string(),
        h.current.failures.to_string(),
        percent_text(h.current.rate),
        format!("{}–{}", percent_text(h.current.lower), percent_text(h.current.upper)),
        format!("{:?}", h.verdict).to_lowercase(),
    ]
}

/// Schedules a publish and prints it.
pub async fn schedule(
    api: &Api,
    app: &str,
    channel: &str,
    version: String,
    at: &str,
    global: &GlobalArgs,
) -> anyhow::Result<()> {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let at_ms = parse_time(at, now).map_err(anyhow::Error::msg)?;
    let created = api.schedule_publish(app, channel, &SchedulePublish { version, at_ms }).await?;
    if global.json {
        return print_json(&created);
    }
    println!(
        "Scheduled #{}: {} to channel `{}` at {}",
        created.id,
        created.version,
        created.channel,
        time(created.at_ms)
    );
    Ok(())
}

/// Lists the app's scheduled publishes.
pub async fn schedules(api: &Api, app: &str, global: &GlobalArgs) -> anyhow::Result<()> {
    let list = api.schedules(app).await?;
    if global.json {
        return print_json(&list);
    }
    let rows: Vec<Vec<String>> = list.iter().map(schedule_row).collect();
    print_table(&["ID", "WHEN", "CHANNEL", "VERSION", "STATUS", "OUTCOME", "BY"], &rows, "no scheduled publishes");
    Ok(())
}

fn schedule_row(s: &ScheduledPublish) -> Vec<String> {
    vec![
        s.id.to_string(),
        time(s.at_ms),
        s.channel.clone(),
        s.version.clone(),
        s.status.as_str().to_owned(),
        or_dash(s.outcome.as_deref()),
        s.created_by.clone(),
    ]
}

/// Cancels a scheduled publish.
pub async fn unschedule(api: &Api, app: &str, id: i64, global: &GlobalArgs) -> anyhow::Result<()> {
    let cancelled = api.cancel_schedule(app, id).await?;
    if global.json {
        return print_json(&cancelled);
    }
    println!("Cancelled #{}: {} to channel `{}`", cancelled.id, cancelled.version, cancelled.channel);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_percentages_and_steps() {
        assert_eq!(parse_duration("6h"), Ok(6 * 3_600_000));
        assert_eq!(parse_duration("30m"), Ok(1_800_000));
        assert_eq!(parse_duration("2d"), Ok(2 * 86_400_000));
        assert_eq!(parse_duration("90"), Ok(90_000));
        assert!(parse_duration("6 weeks").is_err() && parse_duration("h").is_err());
        assert_eq!(parse_percent("2%"), Ok(2.0));
        assert_eq!(parse_percent("0.5 %"), Ok(0.5));
        assert_eq!(parse_steps("1,10,50,100"), Ok(Steps(vec![1.0, 10.0, 50.0, 100.0])));
        assert!(parse_steps("1,x").is_err());
    }

    #[test]
    fn utc_times() {
        assert_eq!(parse_time("1970-01-01T00:00Z", 0), Ok(0));
        assert_eq!(parse_time("2026-12-02T09:00Z", 0), Ok(1_796_202_000_000));
        assert_eq!(parse_time("2026-12-02T09:00:30+00:00", 0), Ok(1_796_202_030_000));
        assert_eq!(parse_time("2024-02-29T00:00Z", 0), Ok(1_709_164_800_000));
        assert_eq!(parse_time("+2h", 1000), Ok(1000 + 7_200_000));
        assert!(parse_time("2026-12-02T09:00", 0).is_err(), "no zone: refused rather than guessed");
        assert!(parse_time("2026-13-02T09:00Z", 0).is_err());
        assert!(parse_time("tomorrow", 0).is_err());
    }
}
