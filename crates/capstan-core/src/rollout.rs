//! Release safety as pure functions: which device events count as install attempts and
//! failures, the health of a bundle on a channel (a Wilson interval on its failure rate,
//! against the bundle it replaces), and what a rollout plan does next.
//!
//! The server keeps counters per (app, channel, bundle, native version) from the events, and
//! its job runner calls these functions; nothing here reads a clock or a database.

use std::collections::BTreeSet;

use crate::api::{FailureAction, FailureRate, PlanStatus, ReleaseHealth, RolloutPlan, Verdict};

/// z of a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Least attempts before a bundle can be judged failing: a single failed download of the first
/// device must not pause a release (one failure in one attempt has a lower bound of 21 %).
pub const MIN_ATTEMPTS_TO_FAIL: i64 = 10;

/// The guard's threshold on new channels, basis points (5 % of install attempts).
pub const DEFAULT_GUARD_THRESHOLD_BP: u32 = 500;

/// What one device event adds to a bundle's (attempts, failures), or `None` when it is not
/// about installing: `set` is a successful attempt; a failed download, checksum, decrypt,
/// unzip, set or file path ends an attempt as a failure; `update_fail` (the app did not call
/// `notifyAppReady()` and the plugin went back to the previous bundle) is a failure of an
/// attempt already counted by its `set`.
pub fn health_delta(action: &str) -> Option<(i64, i64)> {
    match action {
        "set" => Some((1, 0)),
        "update_fail" => Some((0, 1)),
        "download_fail" | "checksum_fail" | "decrypt_fail" | "unzip_fail" | "set_fail" => Some((1, 1)),
        a if a.ends_with("_path_fail") => Some((1, 1)),
        _ => None,
    }
}

/// The 95 % Wilson score interval of `failures` in `attempts` (0–1 each end; (0, 1) without
/// attempts). Unlike the normal approximation it stays inside 0–1 and is honest for small
/// samples and rates near 0, which is where a release starts.
pub fn wilson(failures: i64, attempts: i64) -> (f64, f64) {
    if attempts <= 0 {
        return (0.0, 1.0);
    }
    let n = attempts as f64;
    let p = (failures.clamp(0, attempts) as f64) / n;
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Figures of `failures` in `attempts` (failures above attempts, possible with rollbacks of
/// attempts counted before the counters existed, are capped at attempts).
pub fn failure_rate(attempts: i64, failures: i64) -> FailureRate {
    let attempts = attempts.max(0);
    let failures = failures.clamp(0, attempts);
    let (lower, upper) = wilson(failures, attempts);
    let rate = if attempts == 0 { 0.0 } else { failures as f64 / attempts as f64 };
    FailureRate { attempts, failures, rate, lower, upper }
}

/// One counter row: attempts and failures of a bundle on one native version of one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCount {
    /// Bundle version.
    pub version: String,
    /// Native version the devices reported.
    pub native_version: String,
    /// Attempts.
    pub attempts: i64,
    /// Failures.
    pub failures: i64,
}

/// What is judged: one bundle a channel serves on one native line.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    /// Channel name.
    pub channel: &'a str,
    /// The line.
    pub min_native: Option<&'a str>,
    /// The bundle.
    pub version: &'a str,
    /// Served in a rollout (else as the line's target).
    pub rollout: bool,
    /// The bundle it replaces, if known.
    pub baseline: Option<&'a str>,
}

/// A percentage for people: `2 %`, `0.5 %`, `12.3 %`.
pub fn percent_text(fraction: f64) -> String {
    let percent = fraction * 100.0;
    let text = format!("{percent:.1}");
    format!("{} %", text.strip_suffix(".0").unwrap_or(&text))
}

fn bp_text(bp: u32) -> String {
    percent_text(f64::from(bp) / 10_000.0)
}

