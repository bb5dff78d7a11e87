//! Explorer: a property's whole case budget, every distinct defect, each shrunk on
//! its own.
//!
//! proptest's runner stops at the first failing case and shrinks it; an audit must keep
//! going, because a reviewer needs every defect of a database they may not be able to
//! fix first. Here every case is generated from an RNG of its own, derived from the
//! run's seed, the property's stream and the case's index, so any worker can generate
//! any case again — to shrink it — without replaying the cases before it, and a run's
//! cases do not depend on how many workers shared them.
//!
//! Each finding has a signature ([`Finding::signature`]). The first case that shows a
//! signature claims it and shrinks it: proptest's value tree is simplified while the
//! candidate still shows *that* signature and complicated back when it does not, so a
//! world with five defects yields five examples, each minimal for its own defect.
//! Shrinking is bounded per signature and per run (steps and time); a signature whose
//! budget ran out keeps the smallest example found by then.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::error::Error;
use crate::finding::{Finding, Shrink, ShrinkStatus};

/// How far a property explores and how long it may shrink.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    /// Generated cases (worlds, call sequences), persisted failures not counted.
    pub(crate) cases: u32,
    pub(crate) seed: u64,
    /// Tells properties of one run apart, so they do not generate the same values.
    pub(crate) stream: u64,
    /// Stop taking new cases once one has failed (unit-test use).
    pub(crate) fail_fast: bool,
    /// Signatures that do not count as a failure for `fail_fast`: the defects a
    /// schema is known to have (mutation testing stops at the first new one).
    pub(crate) known: Arc<std::collections::BTreeSet<String>>,
    pub(crate) shrink: ShrinkBudget,
    /// Where failing cases are kept and replayed first on the next run.
    pub(crate) persistence: Option<PathBuf>,
}

/// Limits of shrinking, per signature and for the whole run.
#[derive(Debug, Clone)]
pub(crate) struct ShrinkBudget {
    /// Time one signature may spend shrinking.
    pub(crate) per_signature: Duration,
    /// Time all signatures of a run may spend shrinking together, summed over the
    /// workers (two workers shrinking at once spend it twice as fast).
    pub(crate) per_run: Duration,
    /// Candidate cases one signature may run.
    pub(crate) max_steps: u32,
    /// Milliseconds spent so far, shared by every property of the run (the RPC
    /// contracts shrink from what the isolation property left).
    pub(crate) spent_ms: Arc<AtomicU64>,
}

