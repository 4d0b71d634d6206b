//! `/api/v1/members`: roles decide who may add whom.

use super::*;

both_backends! {
    async fn owner_adds_members_and_roles_are_enforced(app) {
        let owner = app.register("boss@example.com").await;
        let res = app.post("/api/v1/members", Some(&owner.access_token),
            json!({ "email": "Clerk@Example.com", "role": "member", "password": "clerk password" })).await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
        assert_eq!(res.body["email"], "clerk@example.com");

        let login = app.post("/api/v1/auth/login", None, json!({ "email": "clerk@example.com", "password": "clerk password" })).await;
        assert_eq!(login.status, StatusCode::OK);
        assert_eq!(login.body["role"], "member");
        let clerk = login.body["access_token"].as_str().unwrap().to_owned();

        // A member reads but does not manage.
        assert_eq!(app.get("/api/v1/members", &clerk).await.body["items"].as_array().unwrap().len(), 2);
        let res = app.post("/api/v1/members", Some(&clerk), json!({ "email": "x@example.com", "role": "member", "password": "long enough" })).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        let res = app.post("/api/v1/connections", Some(&clerk),
            json!({ "marketplace": "wildberries", "name": "n", "credentials": { "token": "t" } })).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);

        // An admin adds members but not admins; nobody adds owners.
        app.post("/api/v1/members", Some(&owner.access_token),
            json!({ "email": "admin@example.com", "role": "admin", "password": "admin password" })).await;
        let admin = app.post("/api/v1/auth/login", None, json!({ "email": "admin@example.com", "password": "admin password" })).await;
        let admin = admin.body["access_token"].as_str().unwrap().to_owned();
        let res = app.post("/api/v1/members", Some(&admin), json!({ "email": "a2@example.com", "role": "admin", "password": "long enough" })).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        let res = app.post("/api/v1/members", Some(&admin), json!({ "email": "m2@example.com", "role": "member", "password": "long enough" })).await;
        assert_eq!(res.status, StatusCode::CREATED);
        let res = app.post("/api/v1/members", Some(&owner.access_token), json!({ "email": "o2@example.com", "role": "owner", "password": "long enough" })).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);

        let res = app.post("/api/v1/members", Some(&owner.access_token), json!({ "email": "clerk@example.com", "role": "member" })).await;
        assert_eq!(res.status, StatusCode::CONFLICT);
        assert_eq!(res.error_code(), Some("already_member"));
        let res = app.post("/api/v1/members", Some(&owner.access_token), json!({ "email": "new@example.com", "role": "member" })).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.body["error"]["field"], "password");
        let res = app.post("/api/v1/members", Some(&owner.access_token), json!({ "email": "new@example.com", "role": "boss" })).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.body["error"]["field"], "role");
    }

    async fn a_user_in_two_tenants_picks_one_at_login(app) {
        let a = app.register("a-owner@example.com").await;
        let b = app.register("b-owner@example.com").await;
        let res = app.post("/api/v1/members", Some(&b.access_token), json!({ "email": "a-owner@example.com", "role": "member" })).await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);

        let default = app.post("/api/v1/auth/login", None, json!({ "email": a.email, "password": a.password })).await;
        assert_eq!(default.body["tenant"]["tenant_id"], a.tenant_id.to_string(), "oldest membership by default");
        let in_b = app.post("/api/v1/auth/login", None, json!({ "email": a.email, "password": a.password, "tenant_id": b.tenant_id })).await;
        assert_eq!(in_b.status, StatusCode::OK);
        assert_eq!(in_b.body["tenant"]["tenant_id"], b.tenant_id.to_string());
        assert_eq!(in_b.body["role"], "member");
        let elsewhere = app.post("/api/v1/auth/login", None, json!({ "email": a.email, "password": a.password, "tenant_id": Uuid::now_v7() })).await;
        assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    }
}