/// The health of `served` from the channel's counter rows, judged against `threshold_bp`.
///
/// The baseline counts only native versions the bundle itself was attempted on, so a bundle
/// tried on old shells only is not compared with the whole fleet. Failing needs
/// [`MIN_ATTEMPTS_TO_FAIL`] attempts, an interval whose lower end is over the threshold, and a
/// lower end over the baseline's rate (when the baseline has as many attempts): a failure rate
/// the replaced bundle shares comes from the devices or the network, not from the bundle.
pub fn release_health(served: Served<'_>, rows: &[HealthCount], threshold_bp: u32) -> ReleaseHealth {
    let mut natives = BTreeSet::new();
    let (mut attempts, mut failures) = (0, 0);
    for row in rows.iter().filter(|r| r.version == served.version) {
        attempts += row.attempts;
        failures += row.failures;
        if row.attempts > 0 {
            natives.insert(row.native_version.as_str());
        }
    }
    let current = failure_rate(attempts, failures);
    let baseline = served.baseline.map(|base| {
        let (mut attempts, mut failures) = (0, 0);
        for row in rows.iter().filter(|r| r.version == base && natives.contains(r.native_version.as_str())) {
            attempts += row.attempts;
            failures += row.failures;
        }
        failure_rate(attempts, failures)
    });
    let threshold = f64::from(threshold_bp) / 10_000.0;
    let baseline_rate = baseline.filter(|b| b.attempts >= MIN_ATTEMPTS_TO_FAIL).map(|b| b.rate);
    let verdict = if current.attempts == 0 {
        Verdict::NoData
    } else if current.attempts >= MIN_ATTEMPTS_TO_FAIL
        && current.lower > threshold
        && baseline_rate.is_none_or(|rate| current.lower > rate)
    {
        Verdict::Failing
    } else if current.rate <= threshold {
        Verdict::Healthy
    } else {
        Verdict::Watching
    };
    let figures = format!(
        "{} failures in {} attempts ({}, 95 % interval {}–{})",
        current.failures,
        current.attempts,
        percent_text(current.rate),
        percent_text(current.lower),
        percent_text(current.upper)
    );
    let compared = match (served.baseline, baseline) {
        (Some(base), Some(b)) if b.attempts > 0 => {
            format!("; {base} fails {} on the same native versions ({} attempts)", percent_text(b.rate), b.attempts)
        }
        _ => String::new(),
    };
    let judged = match verdict {
        Verdict::NoData => "no install attempts yet".to_owned(),
        Verdict::Healthy => format!("healthy: {figures}, within {}", bp_text(threshold_bp)),
        Verdict::Watching => format!("watching: {figures}, over {} but not yet with confidence", bp_text(threshold_bp)),
        Verdict::Failing => format!("failing: {figures}, over the {} threshold", bp_text(threshold_bp)),
    };
    ReleaseHealth {
        channel: served.channel.to_owned(),
        min_native: served.min_native.map(str::to_owned),
        version: served.version.to_owned(),
        rollout: served.rollout,
        current,
        baseline_version: served.baseline.map(str::to_owned),
        baseline,
        threshold_bp,
        verdict,
        summary: format!("{} on `{}` is {judged}{compared}", served.version, served.channel),
    }
}

/// What a plan does at an evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanDecision {
    /// Nothing now (not active, not due, too few devices, or not yet healthy); why, in words.
    Wait(String),
    /// Take step `step` (a share under 100 %).
    Advance {
        /// The new step's index.
        step: u32,
        /// Why, in words.
        reason: String,
    },
    /// Give the bundle to every device (the last step).
    Finish(String),
    /// The bundle is failing: pause or roll back, as the plan says.
    Breach {
        /// What to do.
        action: FailureAction,
        /// Why, in words.
        reason: String,
    },
}

/// What `plan` does now, given its bundle's health (judged against the plan's threshold).
/// A breach is acted on at once, whatever the step's wait; a step is taken only when due, with
/// enough attempts, and healthy.
pub fn evaluate_plan(plan: &RolloutPlan, health: &ReleaseHealth, now_ms: i64) -> PlanDecision {
    if plan.status != PlanStatus::Active {
        return PlanDecision::Wait(format!("the plan is {}", plan.status.as_str()));
    }
    if health.verdict == Verdict::Failing {
        return PlanDecision::Breach {
            action: plan.on_failure,
            reason: format!("step {} ({}): {}", plan.step + 1, bp_text(plan.share_bp()), health.summary),
        };
    }
    let next = plan.step + 1;
    let Some(&next_bp) = plan.steps_bp.get(next as usize) else {
        return PlanDecision::Finish(format!("last step reached: {}", health.summary));
    };
    let due = plan.step_started_at_ms + plan.every_ms;
    if now_ms < due {
        return PlanDecision::Wait(format!("the next step is due at {due} (epoch ms)"));
    }
    if health.current.attempts < plan.min_devices {
        return PlanDecision::Wait(format!(
            "{} install attempts of the {} the step needs",
            health.current.attempts, plan.min_devices
        ));
    }
    if health.verdict != Verdict::Healthy && plan.min_devices > 0 {
        return PlanDecision::Wait(health.summary.clone());
    }
    let reason = format!("step {} of {} ({}): {}", next + 1, plan.steps_bp.len(), bp_text(next_bp), health.summary);
    if next_bp >= 10_000 { PlanDecision::Finish(reason) } else { PlanDecision::Advance { step: next, reason } }
}

