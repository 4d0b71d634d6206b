//! What the bot says, in Russian or English: command answers and alert messages (split under
//! Telegram's 4096-character limit).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::store::events::EventRecord;

/// Longest message sent, in characters (Telegram's limit is 4096).
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// Longest line of a message (a huge product name is cut).
const MAX_LINE_CHARS: usize = 500;

/// The language of a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

impl Lang {
    /// From a Telegram user's `language_code`: English for `en…`, else Russian (the default).
    pub fn from_code(code: Option<&str>) -> Self {
        match code {
            Some(c) if c.to_ascii_lowercase().starts_with("en") => Self::En,
            _ => Self::Ru,
        }
    }

    /// From the stored name.
    pub fn parse(stored: &str) -> Self {
        if stored == "en" { Self::En } else { Self::Ru }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ru => "ru",
            Self::En => "en",
        }
    }

    /// Picks the text of this language.
    pub fn pick<'a>(self, ru: &'a str, en: &'a str) -> &'a str {
        match self {
            Self::Ru => ru,
            Self::En => en,
        }
    }
}

pub fn help(lang: Lang) -> String {
    lang.pick(
        "Команды:\n/stocks — сводка остатков\n/low — что заканчивается\n/sync — синхронизировать сейчас\n\
         /mute <часы> — не присылать оповещения\n/unmute — снова присылать оповещения\n/help — эта справка",
        "Commands:\n/stocks — stock summary\n/low — what is running low\n/sync — sync now\n\
         /mute <hours> — pause alerts\n/unmute — resume alerts\n/help — this help",
    )
    .to_owned()
}

pub fn linked(lang: Lang, tenant: &str) -> String {
    match lang {
        Lang::Ru => format!("Чат связан с «{tenant}». Сюда будут приходить оповещения об остатках.\n\n{}", help(lang)),
        Lang::En => format!("This chat is linked to “{tenant}”. Stock alerts will arrive here.\n\n{}", help(lang)),
    }
}

pub fn bad_code(lang: Lang) -> String {
    lang.pick(
        "Код недействителен или истёк. Создайте новую ссылку в Stock Tracker.",
        "This code is invalid or expired. Create a new link in Stock Tracker.",
    )
    .to_owned()
}

pub fn not_linked(lang: Lang) -> String {
    lang.pick(
        "Этот чат не связан с аккаунтом Stock Tracker. Откройте ссылку для подключения Telegram из Stock Tracker.",
        "This chat is not linked to a Stock Tracker account. Open the Telegram link from Stock Tracker.",
    )
    .to_owned()
}

pub fn unknown(lang: Lang) -> String {
    format!("{}\n\n{}", lang.pick("Не понимаю эту команду.", "I do not know that command."), help(lang))
}

pub fn summary(lang: Lang, tenant: &str, products: i64, levels: i64, low: i64, out: i64) -> String {
    match lang {
        Lang::Ru => format!(
            "Остатки «{tenant}»: {products} товаров, {levels} позиций по складам.\nМало: {low}\nНет в наличии: {out}"
        ),
        Lang::En => format!(
            "Stock of “{tenant}”: {products} products, {levels} warehouse levels.\nLow: {low}\nOut of stock: {out}"
        ),
    }
}

/// A low level for `/low`.
pub struct LowLine {
    pub sku: String,
    pub name: String,
    pub warehouse: String,
    pub available: i64,
    pub threshold: i64,
}

pub fn low(lang: Lang, lines: &[LowLine], more: i64) -> String {
    if lines.is_empty() {
        return lang.pick("Ничего не заканчивается.", "Nothing is running low.").to_owned();
    }
    let mut text = lang.pick("Заканчивается:", "Running low:").to_owned();
    for l in lines {
        let line = match lang {
            Lang::Ru => format!("{} {} — {}: {} (порог {})", l.sku, l.name, l.warehouse, l.available, l.threshold),
            Lang::En => format!("{} {} — {}: {} (threshold {})", l.sku, l.name, l.warehouse, l.available, l.threshold),
        };
        text.push('\n');
        text.push_str(&cut(&line));
    }
    if more > 0 {
        text.push_str(&match lang {
            Lang::Ru => format!("\n… и ещё {more}"),
            Lang::En => format!("\n… and {more} more"),
        });
    }
    text
}

pub fn synced(lang: Lang, started: usize, running: usize) -> String {
    match (lang, started + running) {
        (_, 0) => lang.pick("Нет подключений к маркетплейсам.", "No marketplace connections.").to_owned(),
        (Lang::Ru, _) => format!("Запущено синхронизаций: {started}; уже шли: {running}."),
        (Lang::En, _) => format!("Syncs started: {started}; already running: {running}."),
    }
}

pub fn sync_forbidden(lang: Lang) -> String {
    lang.pick("Запускать синхронизацию могут владелец и администраторы.", "Only owners and admins can start syncs.")
        .to_owned()
}

pub fn muted(lang: Lang, until: DateTime<Utc>, timezone: &str) -> String {
    let local = match timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => until.with_timezone(&tz).format("%d.%m.%Y %H:%M %Z").to_string(),
        Err(_) => until.format("%d.%m.%Y %H:%M UTC").to_string(),
    };
    match lang {
        Lang::Ru => format!("Оповещения выключены до {local}. /unmute — включить."),
        Lang::En => format!("Alerts muted until {local}. /unmute to resume."),
    }
}

