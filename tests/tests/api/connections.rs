//! `/api/v1/connections`: create, read, change, delete; credentials never come back.

use super::*;

both_backends! {
    async fn crud_without_ever_returning_credentials(app) {
        let t = app.register("conn@example.com").await;
        let token = t.access_token.as_str();
        let res = app.post("/api/v1/connections", Some(token), app.connection_body("  WB main  ", "wb-very-secret-token")).await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
        let id = res.body["connection_id"].as_str().unwrap().to_owned();
        assert_eq!(res.body["name"], "WB main");
        assert_eq!(res.body["settings"]["base_url"], app.fake.base_url());
        assert_eq!(res.body["credential_fields"], json!(["token"]));

        let list = app.get("/api/v1/connections", token).await;
        let one = app.get(&format!("/api/v1/connections/{id}"), token).await;
        for body in [&res.body, &list.body, &one.body] {
            assert!(!body.to_string().contains("wb-very-secret-token"), "credentials leaked: {body}");
        }
        assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

        app.fake.add_token("rotated-token");
        let patched = app.call(Method::PATCH, &format!("/api/v1/connections/{id}"), Some(token),
            Some(json!({ "name": "WB renamed", "credentials": { "token": "rotated-token", "extra": "x" } }))).await;
        assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
        assert_eq!(patched.body["name"], "WB renamed");
        assert_eq!(patched.body["settings"]["base_url"], app.fake.base_url(), "untouched fields stay");
        assert_eq!(patched.body["credential_fields"], json!(["extra", "token"]));
        assert!(!patched.body.to_string().contains("rotated-token"));

        // New credentials the marketplace refuses are not stored.
        let refused = app.call(Method::PATCH, &format!("/api/v1/connections/{id}"), Some(token),
            Some(json!({ "credentials": { "token": "revoked-token" } }))).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", refused.body);
        assert_eq!(refused.body["error"]["field"], "credentials");
        let record = app.app.store.connection(t.tenant_id, id.parse().unwrap()).await.unwrap();
        let stored = app.app.keyring.open_credentials(&app.app.store, &record).await.unwrap();
        assert_eq!(stored["token"], "rotated-token", "the refused credentials replaced the working ones");

        let deleted = app.call(Method::DELETE, &format!("/api/v1/connections/{id}"), Some(token), None).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&format!("/api/v1/connections/{id}"), token).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.call(Method::DELETE, &format!("/api/v1/connections/{id}"), Some(token), None).await.status, StatusCode::NOT_FOUND);
    }

    async fn bad_connection_input_is_refused_and_nothing_is_written(app) {
        let t = app.register("badconn@example.com").await;
        let token = t.access_token.as_str();
        let cases = [
            (json!({ "marketplace": "amazon", "name": "x", "credentials": { "token": "t" } }), "marketplace"),
            (json!({ "marketplace": "ozon", "name": "", "credentials": { "token": "t" } }), "name"),
            (json!({ "marketplace": "ozon", "name": "x", "credentials": {} }), "credentials"),
            (json!({ "marketplace": "ozon", "name": "x", "credentials": { "token": 5 } }), "credentials.token"),
            (json!({ "marketplace": "ozon", "name": "x", "credentials": { "token": "" } }), "credentials.token"),
            (json!({ "marketplace": "ozon", "name": "x" }), "credentials"),
            (json!({ "marketplace": "ozon", "name": "x", "credentials": { "token": "t" }, "settings": [] }), "settings"),
            (json!({ "marketplace": "ozon", "name": "x", "credentials": { "token": "t" }, "colour": "red" }), "colour"),
        ];
        for (body, field) in cases {
            let res = app.post("/api/v1/connections", Some(token), body.clone()).await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {:?}", res.body);
            assert_eq!(res.body["error"]["field"], field, "{body}: {:?}", res.body);
        }
        assert_eq!(app.get("/api/v1/connections", token).await.body["items"], json!([]));

        app.create_connection(&t, "taken", "t").await;
        let res = app.post("/api/v1/connections", Some(token), app.connection_body("taken", "t2")).await;
        assert_eq!(res.status, StatusCode::CONFLICT);
        assert_eq!(res.error_code(), Some("name_taken"));
        assert_eq!(app.get("/api/v1/connections", token).await.body["items"].as_array().unwrap().len(), 1);
    }
}
