//! The deterministic data set of conversations that the benchmark and `chat-migrate seed`
//! write: the same conversations in every store.
//!
//! Session `i` is generated from `seed + i` alone, so any session can be regenerated without the
//! others, and two runs with the same scale and seed write identical data.

pub mod rng;

use chrono::{DateTime, Duration, Utc};
use conversation_store::TurnType;

use crate::rng::Rng;

/// How much data to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub name: &'static str,
    pub sessions: usize,
    pub accounts: usize,
    /// Mean human+agent pairs per session (log-normal).
    pub mean_pairs: f64,
    /// Mean steps per agent turn (log-normal).
    pub mean_steps: f64,
    /// Share of human turns whose answer was regenerated once (a second agent turn).
    pub regenerated_share: f64,
}

impl Scale {
    /// For tests: a few seconds end to end.
    pub const TINY: Scale =
        Scale { name: "tiny", sessions: 40, accounts: 8, mean_pairs: 3.0, mean_steps: 4.0, regenerated_share: 0.1 };
    /// About 1K sessions, 10K turns, 50K steps.
    pub const QUICK: Scale = Scale {
        name: "quick",
        sessions: 1_000,
        accounts: 100,
        mean_pairs: 5.0,
        mean_steps: 10.0,
        regenerated_share: 0.1,
    };
    /// About 10K sessions, 100K turns, 500K steps.
    pub const DEFAULT: Scale = Scale {
        name: "default",
        sessions: 10_000,
        accounts: 1_000,
        mean_pairs: 5.0,
        mean_steps: 10.0,
        regenerated_share: 0.1,
    };

    /// The default data set's shape at another size: `sessions` sessions over a tenth as many
    /// accounts, about 10 turns and 50 steps per session. At a preset's size it is that preset.
    pub fn sized(sessions: usize) -> Scale {
        match sessions {
            size if size == Scale::DEFAULT.sessions => Scale::DEFAULT,
            size if size == Scale::QUICK.sessions => Scale::QUICK,
            _ => Scale { name: SIZED, sessions, accounts: sessions.div_ceil(10).max(1), ..Scale::DEFAULT },
        }
    }
}

/// The name of a data set made by [`Scale::sized`] at a size no preset has.
pub const SIZED: &str = "sized";

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub idx: i32,
    pub tpe: i32,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub uid: String,
    pub parent: Option<String>,
    pub turn_type: TurnType,
    pub prompt: Option<String>,
    pub created_at: DateTime<Utc>,
    pub active_child: Option<String>,
    pub liked: Option<bool>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub account_uid: String,
    pub uid: String,
    pub title: String,
    pub created_at: DateTime<Utc>,
    /// In chronological order.
    pub turns: Vec<Turn>,
}

const WORDS: &[&str] = &[
    "plan", "trip", "code", "error", "report", "summary", "recipe", "budget", "meeting", "draft", "review", "query",
    "table", "index", "latency", "cluster", "deploy", "test", "fix", "explain", "compare", "list", "options", "why",
    "how", "what", "when", "data", "model", "prompt", "answer", "search", "tool", "result", "step", "final",
];

fn text(rng: &mut Rng, min_words: usize, max_words: usize) -> String {
    let count = min_words + rng.below(max_words - min_words + 1);
    (0..count).map(|_| WORDS[rng.below(WORDS.len())]).collect::<Vec<_>>().join(" ")
}

pub fn account_uid(index: usize) -> String {
    format!("acct-{index:05}")
}

pub fn session_uid(index: usize) -> String {
    format!("s{index:06}")
}