pub fn bad_mute(lang: Lang) -> String {
    lang.pick(
        "Укажите число часов от 1 до 720, например: /mute 8",
        "Give a number of hours from 1 to 720, e.g. /mute 8",
    )
    .to_owned()
}

pub fn unmuted(lang: Lang) -> String {
    lang.pick("Оповещения снова включены.", "Alerts are on again.").to_owned()
}

/// The alert of one batch of events, split into messages under [`MAX_MESSAGE_CHARS`].
pub fn alert(lang: Lang, tenant: &str, events: &[EventRecord]) -> Vec<String> {
    let header = match lang {
        Lang::Ru => format!("Stock Tracker — «{tenant}»:"),
        Lang::En => format!("Stock Tracker — “{tenant}”:"),
    };
    let kind = |e: &EventRecord| crate::events::EventType::parse(&e.event_type);
    let mut lines: Vec<String> = events
        .iter()
        .filter(|e| kind(e).is_none_or(|t| !t.is_incident_change()))
        .filter_map(|e| alert_line(lang, &e.event_type, &e.data.0))
        .collect();
    let changes: Vec<&Value> =
        events.iter().filter(|e| kind(e).is_some_and(|t| t.is_incident_change())).map(|e| &e.data.0).collect();
    lines.extend(super::forecast::alert_items(lang, &changes));
    let mut messages = split(&header, &lines);
    for e in events.iter().filter(|e| kind(e) == Some(crate::events::EventType::ForecastDigest)) {
        messages.extend(split("", &[super::forecast::digest(lang, tenant, &e.data.0)]));
    }
    messages
}

fn alert_line(lang: Lang, event_type: &str, d: &Value) -> Option<String> {
    let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
    let n = |k: &str| d[k].as_i64().unwrap_or_default();
    let item = format!("{} {} — {}", s("sku"), s("name"), s("warehouse"));
    let line = match (event_type, lang) {
        ("stock.out", Lang::Ru) => format!("⛔ Нет в наличии: {item}"),
        ("stock.out", Lang::En) => format!("⛔ Out of stock: {item}"),
        ("stock.low", Lang::Ru) => format!("⚠️ Мало: {item}: {} (порог {})", n("available"), n("threshold")),
        ("stock.low", Lang::En) => format!("⚠️ Low: {item}: {} (threshold {})", n("available"), n("threshold")),
        ("stock.restocked", Lang::Ru) => format!("✅ Пополнено: {item}: {}", n("available")),
        ("stock.restocked", Lang::En) => format!("✅ Restocked: {item}: {}", n("available")),
        ("sync.failed", Lang::Ru) => format!("❌ Синхронизация «{}» не удалась: {}", s("connection_name"), s("error")),
        ("sync.failed", Lang::En) => format!("❌ Sync of “{}” failed: {}", s("connection_name"), s("error")),
        ("connection.credentials_expiring", Lang::Ru) => {
            format!(
                "🔑 Ключ API подключения «{}» истекает {}: замените его",
                s("connection_name"),
                date(&s("expires_at"))
            )
        }
        ("connection.credentials_expiring", Lang::En) => {
            format!("🔑 The API key of “{}” expires on {}: replace it", s("connection_name"), date(&s("expires_at")))
        }
        _ => return None,
    };
    Some(cut(&line))
}

/// The date part of an RFC 3339 time.
fn date(at: &str) -> String {
    at.split('T').next().unwrap_or(at).to_owned()
}

/// Lines under a header, as few messages as fit under the limit (the header on the first).
pub fn split(header: &str, lines: &[String]) -> Vec<String> {
    let mut messages = Vec::new();
    let mut current = header.to_owned();
    for line in lines {
        if current.chars().count() + 1 + line.chars().count() > MAX_MESSAGE_CHARS {
            messages.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !lines.is_empty() {
        messages.push(current);
    }
    messages
}

fn cut(line: &str) -> String {
    if line.chars().count() <= MAX_LINE_CHARS {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(MAX_LINE_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_alerts_split_under_the_limit_and_lose_no_line() {
        let lines: Vec<String> =
            (0..400).map(|i| format!("⚠️ Мало: SKU-{i:04} Очень длинное название товара — Коледино: 3")).collect();
        let messages = split("Stock Tracker — «Тест»:", &lines);
        assert!(messages.len() > 1);
        assert!(messages.iter().all(|m| m.chars().count() <= MAX_MESSAGE_CHARS));
        assert!(messages[0].starts_with("Stock Tracker"));
        let joined: Vec<&str> = messages.iter().flat_map(|m| m.lines()).filter(|l| l.starts_with("⚠️")).collect();
        assert_eq!(joined.len(), 400);
        assert!(split("h", &[]).is_empty(), "nothing to say, no message");
        assert_eq!(cut(&"я".repeat(2000)).chars().count(), MAX_LINE_CHARS);
    }

    #[test]
    fn language_from_the_users_code() {
        assert_eq!(Lang::from_code(Some("en")), Lang::En);
        assert_eq!(Lang::from_code(Some("en-GB")), Lang::En);
        assert_eq!(Lang::from_code(Some("ru")), Lang::Ru);
        assert_eq!(Lang::from_code(Some("de")), Lang::Ru);
        assert_eq!(Lang::from_code(None), Lang::Ru);
    }
}
