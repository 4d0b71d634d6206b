//! `/api/v1/members`: roles decide who may change whom; nobody adds accounts here any more.

use super::*;

both_backends! {
    async fn members_are_listed_and_roles_are_enforced(app) {
        let owner = app.register("boss@example.com").await;
        let clerk = app.join(&owner, "Clerk@Example.com", "member").await;
        assert_eq!(clerk.tenant_id, owner.tenant_id);

        // Accounts are no longer made by admins: the old route is gone.
        let res = app.post("/api/v1/members", Some(&owner.access_token),
            json!({ "email": "x@example.com", "role": "member", "password": "chosen by the tenant" })).await;
        assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);

        // A member reads but does not manage, connect or sync.
        let list = app.get("/api/v1/members", &clerk.access_token).await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
        assert!(list.body["items"].as_array().unwrap().iter().any(|m| m["email"] == "clerk@example.com"));
        let res = app.post("/api/v1/invitations", Some(&clerk.access_token), json!({ "email": "y@example.com", "role": "member" })).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        let res = app.post("/api/v1/connections", Some(&clerk.access_token),
            json!({ "marketplace": "wildberries", "name": "n", "credentials": { "token": "t" } })).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        let connection = app.create_connection(&owner, "WB", "members-token").await;
        let res = app.post(&format!("/api/v1/connections/{connection}/sync"), Some(&clerk.access_token), json!({})).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "members only read: {:?}", res.body);
        let res = app.post("/api/v1/sync", Some(&clerk.access_token), json!({})).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        let res = app.call(Method::PATCH, &format!("/api/v1/members/{}", owner.user_id), Some(&clerk.access_token),
            Some(json!({ "role": "member" }))).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);

        // The owner promotes the clerk; an admin manages members but not admins or the owner.
        let res = app.call(Method::PATCH, &format!("/api/v1/members/{}", clerk.user_id), Some(&owner.access_token),
            Some(json!({ "role": "admin" }))).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!(res.body["role"], "admin");
        let admin = app.post("/api/v1/auth/login", None, json!({ "email": clerk.email, "password": clerk.password })).await;
        assert_eq!(admin.body["role"], "admin");
        let admin = admin.body["access_token"].as_str().unwrap().to_owned();
        let res = app.post("/api/v1/invitations", Some(&admin), json!({ "email": "a2@example.com", "role": "admin" })).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "an admin cannot invite above itself");
        let helper = app.join(&owner, "helper@example.com", "member").await;
        let res = app.call(Method::PATCH, &format!("/api/v1/members/{}", helper.user_id), Some(&admin),
            Some(json!({ "role": "admin" }))).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        let res = app.call(Method::PATCH, &format!("/api/v1/members/{}", owner.user_id), Some(&admin),
            Some(json!({ "role": "member" }))).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        let res = app.call(Method::PATCH, &format!("/api/v1/members/{}", helper.user_id), Some(&owner.access_token),
            Some(json!({ "role": "owner" }))).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "nobody makes an owner");
        let res = app.call(Method::PATCH, &format!("/api/v1/members/{}", helper.user_id), Some(&owner.access_token),
            Some(json!({ "role": "boss" }))).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.body["error"]["field"], "role");
        let res = app.call(Method::PATCH, &format!("/api/v1/members/{}", Uuid::now_v7()), Some(&owner.access_token),
            Some(json!({ "role": "member" }))).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);

        // Removal: the admin removes a member, whose refresh token then stops working.
        let res = app.call(Method::DELETE, &format!("/api/v1/members/{}", helper.user_id), Some(&admin), None).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
        let res = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": helper.refresh_token })).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        let res = app.post("/api/v1/auth/login", None,
            json!({ "email": helper.email, "password": helper.password, "tenant_id": owner.tenant_id })).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "no longer a member");
        let res = app.call(Method::DELETE, &format!("/api/v1/members/{}", owner.user_id), Some(&owner.access_token), None).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "the owner cannot be removed");
        // Anyone else may leave.
        let res = app.call(Method::DELETE, &format!("/api/v1/members/{}", clerk.user_id), Some(&admin), None).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get("/api/v1/members", &owner.access_token).await.body["items"].as_array().unwrap().len(), 1);
    }

    async fn a_user_in_two_tenants_picks_one_at_login(app) {
        let a = app.register("a-owner@example.com").await;
        let b = app.register("b-owner@example.com").await;
        let token = app.invite(&b, "a-owner@example.com", "member").await;
        let res = app.post("/api/v1/invitations/accept", Some(&a.access_token), json!({ "token": token })).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!(res.body["tenant"]["tenant_id"], b.tenant_id.to_string());

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
