//! The Telegram bot against a fake Bot API on loopback: linking, every command in both
//! languages, alerts (batched, muted, throttled with `retry_after`, to a chat that blocked the
//! bot), and the webhook's secret check.

use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use axum::http::Request;
use stock_tracker_tests::TestResponse;
use stock_tracker_tests::fake_telegram::{BOT_USERNAME, FakeTelegram};

use super::*;

const TOKEN: &str = "123456:TEST-bot-token";
const SECRET: &str = "test_webhook-secret-1";
static UPDATE_ID: AtomicI64 = AtomicI64::new(1);

/// The app with the bot on, talking to a fresh fake Bot API.
pub(super) async fn with_bot(app: TestApp) -> (TestApp, FakeTelegram) {
    let fake = FakeTelegram::start(TOKEN).await;
    let url = fake.base_url();
    let app = app
        .replace(|c| {
            c.telegram.telegram_bot_token = Some(TOKEN.into());
            c.telegram.telegram_webhook_secret = Some(SECRET.into());
            c.telegram.telegram_api_url = url;
            c.telegram.telegram_webhook_url = Some("https://stock.example.com/api/v1/telegram/webhook".into());
        })
        .await;
    (app, fake)
}

/// Posts an update to the bot's webhook with `secret`.
async fn post_update(app: &TestApp, secret: Option<&str>, update: &Value) -> TestResponse {
    let mut req = Request::post("/api/v1/telegram/webhook").header("content-type", "application/json");
    if let Some(secret) = secret {
        req = req.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    app.send(req.body(Body::from(update.to_string())).unwrap()).await
}

fn update(chat_id: i64, language: Option<&str>, text: &str) -> Value {
    let id = UPDATE_ID.fetch_add(1, Ordering::Relaxed);
    json!({"update_id": id, "message": {"message_id": id, "date": 1_700_000_000,
        "chat": {"id": chat_id, "type": "private"},
        "from": {"id": chat_id, "is_bot": false, "first_name": "Seller", "language_code": language},
        "text": text}})
}

/// Says `text` in `chat_id` and returns the bot's answer.
async fn say(app: &TestApp, fake: &FakeTelegram, chat_id: i64, language: Option<&str>, text: &str) -> String {
    let before = fake.sent_to(chat_id).len();
    let res = post_update(app, Some(SECRET), &update(chat_id, language, text)).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    wait_for_messages(fake, chat_id, before + 1).await.pop().unwrap()
}

/// Waits up to 15 s until `chat_id` has received `n` messages.
pub(super) async fn wait_for_messages(fake: &FakeTelegram, chat_id: i64, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let sent = fake.sent_to(chat_id);
        if sent.len() >= n {
            return sent;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "chat {chat_id} got {} of {n} messages: {sent:?}",
            sent.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A link code for `t`, used from `chat_id`; returns the bot's answer.
pub(super) async fn link(
    app: &TestApp,
    fake: &FakeTelegram,
    t: &TestTenant,
    chat_id: i64,
    language: Option<&str>,
) -> String {
    let res = app.post("/api/v1/telegram/link", Some(&t.access_token), json!({})).await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
    let code = res.body["code"].as_str().unwrap().to_owned();
    assert_eq!(res.body["url"], format!("https://t.me/{BOT_USERNAME}?start={code}"));
    assert!(code.len() >= 20 && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{code}");
    say(app, fake, chat_id, language, &format!("/start {code}")).await
}

both_backends! {
    async fn linking_and_every_command_in_both_languages(app) {
        let (app, fake) = with_bot(app).await;
        // The webhook is pointed at this service at start, with the secret.
        let start = Instant::now();
        while fake.calls("setWebhook").is_empty() {
            assert!(start.elapsed() < Duration::from_secs(10), "setWebhook never called");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let set = &fake.calls("setWebhook")[0].body;
        assert_eq!(set["url"], "https://stock.example.com/api/v1/telegram/webhook");
        assert_eq!(set["secret_token"], SECRET);

        let t = app.register("bot@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "bot-token").await;
        app.fake.set_quantity("WB-000001", "Коледино", 2);
        sync_once(&app, &t, connection_id).await;

        // Linking, in English and in Russian (the default).
        assert!(link(&app, &fake, &t, 1001, Some("en-US")).await.starts_with("This chat is linked to"));
        assert!(link(&app, &fake, &t, 1002, None).await.starts_with("Чат связан с"));
        let chats = app.get("/api/v1/telegram/chats", &t.access_token).await.body;
        let langs: Vec<(i64, String)> = chats["items"].as_array().unwrap().iter()
            .map(|c| (c["chat_id"].as_i64().unwrap(), c["language"].as_str().unwrap().to_owned())).collect();
        assert_eq!(langs, [(1001, "en".into()), (1002, "ru".into())]);

        // Every command, both languages.
        let cases: [(&str, &str, &str); 7] = [
            ("/stocks", "Stock of", "Остатки"),
            ("/low", "Running low:", "Заканчивается:"),
            ("/sync", "Syncs started: 1", "уже шли"),
            ("/mute 2", "Alerts muted until", "Оповещения выключены до"),
            ("/unmute", "Alerts are on again", "Оповещения снова включены"),
            ("/help", "Commands:", "Команды:"),
            ("/frobnicate", "I do not know that command", "Не понимаю эту команду"),
        ];
        for (command, english, russian) in cases {
            let en = say(&app, &fake, 1001, Some("en"), command).await;
            assert!(en.contains(english), "{command} in English: {en}");
            let ru = say(&app, &fake, 1002, Some("ru"), command).await;
            assert!(ru.contains(russian), "{command} in Russian: {ru}");
        }
        let low = say(&app, &fake, 1001, Some("en"), "/low").await;
        assert!(low.contains("WB-000001") && low.contains("Коледино: 2 (threshold 5)"), "{low}");
        let summary = say(&app, &fake, 1001, Some("en"), "/stocks").await;
        assert!(summary.contains("120 products"), "{summary}");
        assert!(say(&app, &fake, 1001, Some("en"), "/mute 0").await.contains("from 1 to 720"));
        assert!(say(&app, &fake, 1001, Some("en"), "/sync@stock_tracker_test_bot").await.contains("Syncs"));

        // A used code does not link again; an unlinked chat is told how to link.
        assert!(say(&app, &fake, 1003, None, "/start not-a-real-code-123").await.contains("Код недействителен"));
        assert!(say(&app, &fake, 1003, Some("en"), "/stocks").await.contains("not linked"));

        // Members may not start syncs from Telegram either.
        let member = app.join(&t, "bot-member@example.com", "member").await;
        assert!(link(&app, &fake, &member, 1004, Some("en")).await.contains("linked"));
        assert!(say(&app, &fake, 1004, Some("en"), "/sync").await.contains("Only owners and admins"));
        assert_eq!(app.call(Method::DELETE, "/api/v1/telegram/chats/1001", Some(&member.access_token), None).await.status,
            StatusCode::FORBIDDEN, "a member unlinks only their own chat");
        assert_eq!(app.call(Method::DELETE, "/api/v1/telegram/chats/1004", Some(&member.access_token), None).await.status,
            StatusCode::NO_CONTENT);
        let other = app.register("bot-other@example.com").await;
        assert_eq!(app.call(Method::DELETE, "/api/v1/telegram/chats/1001", Some(&other.access_token), None).await.status,
            StatusCode::NOT_FOUND);
        assert_eq!(app.get("/api/v1/telegram/chats", &other.access_token).await.body["items"], json!([]));
    }

    async fn the_webhook_refuses_strangers_and_takes_each_update_once(app) {
        let (app, fake) = with_bot(app).await;
        let hello = update(3001, Some("en"), "/help");
        for secret in [None, Some("wrong"), Some("test_webhook-secret-")] {
            let res = post_update(&app, secret, &hello).await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{secret:?}");
        }
        let res = post_update(&app, Some(SECRET), &json!({"message": {}})).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        // Telegram repeats an update it thinks was lost: answered once.
        for _ in 0..3 {
            assert_eq!(post_update(&app, Some(SECRET), &hello).await.status, StatusCode::OK);
        }
        wait_for_messages(&fake, 3001, 1).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(fake.sent_to(3001).len(), 1, "one answer for three deliveries of one update");

        // An update acknowledged while no worker runs (the instance then dies) is answered by the
        // next instance.
        let mut app = app;
        app.stop_background(Duration::ZERO).await;
        let later = update(3002, Some("en"), "/help");
        assert_eq!(post_update(&app, Some(SECRET), &later).await.status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(fake.sent_to(3002).is_empty());
        let app = app.replace(|_| {}).await;
        assert!(wait_for_messages(&fake, 3002, 1).await[0].contains("not linked"));

        // Without a bot the routes say so.
        let app = app.replace(|c| c.telegram = Default::default()).await;
        assert_eq!(post_update(&app, Some(SECRET), &hello).await.status, StatusCode::CONFLICT);
        let t = app.register("nobot@example.com").await;
        let res = app.post("/api/v1/telegram/link", Some(&t.access_token), json!({})).await;
        assert_eq!(res.status, StatusCode::CONFLICT);
        assert_eq!(res.error_code(), Some("telegram_not_configured"));
    }

    async fn alerts_are_batched_muted_throttled_and_stop_for_a_blocked_bot(app) {
        let (app, fake) = with_bot(app).await;
        let t = app.register("alerts@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "alerts-token").await;
        for (sku, warehouse) in [("WB-000001", "Коледино"), ("WB-000002", "Подольск")] {
            app.fake.set_quantity(sku, warehouse, 50);
        }
        sync_once(&app, &t, connection_id).await;
        link(&app, &fake, &t, 2001, None).await;
        link(&app, &fake, &t, 2002, Some("en")).await;

        // One sync, two crossings: one message per chat, in its language, listing both.
        app.fake.set_quantity("WB-000001", "Коледино", 3);
        app.fake.set_quantity("WB-000002", "Подольск", 0);
        sync_once(&app, &t, connection_id).await;
        let ru = wait_for_messages(&fake, 2001, 2).await.pop().unwrap();
        assert!(ru.contains("Мало: WB-000001") && ru.contains("Коледино: 3 (порог 5)"), "{ru}");
        assert!(ru.contains("Нет в наличии: WB-000002") && ru.contains("Подольск"), "{ru}");
        let en = wait_for_messages(&fake, 2002, 2).await.pop().unwrap();
        assert!(en.contains("Low: WB-000001") && en.contains("Out of stock: WB-000002"), "{en}");

        // Telegram throttles: the message waits `retry_after` and is then sent, once.
        say(&app, &fake, 2002, Some("en"), "/mute 1").await;
        fake.throttle_next(1, 1);
        let throttled_at = Instant::now();
        app.fake.set_quantity("WB-000001", "Коледино", 40);
        sync_once(&app, &t, connection_id).await;
        let ru = wait_for_messages(&fake, 2001, 3).await.pop().unwrap();
        assert!(ru.contains("Пополнено: WB-000001"), "{ru}");
        assert!(throttled_at.elapsed() >= Duration::from_secs(1), "waited retry_after");
        let throttled: Vec<_> = fake.calls("sendMessage").into_iter().filter(|c| c.status == 429).collect();
        assert_eq!(throttled.len(), 1);
        assert_eq!(fake.sent_to(2001).iter().filter(|m| m.contains("Пополнено")).count(), 1);
        let metrics = app.call(Method::GET, "/metrics", None, None).await.body;
        let metrics = metrics.as_str().unwrap();
        assert!(metrics.contains("stock_tracker_telegram_messages_total{outcome=\"throttled\"} 1"), "{metrics}");
        assert!(metrics.contains("stock_tracker_events_total{type=\"stock.restocked\"} 1"));

        // The muted chat heard nothing of it.
        assert_eq!(fake.sent_to(2002).len(), 3, "link, alert, mute answer: {:?}", fake.sent_to(2002));

        // A chat that blocked the bot is unlinked at the next message.
        fake.block(2001);
        app.fake.set_quantity("WB-000002", "Подольск", 9);
        sync_once(&app, &t, connection_id).await;
        let start = Instant::now();
        loop {
            let chats = app.get("/api/v1/telegram/chats", &t.access_token).await.body;
            let ids: Vec<i64> = chats["items"].as_array().unwrap().iter().map(|c| c["chat_id"].as_i64().unwrap()).collect();
            if ids == [2002] {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(15), "the blocked chat stays linked: {ids:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