impl Default for ShrinkBudget {
    fn default() -> Self {
        ShrinkBudget {
            per_signature: Duration::from_secs(3),
            per_run: Duration::from_secs(12),
            max_steps: 512,
            spent_ms: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// Why a case runs: exploring the budget, or shrinking toward one finding's signature.
pub(crate) enum Pass<'a> {
    Explore,
    /// The candidate only matters for this finding's signature; a property may run
    /// only the probes that can show it.
    Shrink(&'a Finding),
}

/// One signature as the run met it.
#[derive(Debug, Clone)]
pub(crate) struct Discovery<V> {
    /// The finding from the smallest example that shows the signature.
    pub(crate) finding: Finding,
    pub(crate) example: V,
    /// Findings with this signature over all explored cases.
    pub(crate) occurrences: u64,
    pub(crate) shrink: Shrink,
}

/// The 32 bytes a case's RNG starts from.
type CaseSeed = [u8; 32];

/// Shared by the workers of one property.
pub(crate) struct Explorer<V> {
    budget: Budget,
    cases: Vec<CaseSeed>,
    next: AtomicU64,
    stop: AtomicBool,
    done: AtomicU64,
    discoveries: Mutex<BTreeMap<String, Discovery<V>>>,
    failing: Mutex<Vec<CaseSeed>>,
}

impl<V: Clone + std::fmt::Debug> Explorer<V> {
    pub(crate) fn new(budget: Budget) -> Self {
        let mut cases = budget
            .persistence
            .as_ref()
            .map(|p| persisted(p))
            .unwrap_or_default();
        cases
            .extend((0..u64::from(budget.cases)).map(|i| case_seed(budget.seed, budget.stream, i)));
        Explorer {
            budget,
            cases,
            next: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            done: AtomicU64::new(0),
            discoveries: Mutex::new(BTreeMap::new()),
            failing: Mutex::new(Vec::new()),
        }
    }

    /// Cases that ran to the end (shrinking candidates not counted).
    pub(crate) fn cases_done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Makes every worker stop taking cases (a run that failed).
    pub(crate) fn abort(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Takes cases until the budget is spent (or, with `fail_fast`, a case failed);
    /// called by every worker of the property with its own `run`, which executes one
    /// case and returns its findings.
    pub(crate) fn work<S, R>(&self, strategy: &S, mut run: R) -> Result<(), Error>
    where
        S: Strategy<Value = V>,
        R: FnMut(&V, Pass<'_>) -> Result<Vec<Finding>, Error>,
    {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let index = self.next.fetch_add(1, Ordering::Relaxed) as usize;
            let Some(seed) = self.cases.get(index).copied() else {
                return Ok(());
            };
            let value = tree(strategy, seed)?.current();
            let findings = match run(&value, Pass::Explore) {
                Ok(f) => f,
                Err(e) => {
                    self.abort();
                    return Err(e);
                }
            };
            self.done.fetch_add(1, Ordering::Relaxed);
            if findings.is_empty() {
                continue;
            }
            if self.budget.fail_fast
                && findings
                    .iter()
                    .any(|f| !self.budget.known.contains(&f.signature()))
            {
                self.stop.store(true, Ordering::Relaxed);
            }
            self.failing.lock().expect("not poisoned").push(seed);
            // The most severe defects first: they get the shrinking budget before it
            // runs out.
            let mut claimed = self.claim(&value, findings);
            claimed.sort_by_key(|f| std::cmp::Reverse(f.severity));
            for target in claimed {
                let discovery = self.shrink(strategy, seed, value.clone(), target, &mut run)?;
                self.discoveries
                    .lock()
                    .expect("not poisoned")
                    .entry(discovery.finding.signature())
                    .and_modify(|d| {
                        d.finding = discovery.finding.clone();
                        d.example = discovery.example.clone();
                        d.shrink = discovery.shrink.clone();
                    });
            }
        }
    }

    /// Counts the case's findings; returns the first finding of each signature no
    /// earlier case showed, now claimed by the caller for shrinking.
    fn claim(&self, value: &V, findings: Vec<Finding>) -> Vec<Finding> {
        let mut discoveries = self.discoveries.lock().expect("not poisoned");
        let mut claimed = Vec::new();
        for finding in findings {
            let signature = finding.signature();
            match discoveries.get_mut(&signature) {
                Some(d) => d.occurrences += 1,
                None => {
                    discoveries.insert(
                        signature,
                        Discovery {
                            finding: finding.clone(),
                            example: value.clone(),
                            occurrences: 1,
                            shrink: Shrink {
                                status: ShrinkStatus::BudgetSpent,
                                steps: 0,
                                duration_ms: 0,
                            },
                        },
                    );
                    claimed.push(finding);
                }
            }
        }
        claimed
    }

    /// Shrinks the case generated from `seed` while it still shows `target`'s
    /// signature.
    fn shrink<S, R>(
        &self,
        strategy: &S,
        seed: CaseSeed,
        value: V,
        target: Finding,
        run: &mut R,
    ) -> Result<Discovery<V>, Error>
    where
        S: Strategy<Value = V>,
        R: FnMut(&V, Pass<'_>) -> Result<Vec<Finding>, Error>,
    {
        let started = Instant::now();
        let signature = target.signature();
        let budget = &self.budget.shrink;
        let mut best = (value, target);
        let mut steps = 0u32;
        let mut status = ShrinkStatus::Minimal;
        let mut tree = tree(strategy, seed)?;
        let mut charged = Duration::ZERO;
        if tree.simplify() {
            loop {
                // Every step is charged to the run at once, so that workers shrinking
                // side by side see each other's spending.
                let elapsed = started.elapsed();
                budget
                    .spent_ms
                    .fetch_add((elapsed - charged).as_millis() as u64, Ordering::Relaxed);
                charged = Duration::from_millis(elapsed.as_millis() as u64);
                let run_spent = Duration::from_millis(budget.spent_ms.load(Ordering::Relaxed));
                if steps >= budget.max_steps
                    || elapsed >= budget.per_signature
                    || run_spent >= budget.per_run
                {
                    status = ShrinkStatus::BudgetSpent;
                    break;
                }
                steps += 1;
                let candidate = tree.current();
                let shown = run(&candidate, Pass::Shrink(&best.1))?
                    .into_iter()
                    .find(|f| f.signature() == signature);
                match shown {
                    Some(finding) => {
                        best = (candidate, finding);
                        if !tree.simplify() {
                            break;
                        }
                    }
                    None => {
                        if !tree.complicate() {
                            break;
                        }
                    }
                }
            }
        }
        let elapsed = started.elapsed();
        budget.spent_ms.fetch_add(
            (elapsed.saturating_sub(charged)).as_millis() as u64,
            Ordering::Relaxed,
        );
        tracing::debug!(%signature, steps, ?elapsed, ?status, "shrunk");
        Ok(Discovery {
            finding: best.1,
            example: best.0,
            occurrences: 0,
            shrink: Shrink {
                status,
                steps,
                duration_ms: elapsed.as_millis() as u64,
            },
        })
    }

    /// Every signature met, in signature order; keeps failing cases for the next run
    /// when persistence is on.
    pub(crate) fn finish(self) -> Vec<Discovery<V>> {
        if let Some(path) = &self.budget.persistence {
            persist(path, &self.failing.into_inner().expect("not poisoned"));
        }
        self.discoveries
            .into_inner()
            .expect("not poisoned")
            .into_values()
            .collect()
    }
}

/// The seed of case `index` of a property stream.
fn case_seed(seed: u64, stream: u64, index: u64) -> CaseSeed {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&stream.to_le_bytes());
    bytes[16..24].copy_from_slice(&index.to_le_bytes());
    bytes[24..32].copy_from_slice(b"smta-vfy");
    bytes
}

/// The value tree of the case generated from `seed`: the same seed, the same tree.
fn tree<S: Strategy>(strategy: &S, seed: CaseSeed) -> Result<S::Tree, Error> {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    strategy
        .new_tree(&mut runner)
        .map_err(|reason| Error::Internal(format!("generating a case: {reason}")))
}

const PERSISTENCE_HEADER: &str =
    "# smta-verify: seeds of failing cases, replayed first by the next run";

/// Case seeds kept by an earlier run; a missing or unreadable file keeps none.
fn persisted(path: &std::path::Path) -> Vec<CaseSeed> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.trim();
            if l.len() != 64 {
                return None;
            }
            let mut seed = [0u8; 32];
            for (i, byte) in seed.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&l[2 * i..2 * i + 2], 16).ok()?;
            }
            Some(seed)
        })
        .collect()
}