/// Checks a plan's steps (at least two, in percent, ascending, in (0, 100], ending at 100) and answers them in
/// basis points.
pub fn plan_steps(percents: &[f64]) -> Result<Vec<u32>, String> {
    if percents.len() < 2 {
        return Err("a plan needs at least two steps, the last one 100 % (e.g. 1,10,50,100)".into());
    }
    let mut steps = Vec::with_capacity(percents.len());
    for &percent in percents {
        if !(percent > 0.0 && percent <= 100.0) {
            return Err(format!("step {percent} % is not between 0 (excluded) and 100 %"));
        }
        let bp = (percent * 100.0).round() as u32;
        if steps.last().is_some_and(|&last| bp <= last) {
            return Err(format!("steps must grow: {percent} % comes after a step at least as large"));
        }
        steps.push(bp);
    }
    if steps.last() != Some(&10_000) {
        return Err("the last step must be 100 % (every device)".into());
    }
    Ok(steps)
}

/// Checks a failure threshold in percent and answers it in basis points.
pub fn threshold_bp(percent: f64) -> Result<u32, String> {
    if !(percent > 0.0 && percent <= 100.0) {
        return Err(format!("failure threshold {percent} % is not between 0 (excluded) and 100 %"));
    }
    Ok((percent * 100.0).round().max(1.0) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-4
    }

    #[test]
    fn wilson_matches_published_values() {
        // Reference values (Newcombe 1998, table I; and 0 of 10: 0–0.2775).
        let (lo, hi) = wilson(81, 263);
        assert!(close(lo, 0.2553) && close(hi, 0.3662), "{lo} {hi}");
        let (lo, hi) = wilson(0, 10);
        assert!(close(lo, 0.0) && close(hi, 0.2775), "{lo} {hi}");
        let (lo, hi) = wilson(10, 10);
        assert!(close(lo, 0.7225) && close(hi, 1.0), "{lo} {hi}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        // More attempts at the same rate: a narrower interval around it.
        let (lo_small, hi_small) = wilson(2, 100);
        let (lo_big, hi_big) = wilson(200, 10_000);
        assert!(lo_small < lo_big && hi_big < hi_small && lo_big < 0.02 && 0.02 < hi_big);
    }

    #[test]
    fn events_count_as_attempts_and_failures() {
        assert_eq!(health_delta("set"), Some((1, 0)));
        assert_eq!(health_delta("download_fail"), Some((1, 1)));
        assert_eq!(health_delta("windows_path_fail"), Some((1, 1)));
        assert_eq!(health_delta("update_fail"), Some((0, 1)), "a rollback fails an attempt its set counted");
        assert_eq!(health_delta("app_launch_ready"), None);
        assert_eq!(health_delta("download_complete"), None);
        assert_eq!(failure_rate(2, 5).failures, 2, "capped at attempts");
    }

    fn row(version: &str, native: &str, attempts: i64, failures: i64) -> HealthCount {
        HealthCount { version: version.into(), native_version: native.into(), attempts, failures }
    }

    fn served<'a>(version: &'a str, baseline: Option<&'a str>) -> Served<'a> {
        Served { channel: "production", min_native: None, version, rollout: true, baseline }
    }

    #[test]
    fn verdicts_need_confidence_to_fail() {
        let judge = |attempts, failures| {
            release_health(served("1.1.0", None), &[row("1.1.0", "2.0.0", attempts, failures)], 200).verdict
        };
        assert_eq!(judge(0, 0), Verdict::NoData);
        assert_eq!(judge(100, 1), Verdict::Healthy);
        assert_eq!(judge(1, 1), Verdict::Watching, "one failure of one attempt is no verdict yet");
        assert_eq!(judge(100, 3), Verdict::Watching, "3 % over 2 %, but the interval reaches under 2 %");
        assert_eq!(judge(100, 20), Verdict::Failing);
        assert_eq!(judge(10, 10), Verdict::Failing);
    }

    #[test]
    fn the_baseline_counts_the_same_native_versions_and_excuses_shared_failures() {
        let rows = [
            row("1.1.0", "2.0.0", 100, 20),
            row("1.0.0", "2.0.0", 1000, 200),
            // Native versions 1.1.0 never reached: not part of the comparison.
            row("1.0.0", "3.0.0", 9000, 0),
        ];
        let health = release_health(served("1.1.0", Some("1.0.0")), &rows, 200);
        let baseline = health.baseline.unwrap();
        assert_eq!((baseline.attempts, baseline.failures), (1000, 200));
        assert_eq!(health.verdict, Verdict::Watching, "the old bundle fails as much on these devices");
        let rows = [row("1.1.0", "2.0.0", 100, 20), row("1.0.0", "2.0.0", 1000, 5)];
        let health = release_health(served("1.1.0", Some("1.0.0")), &rows, 200);
        assert_eq!(health.verdict, Verdict::Failing);
        assert!(health.summary.contains("20 failures in 100 attempts"), "{}", health.summary);
        assert!(health.summary.contains("1.0.0 fails 0.5 %"), "{}", health.summary);
    }

    fn plan(step: u32, started: i64) -> RolloutPlan {
        RolloutPlan {
            channel: "production".into(),
            min_native: None,
            version: "1.1.0".into(),
            steps_bp: vec![100, 1000, 5000, 10_000],
            every_ms: 1000,
            min_devices: 50,
            max_failure_bp: 200,
            on_failure: FailureAction::Rollback,
            step,
            step_started_at_ms: started,
            status: PlanStatus::Active,
            reason: None,
            revision: 1,
            created_by: "me".into(),
            created_at_ms: 0,
            updated_at_ms: 0,
        }
    }

    fn health(attempts: i64, failures: i64) -> ReleaseHealth {
        release_health(served("1.1.0", None), &[row("1.1.0", "2.0.0", attempts, failures)], 200)
    }

    #[test]
    fn plans_advance_only_when_due_with_enough_healthy_devices() {
        let p = plan(0, 10_000);
        assert!(matches!(evaluate_plan(&p, &health(100, 0), 10_500), PlanDecision::Wait(_)), "not due");
        assert!(matches!(evaluate_plan(&p, &health(49, 0), 11_000), PlanDecision::Wait(w) if w.contains("49")));
        assert!(matches!(evaluate_plan(&p, &health(100, 4), 11_000), PlanDecision::Wait(_)), "4 % is watching");
        assert!(matches!(evaluate_plan(&p, &health(100, 1), 11_000), PlanDecision::Advance { step: 1, .. }));
        assert!(matches!(evaluate_plan(&plan(2, 0), &health(100, 0), 1000), PlanDecision::Finish(_)));
        let mut paused = plan(1, 0);
        paused.status = PlanStatus::Paused;
        assert!(matches!(evaluate_plan(&paused, &health(100, 0), 5000), PlanDecision::Wait(_)));
        assert_eq!(plan(1, 7).next_step_at_ms(), Some(1007));
        assert_eq!(plan(3, 7).next_step_at_ms(), None);
    }

    #[test]
    fn a_breach_acts_at_once_whatever_the_wait() {
        match evaluate_plan(&plan(1, 10_000), &health(40, 20), 10_001) {
            PlanDecision::Breach { action: FailureAction::Rollback, reason } => {
                assert!(reason.starts_with("step 2 (10 %)"), "{reason}");
                assert!(reason.contains("20 failures in 40 attempts"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn steps_and_thresholds_are_checked() {
        assert_eq!(plan_steps(&[1.0, 10.0, 50.0, 100.0]).unwrap(), [100, 1000, 5000, 10_000]);
        assert!(plan_steps(&[100.0]).is_err(), "one step is a publish, not a plan");
        assert!(plan_steps(&[]).is_err());
        assert!(plan_steps(&[10.0, 5.0, 100.0]).is_err());
        assert!(plan_steps(&[0.0, 100.0]).is_err());
        assert!(plan_steps(&[1.0, 50.0]).unwrap_err().contains("100 %"));
        assert!(plan_steps(&[1.0, 150.0]).is_err());
        assert_eq!(threshold_bp(2.0).unwrap(), 200);
        assert!(threshold_bp(0.0).is_err() && threshold_bp(101.0).is_err() && threshold_bp(f64::NAN).is_err());
    }
}
