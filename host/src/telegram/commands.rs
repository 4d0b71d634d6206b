//! The `telegram_update` job: what the bot answers to a message. Answers are sent as
//! `telegram_send` jobs ([`super::jobs`]), like alerts, so a 429 or an outage delays them rather
//! than losing them.

use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;

use super::jobs::send_job;
use super::messages::{self, Lang, LowLine};
use crate::App;
use crate::jobs::{Handler, Outcome};
use crate::store::StoreError;
use crate::store::jobs::ClaimedJob;
use crate::store::stocks::StockFilter;
use crate::store::sync_runs::SyncTrigger;
use crate::store::telegram::ChatRecord;

/// The job kind that answers one update.
pub const UPDATE_JOB: &str = "telegram_update";
/// Lines `/low` lists before "… and N more".
const LOW_LINES: u32 = 30;
/// Longest mute, hours (30 days).
const MAX_MUTE_HOURS: i64 = 720;

/// The handler of [`UPDATE_JOB`] jobs.
pub fn handler(app: Arc<App>) -> impl Handler {
    move |job: ClaimedJob| {
        let app = app.clone();
        async move {
            match answer(&app, &job.payload.0).await {
                Ok(()) => Outcome::Done,
                Err(err) => Outcome::retry(job.attempt, format!("database: {err}")),
            }
        }
    }
}

/// A command in a message: `/name[@bot] args`.
fn parse(text: &str) -> Option<(String, String)> {
    let text = text.trim();
    let rest = text.strip_prefix('/')?;
    let (word, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let name = word.split('@').next().unwrap_or_default().to_ascii_lowercase();
    Some((name, args.trim().to_owned()))
}

async fn answer(app: &Arc<App>, update: &Value) -> Result<(), StoreError> {
    let message = &update["message"];
    let Some(chat_id) = message["chat"]["id"].as_i64() else { return Ok(()) };
    let Some(text) = message["text"].as_str() else { return Ok(()) };
    let lang = Lang::from_code(message["from"]["language_code"].as_str());
    let Some((command, args)) = parse(text) else {
        // Plain text in a private chat gets the help; in a group, the bot keeps quiet.
        if message["chat"]["type"] == "private" {
            reply(app, chat_id, messages::help(lang)).await?;
        }
        return Ok(());
    };
    let chat = app.store.chat(chat_id).await?;
    if let Some(chat) = &chat
        && chat.language != lang.as_str()
    {
        app.store.update_chat(chat_id, Some(lang.as_str()), None).await?;
    }
    let text = match (command.as_str(), &chat) {
        ("start", _) if !args.is_empty() => start(app, chat_id, &args, lang).await?,
        ("start" | "help", Some(_)) => messages::help(lang),
        (_, None) => messages::not_linked(lang),
        ("stocks", Some(chat)) => stocks(app, chat, lang).await?,
        ("low", Some(chat)) => low(app, chat, lang).await?,
        ("sync", Some(chat)) => sync(app, chat, lang).await?,
        ("mute", Some(chat)) => mute(app, chat, &args, lang).await?,
        ("unmute", Some(chat)) => {
            app.store.update_chat(chat.chat_id, None, Some(None)).await?;
            messages::unmuted(lang)
        }
        _ => messages::unknown(lang),
    };
    reply(app, chat_id, text).await
}

async fn reply(app: &App, chat_id: i64, text: String) -> Result<(), StoreError> {
    app.store.enqueue_jobs(&[send_job(chat_id, text, None)]).await?;
    app.job_wakeup.notify_one();
    Ok(())
}

async fn start(app: &App, chat_id: i64, code: &str, lang: Lang) -> Result<String, StoreError> {
    match app.store.link_chat(&super::jobs::code_hash(code), chat_id, lang.as_str()).await {
        Ok(chat) => {
            let tenant = app.store.tenant(chat.tenant_id).await?;
            tracing::info!(tenant.id = %chat.tenant_id, chat.id = chat_id, "Telegram chat linked");
            Ok(messages::linked(lang, &tenant.name))
        }
        Err(StoreError::NotFound) => Ok(messages::bad_code(lang)),
        Err(err) => Err(err),
    }
}

async fn stocks(app: &App, chat: &ChatRecord, lang: Lang) -> Result<String, StoreError> {
    let tenant = app.store.tenant(chat.tenant_id).await?;
    let (products, levels, low, out) = app.store.stock_summary(chat.tenant_id).await?;
    Ok(messages::summary(lang, &tenant.name, products, levels, low, out))
}

async fn low(app: &App, chat: &ChatRecord, lang: Lang) -> Result<String, StoreError> {
    let filter = StockFilter { low: true, ..StockFilter::default() };
    let rows = app.store.list_stocks(chat.tenant_id, &filter, None, LOW_LINES).await?;
    let (.., low, out) = app.store.stock_summary(chat.tenant_id).await?;
    let lines: Vec<LowLine> = rows
        .into_iter()
        .map(|r| LowLine {
            sku: r.sku,
            name: r.name,
            warehouse: r.warehouse,
            available: r.available,
            threshold: r.low_stock_threshold,
        })
        .collect();
    let more = (low + out - lines.len() as i64).max(0);
    Ok(messages::low(lang, &lines, more))
}

async fn sync(app: &Arc<App>, chat: &ChatRecord, lang: Lang) -> Result<String, StoreError> {
    // The person who linked the chat acts: they must still manage the tenant.
    match app.store.membership(chat.tenant_id, chat.user_id).await {
        Ok(m) if m.role.can_manage() => {}
        Ok(_) | Err(StoreError::NotFound) => return Ok(messages::sync_forbidden(lang)),
        Err(err) => return Err(err),
    }
    let (mut started, mut running) = (0, 0);
    for connection in app.store.list_connections(chat.tenant_id).await? {
        match crate::sync::start(app, chat.tenant_id, connection.connection_id, SyncTrigger::Manual).await {
            Ok((_, true)) => started += 1,
            Ok((_, false)) => running += 1,
            Err(StoreError::NotFound) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(messages::synced(lang, started, running))
}

async fn mute(app: &App, chat: &ChatRecord, args: &str, lang: Lang) -> Result<String, StoreError> {
    let Ok(hours) = args.parse::<i64>() else { return Ok(messages::bad_mute(lang)) };
    if !(1..=MAX_MUTE_HOURS).contains(&hours) {
        return Ok(messages::bad_mute(lang));
    }
    let until = crate::store::now() + chrono::Duration::hours(hours);
    app.store.update_chat(chat.chat_id, None, Some(Some(until))).await?;
    let tenant = app.store.tenant(chat.tenant_id).await?;
    Ok(messages::muted(lang, until.with_timezone(&Utc), &tenant.timezone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_and_without_the_bot_name() {
        assert_eq!(parse("/start abc_DEF-1"), Some(("start".into(), "abc_DEF-1".into())));
        assert_eq!(parse("/sync@StockTrackerBot"), Some(("sync".into(), String::new())));
        assert_eq!(parse("  /Mute   8 "), Some(("mute".into(), "8".into())));
        assert_eq!(parse("hello"), None);
    }
}