/// Adds `failing` to the file's seeds (each once).
fn persist(path: &std::path::Path, failing: &[CaseSeed]) {
    let mut seeds = persisted(path);
    for seed in failing {
        if !seeds.contains(seed) {
            seeds.push(*seed);
        }
    }
    if seeds.is_empty() {
        return;
    }
    let mut text = format!("{PERSISTENCE_HEADER}\n");
    for seed in seeds {
        text.extend(seed.iter().map(|b| format!("{b:02x}")));
        text.push('\n');
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(path, text) {
        tracing::warn!(
            "could not keep the failing cases in {}: {e}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::CheckId;
    use proptest::collection::vec;

    fn budget(cases: u32, fail_fast: bool) -> Budget {
        Budget {
            cases,
            seed: 7,
            stream: 1,
            fail_fast,
            known: Default::default(),
            shrink: ShrinkBudget::default(),
            persistence: None,
        }
    }

    /// A property with two independent defects: any element ≥ 50 is a "read" defect
    /// on table a, any vector longer than 5 a "write" defect on table b.
    fn defects(v: &[u32]) -> Vec<Finding> {
        let mut findings = Vec::new();
        if v.iter().any(|&x| x >= 50) {
            findings.push(Finding::new(CheckId::CrossTenantRead, "t.a", "SELECT").actor("user:1"));
        }
        if v.len() > 5 {
            findings.push(Finding::new(CheckId::CrossTenantWrite, "t.b", "UPDATE").actor("user:2"));
        }
        findings
    }

    #[test]
    fn every_signature_is_found_and_shrunk_to_its_own_minimal_example() {
        let explorer = Explorer::new(budget(64, false));
        let strategy = vec(0u32..100, 0..12);
        explorer.work(&strategy, |v, _| Ok(defects(v))).unwrap();
        assert_eq!(explorer.cases_done(), 64, "the whole budget ran");
        let found = explorer.finish();
        let by_check: BTreeMap<CheckId, &Discovery<Vec<u32>>> =
            found.iter().map(|d| (d.finding.check, d)).collect();
        assert_eq!(found.len(), 2, "{found:#?}");
        // Each example is minimal for its own defect, not for the other.
        assert_eq!(by_check[&CheckId::CrossTenantRead].example, vec![50]);
        assert_eq!(by_check[&CheckId::CrossTenantWrite].example, vec![0; 6]);
        for d in &found {
            assert_eq!(d.shrink.status, ShrinkStatus::Minimal);
            assert!(d.occurrences > 1, "met in many cases: {d:?}");
        }
    }

    #[test]
    fn cases_do_not_depend_on_the_number_of_workers() {
        let strategy = vec(0u32..100, 0..12);
        let seen = |workers: usize| {
            let explorer = Explorer::new(budget(40, false));
            let values = Mutex::new(Vec::new());
            std::thread::scope(|s| {
                for _ in 0..workers {
                    s.spawn(|| {
                        explorer
                            .work(&strategy, |v, pass| {
                                if matches!(pass, Pass::Explore) {
                                    values.lock().unwrap().push(v.clone());
                                }
                                Ok(Vec::new())
                            })
                            .unwrap()
                    });
                }
            });
            let mut values = values.into_inner().unwrap();
            values.sort();
            values
        };
        assert_eq!(seen(1), seen(3));
    }

    #[test]
    fn fail_fast_stops_at_the_first_failing_case() {
        let explorer = Explorer::new(budget(64, true));
        let strategy = vec(0u32..100, 0..12);
        explorer.work(&strategy, |v, _| Ok(defects(v))).unwrap();
        assert!(explorer.cases_done() < 64);
        assert!(!explorer.finish().is_empty());
    }

    #[test]
    fn a_spent_budget_keeps_the_unshrunk_example() {
        let mut b = budget(8, false);
        b.shrink.max_steps = 0;
        let explorer = Explorer::new(b);
        let strategy = vec(0u32..100, 6..12);
        explorer.work(&strategy, |v, _| Ok(defects(v))).unwrap();
        let found = explorer.finish();
        let write = found
            .iter()
            .find(|d| d.finding.check == CheckId::CrossTenantWrite)
            .unwrap();
        assert_eq!(write.shrink.status, ShrinkStatus::BudgetSpent);
        assert!(write.example.len() >= 6 && write.example.iter().any(|&x| x > 0));
    }

    #[test]
    fn failing_cases_are_kept_and_replayed_first() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("failures");
        let mut b = budget(16, false);
        b.persistence = Some(file.clone());
        let explorer = Explorer::new(b.clone());
        let strategy = vec(0u32..100, 0..12);
        explorer.work(&strategy, |v, _| Ok(defects(v))).unwrap();
        let _ = explorer.finish();
        let kept = persisted(&file);
        assert!(!kept.is_empty());
        // Another seed: the kept cases still run, first.
        b.seed = 8;
        b.cases = 0;
        let replay = Explorer::new(b);
        let mut failing = 0;
        replay
            .work(&strategy, |v, pass| {
                if matches!(pass, Pass::Explore) && !defects(v).is_empty() {
                    failing += 1;
                }
                Ok(Vec::new())
            })
            .unwrap();
        assert_eq!(failing, kept.len());
    }
}
