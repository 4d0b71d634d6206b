//! A fake Telegram Bot API on loopback, per the published protocol: `POST /bot<token>/<method>`
//! with a JSON body, method names matched case-insensitively (as Telegram does), answers
//! `{"ok": true, "result": …}` or `{"ok": false, "error_code", "description", "parameters"}`.
//! It can throttle (429 with `retry_after`) and play a chat that blocked the bot (403).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The bot's username the fake answers `getMe` with.
pub const BOT_USERNAME: &str = "stock_tracker_test_bot";

/// A call as received.
#[derive(Debug, Clone)]
pub struct Call {
    /// Lower-cased method name.
    pub method: String,
    pub body: Value,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
struct State {
    token: String,
    calls: Vec<Call>,
    throttle: Vec<u64>,
    blocked: HashSet<i64>,
    next_message_id: i64,
}

/// The running fake.
pub struct FakeTelegram {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeTelegram {
    /// A fake that accepts the bot token `token`.
    pub async fn start(token: &str) -> Self {
        let state = Arc::new(Mutex::new(State { token: token.to_owned(), ..State::default() }));
        let shared = state.clone();
        let router = Router::new().fallback(move |uri: Uri, body: Bytes| {
            let state = shared.clone();
            async move { handle(&state, &uri, &body) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback port");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, state, task }
    }

    /// The Bot API base URL (`TELEGRAM_API_URL`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every call of `method` (any case), in order.
    pub fn calls(&self, method: &str) -> Vec<Call> {
        let method = method.to_ascii_lowercase();
        self.state.lock().unwrap().calls.iter().filter(|c| c.method == method).cloned().collect()
    }

    /// The messages delivered (answered 200): chat id and text, in order.
    pub fn sent(&self) -> Vec<(i64, String)> {
        self.calls("sendMessage")
            .into_iter()
            .filter(|c| c.status == 200)
            .map(|c| (c.body["chat_id"].as_i64().unwrap(), c.body["text"].as_str().unwrap().to_owned()))
            .collect()
    }

    /// The messages delivered to `chat_id`.
    pub fn sent_to(&self, chat_id: i64) -> Vec<String> {
        self.sent().into_iter().filter(|(c, _)| *c == chat_id).map(|(_, t)| t).collect()
    }

    /// The next `times` `sendMessage` calls get 429 with `retry_after`.
    pub fn throttle_next(&self, times: usize, retry_after: u64) {
        self.state.lock().unwrap().throttle.extend(std::iter::repeat_n(retry_after, times));
    }

    /// `chat_id` has blocked the bot: 403 from now on.
    pub fn block(&self, chat_id: i64) {
        self.state.lock().unwrap().blocked.insert(chat_id);
    }
}

fn handle(state: &Mutex<State>, uri: &Uri, body: &[u8]) -> Response {
    let mut state = state.lock().unwrap();
    let path = uri.path().trim_start_matches('/');
    let (bot, method) = path.split_once('/').unwrap_or((path, ""));
    let method = method.to_ascii_lowercase();
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let (status, answer) = if bot.strip_prefix("bot") != Some(state.token.as_str()) {
        error(401, "Unauthorized", None)
    } else {
        match method.as_str() {
            "getme" => ok(json!({"id": 4242, "is_bot": true, "first_name": "Stock Tracker", "username": BOT_USERNAME})),
            "setwebhook" if body["url"].is_string() => ok(json!(true)),
            "sendmessage" => send_message(&mut state, &body),
            _ => error(404, "Not Found: method not found", None),
        }
    };
    state.calls.push(Call { method, body, status });
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response()
}

fn send_message(state: &mut State, body: &Value) -> (u16, Value) {
    let Some(chat_id) = body["chat_id"].as_i64() else {
        return error(400, "Bad Request: chat_id is empty", None);
    };
    let text = body["text"].as_str().unwrap_or_default();
    if text.is_empty() {
        return error(400, "Bad Request: message text is empty", None);
    }
    if text.chars().count() > 4096 {
        return error(400, "Bad Request: message is too long", None);
    }
    if !state.throttle.is_empty() {
        let wait = state.throttle.remove(0);
        return error(429, &format!("Too Many Requests: retry after {wait}"), Some(json!({"retry_after": wait})));
    }
    if state.blocked.contains(&chat_id) {
        return error(403, "Forbidden: bot was blocked by the user", None);
    }
    state.next_message_id += 1;
    ok(json!({"message_id": state.next_message_id, "date": chrono::Utc::now().timestamp(),
              "chat": {"id": chat_id, "type": "private"}, "text": text}))
}

fn ok(result: Value) -> (u16, Value) {
    (200, json!({"ok": true, "result": result}))
}

fn error(code: u16, description: &str, parameters: Option<Value>) -> (u16, Value) {
    let mut answer = json!({"ok": false, "error_code": code, "description": description});
    if let Some(parameters) = parameters {
        answer["parameters"] = parameters;
    }
    (code, answer)
}
