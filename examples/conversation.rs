//! The conversation store in a few calls: a session, a question, a streamed answer, a
//! regenerated answer, and loading it all back.
//!
//! Needs a CQL node: `cargo xtask db up` (or set `SCYLLA_URI`), then
//! `cargo run -p examples --example conversation`.

use conversation_store::{ConversationStore, StoreError};
use scylla_table::{ConnectionConfig, Database};

#[tokio::main]
async fn main() -> Result<(), StoreError> {
    let config = ConnectionConfig::from_env("chat_example")?;
    let store = ConversationStore::new(Database::connect(&config).await?);
    store.apply_schema(&config.replication).await?;

    let account = "example-account";
    let session = store.create_session(account, "Dinner ideas").await?;
    let id = session.session_uid.as_str();

    let question = store.append_human_turn(account, id, None, "Something quick with chickpeas?", None).await?;
    let answer = store.append_agent_turn(account, id, &question.turn_uid, None).await?;
    for (idx, content) in ["Thinking about 20-minute recipes.", "Chickpea curry with spinach."].iter().enumerate() {
        store.append_step(account, id, &answer.turn_uid, idx as i32, 1, content).await?;
    }
    // A second answer to the same question: a branch, and now the active one.
    let retry = store.regenerate(account, id, &answer.turn_uid, None).await?;
    store.append_step(account, id, &retry.turn_uid, 0, 1, "Crispy chickpeas on toast.").await?;

    let conversation = store.load_conversation(account, id).await?;
    println!("{} turns; the active path:", conversation.turns.len());
    for turn in conversation.active_turns() {
        let text = turn
            .turn
            .prompt
            .clone()
            .unwrap_or_else(|| turn.steps.iter().map(|step| step.content.as_str()).collect::<Vec<_>>().join(" / "));
        println!("  {}: {text}", turn.turn.turn_type);
    }
    let branches = store.children(account, id, Some(&question.turn_uid)).await?;
    println!("{} answers to the question", branches.len());
    Ok(())
}
