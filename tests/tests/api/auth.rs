//! `/api/v1/auth`: registration, login, token rotation, and every way a token can be wrong.

use super::*;

both_backends! {
    async fn register_login_me(app) {
        let t = app.register("Owner@Example.com").await;
        let res = app.post("/api/v1/auth/login", None, json!({ "email": "owner@example.com", "password": t.password })).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!(res.body["token_type"], "bearer");
        assert_eq!(res.body["expires_in"], 900);
        assert!(res.body["refresh_token"].as_str().unwrap().starts_with("st_rt_"));
        let token = res.body["access_token"].as_str().unwrap();
        let me = app.get("/api/v1/auth/me", token).await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.body["email"], "owner@example.com");
        assert_eq!(me.body["role"], "owner");
        assert_eq!(me.body["tenant"]["tenant_id"], t.tenant_id.to_string());
        assert!(me.body.get("password_hash").is_none());
    }

    async fn duplicate_email_is_a_conflict(app) {
        app.register("dup@example.com").await;
        let res = app.post("/api/v1/auth/register", None,
            json!({ "email": "DUP@example.com", "password": "another password", "company_name": "Other" })).await;
        assert_eq!(res.status, StatusCode::CONFLICT);
        assert_eq!(res.error_code(), Some("email_taken"));
    }

    async fn wrong_password_and_unknown_email_look_the_same(app) {
        app.register("known@example.com").await;
        let wrong = app.post("/api/v1/auth/login", None, json!({ "email": "known@example.com", "password": "not the password" })).await;
        let unknown = app.post("/api/v1/auth/login", None, json!({ "email": "nobody@example.com", "password": "not the password" })).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.body["error"]["code"], unknown.body["error"]["code"]);
        assert_eq!(wrong.body["error"]["message"], unknown.body["error"]["message"]);
        assert_eq!(wrong.body["error"]["message"], "invalid email or password");
    }

    async fn bad_access_tokens_are_refused(app) {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let t = app.register("tokens@example.com").await;
        let path = "/api/v1/connections";
        assert_eq!(app.get(path, &t.access_token).await.status, StatusCode::OK);

        let missing = app.call(Method::GET, path, None, None).await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
        assert_eq!(missing.error_code(), Some("unauthorized"));

        let basic = app.send(axum::http::Request::get(path).header("authorization", "Basic dXNlcjpwYXNz")
            .body(axum::body::Body::empty()).unwrap()).await;
        assert_eq!(basic.status, StatusCode::UNAUTHORIZED, "non-bearer scheme");
        assert_eq!(app.get(path, "not-a-jwt").await.status, StatusCode::UNAUTHORIZED, "malformed");

        let (expired, _) = app.app.jwt.issue_at(t.user_id, t.tenant_id, stock_tracker::store::tenants::Role::Owner,
            chrono::Utc::now().timestamp() - 16 * 60);
        assert_eq!(app.get(path, &expired).await.status, StatusCode::UNAUTHORIZED, "expired");

        let parts: Vec<&str> = t.access_token.split('.').collect();
        let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["tid"] = json!(Uuid::now_v7());
        let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
        assert_eq!(app.get(path, &tampered).await.status, StatusCode::UNAUTHORIZED, "tampered");

        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert_eq!(app.get(path, &none).await.status, StatusCode::UNAUTHORIZED, "alg none");

        let other_key = stock_tracker::auth::JwtKeys::new(&secrecy::SecretBox::new(Box::new(vec![9u8; 32])));
        let (forged, _) = other_key.issue(t.user_id, t.tenant_id, stock_tracker::store::tenants::Role::Owner);
        assert_eq!(app.get(path, &forged).await.status, StatusCode::UNAUTHORIZED, "signed with another key");
    }

    async fn refresh_rotates_and_reuse_revokes_the_family(app) {
        let t = app.register("rotate@example.com").await;
        let first = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": t.refresh_token })).await;
        assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
        let second_token = first.body["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(second_token, t.refresh_token);
        assert_eq!(app.get("/api/v1/auth/me", first.body["access_token"].as_str().unwrap()).await.status, StatusCode::OK);

        // The spent token again: refused, and the family (including its live successor) revoked.
        let reuse = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": t.refresh_token })).await;
        assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
        assert!(reuse.body["error"]["message"].as_str().unwrap().contains("already used"));
        let successor = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": second_token })).await;
        assert_eq!(successor.status, StatusCode::UNAUTHORIZED, "successor must be revoked with its family");

        // Another login's family is untouched.
        let login = app.post("/api/v1/auth/login", None, json!({ "email": t.email, "password": t.password })).await;
        let other = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": login.body["refresh_token"] })).await;
        assert_eq!(other.status, StatusCode::OK);

        for garbage in ["", "st_rt_x", "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
            let res = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": garbage })).await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{garbage}");
        }
    }

    async fn logout_revokes_the_refresh_token(app) {
        let t = app.register("logout@example.com").await;
        let res = app.post("/api/v1/auth/logout", None, json!({ "refresh_token": t.refresh_token })).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
        let res = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": t.refresh_token })).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }

    async fn data_survives_a_restart(app) {
        let t = app.register("restart@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "tok").await;
        let restarted = app.restart(|_| {}).await;
        let login = restarted.post("/api/v1/auth/login", None, json!({ "email": t.email, "password": t.password })).await;
        assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
        let token = login.body["access_token"].as_str().unwrap();
        let res = restarted.get(&format!("/api/v1/connections/{connection_id}"), token).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body["credential_fields"], json!(["token"]));
        // The old process's access token still verifies: the key persisted.
        assert_eq!(restarted.get("/api/v1/auth/me", &t.access_token).await.status, StatusCode::OK);
    }
}
