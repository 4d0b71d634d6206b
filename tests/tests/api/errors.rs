//! The error envelope: every bad input gets it, names the field, and writes nothing.

use axum::body::Body;
use axum::http::Request;
use stock_tracker::on_pool;

use super::*;

async fn count(app: &TestApp, table: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
    on_pool!(app.app.store.pool(), p => sqlx::query_scalar(sql).fetch_one(p).await.unwrap())
}

fn raw_post(path: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path).header("content-type", content_type).body(body.into()).unwrap()
}

fn assert_envelope(res: &stock_tracker_tests::TestResponse, status: StatusCode, code: &str) {
    assert_eq!(res.status, status, "{:?}", res.body);
    assert_eq!(res.error_code(), Some(code), "{:?}", res.body);
    assert!(res.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(res.body["error"]["request_id"].as_str().is_some(), "{:?}", res.body);
    assert_eq!(res.headers["content-type"], "application/json");
}

both_backends! {
    async fn bad_bodies_get_the_envelope_and_write_nothing(app) {
        let before = (count(&app, "tenant").await, count(&app, "user_account").await);
        let path = "/api/v1/auth/register";

        let res = app.send(raw_post(path, "application/json", r#"{"email": "a@b.co", "password": "#)).await;
        assert_envelope(&res, StatusCode::BAD_REQUEST, "malformed_json");

        let res = app.send(raw_post(path, "application/json", r#"{"email": "a@b.co", "password": "long enough pw"}"#)).await;
        assert_envelope(&res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(res.body["error"]["field"], "company_name");

        let res = app.send(raw_post(path, "application/json", r#"{"email": "a@b.co", "password": 12345678, "company_name": "x"}"#)).await;
        assert_envelope(&res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(res.body["error"]["field"], "password");

        let res = app.send(raw_post(path, "application/json", r#"{"email": "not-an-email", "password": "long enough pw", "company_name": "x"}"#)).await;
        assert_envelope(&res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(res.body["error"]["field"], "email");

        let res = app.send(raw_post(path, "application/json", r#"{"email": "a@b.co", "password": "short", "company_name": "x"}"#)).await;
        assert_eq!(res.body["error"]["field"], "password");

        let res = app.send(raw_post(path, "text/plain", r#"{"email": "a@b.co", "password": "long enough pw", "company_name": "x"}"#)).await;
        assert_envelope(&res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");

        let huge = format!(r#"{{"email": "a@b.co", "password": "long enough pw", "company_name": "{}"}}"#, "x".repeat(1024 * 1024 + 1));
        let res = app.send(raw_post(path, "application/json", huge)).await;
        assert_envelope(&res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

        let after = (count(&app, "tenant").await, count(&app, "user_account").await);
        assert_eq!(before, after, "a refused request wrote something");
    }

    async fn bad_authenticated_bodies_write_nothing(app) {
        let t = app.register("writes@example.com").await;
        let token = t.access_token.as_str();
        let big = json!({ "marketplace": "ozon", "name": "x", "credentials": { "token": "y".repeat(1024 * 1024) } });
        let res = app.post("/api/v1/connections", Some(token), big).await;
        assert_envelope(&res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
        let req = Request::post("/api/v1/connections").header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json").body(Body::from("{\"marketplace\": \"ozon\",")).unwrap();
        assert_envelope(&app.send(req).await, StatusCode::BAD_REQUEST, "malformed_json");
        assert_eq!(count(&app, "marketplace_connection").await, 0);
    }

    async fn unknown_routes_methods_and_queries(app) {
        let t = app.register("routes@example.com").await;
        let res = app.get("/api/v1/nothing-here", &t.access_token).await;
        assert_envelope(&res, StatusCode::NOT_FOUND, "not_found");
        let res = app.call(Method::DELETE, "/api/v1/products", Some(&t.access_token), None).await;
        assert_envelope(&res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        assert_eq!(res.headers["allow"], "GET,HEAD", "the methods the route serves");
        let res = app.get("/api/v1/products?limit=many", &t.access_token).await;
        assert_envelope(&res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(res.body["error"]["field"], "limit");
        let res = app.get("/api/v1/stocks?low=maybe", &t.access_token).await;
        assert_eq!(res.body["error"]["field"], "low");
        let res = app.get("/api/v1/products?colour=red", &t.access_token).await;
        assert_eq!(res.body["error"]["field"], "colour");
        let res = app.get("/api/v1/products/not-a-uuid", &t.access_token).await;
        assert_envelope(&res, StatusCode::NOT_FOUND, "not_found");
    }

    async fn internal_errors_carry_a_request_id_and_no_internals(app) {
        let t = app.register("boom@example.com").await;
        on_pool!(app.app.store.pool(), p => sqlx::query("DROP TABLE sync_run").execute(p).await.unwrap().rows_affected());
        let req = Request::get("/api/v1/sync-runs").header("authorization", format!("Bearer {}", t.access_token))
            .header("x-request-id", "trace-me-123").body(Body::empty()).unwrap();
        let res = app.send(req).await;
        assert_envelope(&res, StatusCode::INTERNAL_SERVER_ERROR, "internal");
        assert_eq!(res.body["error"]["request_id"], "trace-me-123");
        assert_eq!(res.headers["x-request-id"], "trace-me-123");
        assert_eq!(res.body["error"]["message"], "internal error");
        let text = res.body.to_string().to_lowercase();
        for internal in ["sync_run", "relation", "table", "sqlx", "sqlite", "postgres"] {
            assert!(!text.contains(internal), "internal detail `{internal}` leaked: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_compressed_when_the_client_accepts_gzip() {
    let app = TestApp::try_new(stock_tracker_tests::Backend::Sqlite).await.unwrap();
    let t = app.register("gzip@example.com").await;
    seed_catalogue(&app, &t, 200, &["W1"]).await;
    let req = Request::get("/api/v1/products?limit=200")
        .header("authorization", format!("Bearer {}", t.access_token))
        .header("accept-encoding", "gzip")
        .body(Body::empty())
        .unwrap();
    let res = app.send(req).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.headers["content-encoding"], "gzip");
}