/// Session `index` of the data set.
pub fn session(scale: &Scale, seed: u64, index: usize) -> Session {
    let mut rng = Rng::new(seed.wrapping_add(index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let base = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap_or_default();
    let created_at = base + Duration::minutes(index as i64) + Duration::milliseconds(rng.below(60_000) as i64);
    let uid = session_uid(index);
    let mut clock = created_at;
    let mut tick = |rng: &mut Rng| {
        clock += Duration::milliseconds(1 + rng.below(30_000) as i64);
        clock
    };
    let pairs = rng.skewed_count(scale.mean_pairs, 0.9, 1, 100);
    let mut turns: Vec<Turn> = Vec::new();
    let mut parent_of_next_human: Option<String> = None;
    let mut next_turn = 0;
    let new_uid = |next_turn: &mut usize| {
        *next_turn += 1;
        format!("{uid}-t{next_turn}")
    };
    for _ in 0..pairs {
        let human_uid = new_uid(&mut next_turn);
        let human_index = turns.len();
        turns.push(Turn {
            uid: human_uid.clone(),
            parent: parent_of_next_human.clone(),
            turn_type: TurnType::Human,
            prompt: Some(text(&mut rng, 8, 60)),
            created_at: tick(&mut rng),
            active_child: None,
            liked: None,
            steps: Vec::new(),
        });
        if let Some(parent) = &parent_of_next_human {
            if let Some(agent) = turns.iter_mut().find(|turn| &turn.uid == parent) {
                agent.active_child = Some(human_uid.clone());
            }
        }
        let answers = if rng.unit() < scale.regenerated_share { 2 } else { 1 };
        for _ in 0..answers {
            let agent_uid = new_uid(&mut next_turn);
            let agent_created = tick(&mut rng);
            let steps = (0..rng.skewed_count(scale.mean_steps, 0.8, 1, 200))
                .map(|idx| Step {
                    idx: idx as i32,
                    tpe: 1 + rng.below(3) as i32,
                    content: text(&mut rng, 10, 60),
                    created_at: agent_created + Duration::milliseconds(idx as i64 * 50),
                })
                .collect();
            let liked = match rng.below(10) {
                0 => Some(true),
                1 => Some(false),
                _ => None,
            };
            turns.push(Turn {
                uid: agent_uid.clone(),
                parent: Some(human_uid.clone()),
                turn_type: TurnType::Agent,
                prompt: None,
                created_at: agent_created,
                active_child: None,
                liked,
                steps,
            });
            turns[human_index].active_child = Some(agent_uid.clone());
            parent_of_next_human = Some(agent_uid);
        }
    }
    Session {
        account_uid: account_uid(rng.skewed_index(scale.accounts)),
        uid,
        title: text(&mut rng, 2, 6),
        created_at,
        turns,
    }
}

/// Counts of what a data set holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub sessions: usize,
    pub turns: usize,
    pub steps: usize,
}

impl Counts {
    pub fn add(&mut self, session: &Session) {
        self.sessions += 1;
        self.turns += session.turns.len();
        self.steps += session.turns.iter().map(|turn| turn.steps.len()).sum::<usize>();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_deterministic_and_well_formed() {
        let scale = Scale::QUICK;
        assert_eq!(session(&scale, 42, 7), session(&scale, 42, 7));
        assert_ne!(session(&scale, 42, 7), session(&scale, 43, 7));
        let mut counts = Counts::default();
        for index in 0..scale.sessions {
            let s = session(&scale, 42, index);
            counts.add(&s);
            for turn in &s.turns {
                let indexes: Vec<i32> = turn.steps.iter().map(|step| step.idx).collect();
                assert_eq!(indexes, (0..turn.steps.len() as i32).collect::<Vec<_>>());
                if let Some(child) = &turn.active_child {
                    let child = s.turns.iter().find(|other| &other.uid == child).unwrap();
                    assert_eq!(child.parent.as_ref(), Some(&turn.uid));
                }
            }
            assert!(s.turns.windows(2).all(|pair| pair[0].created_at < pair[1].created_at));
        }
        // About 10 turns and 50 steps per session on average.
        assert!((8_000..14_000).contains(&counts.turns), "{counts:?}");
        assert!((35_000..75_000).contains(&counts.steps), "{counts:?}");
    }
}
