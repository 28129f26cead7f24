//! A small, realistic set of conversations for the demo and the tests: several sessions of one
//! account, a branch from a regenerate, a branch from an edit, and agent turns with several steps.
//!
//! Every id is derived from the account, so writing the sample twice changes nothing: the second
//! run retries the same writes.

use crate::api::ConversationApi;
use crate::error::StoreResult;

/// Step type codes used by the sample (`steps_by_turn.tpe`).
pub mod step_type {
    pub const THOUGHT: i32 = 1;
    pub const TOOL_CALL: i32 = 2;
    pub const ANSWER: i32 = 3;
}

/// The ids the sample wrote, for printing and checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub account_uid: String,
    /// Every session, oldest first.
    pub sessions: Vec<String>,
    /// The session with a regenerated answer.
    pub trip_session: String,
    /// The human turn whose answer was regenerated: it has two agent children.
    pub regenerated_prompt: String,
    /// The session whose first prompt was edited: it has two root turns.
    pub edited_session: String,
}

struct Writer<'a, S> {
    store: &'a S,
    account: &'a str,
    session: String,
}

impl<S: ConversationApi> Writer<'_, S> {
    fn id(&self, name: &str) -> String {
        format!("{}-{name}", self.session)
    }

    async fn human(&self, name: &str, parent: Option<&str>, prompt: &str) -> StoreResult<String> {
        let id = self.id(name);
        self.store.append_human_turn(self.account, &self.session, parent, prompt, Some(&id)).await?;
        Ok(id)
    }

    async fn agent(&self, name: &str, parent: &str, steps: &[(i32, &str)]) -> StoreResult<String> {
        let id = self.id(name);
        self.store.append_agent_turn(self.account, &self.session, parent, Some(&id)).await?;
        self.steps(&id, steps).await?;
        Ok(id)
    }

    async fn steps(&self, turn: &str, steps: &[(i32, &str)]) -> StoreResult<()> {
        for (idx, (tpe, content)) in steps.iter().enumerate() {
            let idx = i32::try_from(idx).unwrap_or(i32::MAX);
            self.store.append_step(self.account, &self.session, turn, idx, *tpe, content).await?;
        }
        Ok(())
    }
}

async fn session<'a, S: ConversationApi>(
    store: &'a S,
    account: &'a str,
    name: &str,
    title: &str,
) -> StoreResult<Writer<'a, S>> {
    let session = format!("{account}-{name}");
    store.create_session_with_id(account, &session, title).await?;
    Ok(Writer { store, account, session })
}

/// Writes the sample conversations for `account_uid`, through any store.
pub async fn write_sample(store: &impl ConversationApi, account_uid: &str) -> StoreResult<Sample> {
    use step_type::{ANSWER, THOUGHT, TOOL_CALL};

    let report = session(store, account_uid, "weekly-report", "Weekly report draft").await?;
    let w1 = report
        .human("t1", None, "Draft my weekly status report from these notes: shipped search, fixed 3 bugs.")
        .await?;
    let w2 = report
        .agent(
            "t2",
            &w1,
            &[
                (THOUGHT, "Group the notes into wins and fixes."),
                (ANSWER, "This week: shipped search; fixed three bugs."),
            ],
        )
        .await?;
    let w3 = report.human("t3", Some(&w2), "Make it shorter.").await?;
    report.agent("t4", &w3, &[(ANSWER, "Shipped search, fixed 3 bugs.")]).await?;

    let borrow = session(store, account_uid, "borrow-error", "Debug a Rust borrow error").await?;
    let r1 = borrow.human("t1", None, "Why does the borrow checker reject this loop?").await?;
    borrow
        .agent("t2", &r1, &[(THOUGHT, "Need to see the loop."), (ANSWER, "Please paste the loop and the error.")])
        .await?;
    // Editing the first prompt makes a second root: a branch at the top of the conversation.
    let r3 = borrow.id("t3");
    store
        .edit(
            account_uid,
            &borrow.session,
            &r1,
            "Why can't I push into a Vec while iterating over it with for x in &v?",
            Some(&r3),
        )
        .await?;
    borrow
        .agent(
            "t4",
            &r3,
            &[
                (THOUGHT, "Iterating borrows the Vec immutably; push needs a mutable borrow."),
                (TOOL_CALL, "rustc --explain E0502"),
                (ANSWER, "The loop holds &v while push needs &mut v. Collect the new items first, then extend."),
            ],
        )
        .await?;

    let trip = session(store, account_uid, "lisbon", "Trip to Lisbon").await?;
    let t1 = trip.human("t1", None, "Plan three days in Lisbon for a food lover.").await?;
    let t2 = trip
        .agent(
            "t2",
            &t1,
            &[
                (THOUGHT, "Pick one neighbourhood per day and a market or pastelaria in each."),
                (TOOL_CALL, "search(\"best pastel de nata Lisbon\")"),
                (ANSWER, "Day 1: Alfama and Time Out Market. Day 2: Belém. Day 3: Bairro Alto."),
            ],
        )
        .await?;
    let t3 = trip.human("t3", Some(&t2), "Swap day 2 for a day trip to Sintra.").await?;
    let t4 = trip
        .agent(
            "t4",
            &t3,
            &[
                (THOUGHT, "Sintra is 40 minutes by train from Rossio."),
                (TOOL_CALL, "search(\"Sintra day trip food\")"),
                (TOOL_CALL, "search(\"travesseiros Piriquita Sintra\")"),
                (ANSWER, "Day 2: train to Sintra, Pena Palace, travesseiros at Piriquita."),
            ],
        )
        .await?;
    // Regenerating the answer makes a sibling agent turn: a branch under t3, now the active one.
    let t5 = trip.id("t5");
    store.regenerate(account_uid, &trip.session, &t4, Some(&t5)).await?;
    trip.steps(&t5, &[(THOUGHT, "Keep it short this time."), (ANSWER, "Day 2: Sintra by train; lunch at Tascantiga.")])
        .await?;

    Ok(Sample {
        account_uid: account_uid.to_owned(),
        sessions: vec![report.session.clone(), borrow.session.clone(), trip.session.clone()],
        trip_session: trip.session,
        regenerated_prompt: t3,
        edited_session: borrow.session,
    })
}
