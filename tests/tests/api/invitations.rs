//! `/api/v1/invitations`: people join tenants with their own passwords; no tenant can take over
//! an account, and nothing answered depends on whether an email has an account.

use stock_tracker::on_pool;

use super::*;

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

both_backends! {
    async fn a_tenant_cannot_take_over_an_account_through_members(app) {
        // The attack that worked before: tenant A sets a password for an email, tenant B later adds
        // the same email, and A logs in with B's tenant id holding B's role.
        let attacker = app.register("attacker@example.com").await;
        let victim_tenant = app.register("owner-b@example.com").await;
        let res = app.post("/api/v1/members", Some(&attacker.access_token),
            json!({ "email": "victim@example.com", "role": "member", "password": "attacker-chosen-pw" })).await;
        assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED, "no tenant sets another account's password");

        // The most an attacker can do now is accept its own invitation, creating the account in
        // its own tenant with its own password...
        let token_a = app.invite(&attacker, "victim@example.com", "member").await;
        let res = app.post("/api/v1/invitations/accept", None,
            json!({ "token": token_a, "password": "attacker-chosen-pw" })).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!(res.body["tenant"]["tenant_id"], attacker.tenant_id.to_string());

        // ...which gives it nothing in tenant B: B's invitation token goes to B, and without it the
        // account never becomes B's member.
        let token_b = app.invite(&victim_tenant, "victim@example.com", "admin").await;
        let res = app.post("/api/v1/auth/login", None, json!({
            "email": "victim@example.com", "password": "attacker-chosen-pw", "tenant_id": victim_tenant.tenant_id })).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{:?}", res.body);
        let squatter = app.post("/api/v1/auth/login", None,
            json!({ "email": "victim@example.com", "password": "attacker-chosen-pw" })).await;
        let squatter = squatter.body["access_token"].as_str().unwrap().to_owned();
        let res = app.post("/api/v1/invitations/accept", Some(&squatter), json!({ "token": token_a })).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "spent: {:?}", res.body);
        let forged = token_b.replace(&token_b[token_b.len() - 6..], "AAAAAA");
        let res = app.post("/api/v1/invitations/accept", Some(&squatter), json!({ "token": forged })).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.body["error"]["field"], "token");
        let members_b = app.get("/api/v1/members", &victim_tenant.access_token).await;
        assert_eq!(members_b.body["items"].as_array().unwrap().len(), 1, "B has only its owner");
        // B's invitation is still open for the real person to accept.
        let open = app.get("/api/v1/invitations", &victim_tenant.access_token).await;
        assert_eq!(open.body["items"][0]["email"], "victim@example.com");
        assert_eq!(open.body["items"][0]["role"], "admin");
        assert!(open.body["items"][0].get("token").is_none(), "the token is shown once");
    }

    async fn answers_do_not_depend_on_whether_an_account_exists(app) {
        let owner = app.register("inviter@example.com").await;
        let _existing = app.register("has-account@example.com").await;
        let with_account = app.post("/api/v1/invitations", Some(&owner.access_token),
            json!({ "email": "has-account@example.com", "role": "member" })).await;
        let without = app.post("/api/v1/invitations", Some(&owner.access_token),
            json!({ "email": "nobody-yet@example.com", "role": "member" })).await;
        assert_eq!(with_account.status, StatusCode::CREATED);
        assert_eq!(without.status, with_account.status);
        assert_eq!(keys(&without.body), keys(&with_account.body));
        assert_eq!(keys(&without.body), ["email", "expires_at", "invitation_id", "role", "token"]);
        let list = app.get("/api/v1/invitations", &owner.access_token).await;
        let items = list.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(keys(&items[0]), keys(&items[1]));
        // Deleting behaves the same for both, and a deleted invitation's token is dead.
        let token = without.body["token"].as_str().unwrap();
        for res in [&with_account, &without] {
            let id = res.body["invitation_id"].as_str().unwrap();
            let del = app.call(Method::DELETE, &format!("/api/v1/invitations/{id}"), Some(&owner.access_token), None).await;
            assert_eq!(del.status, StatusCode::NO_CONTENT);
        }
        let res = app.post("/api/v1/invitations/accept", None, json!({ "token": token, "password": "long enough pw" })).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(app.post("/api/v1/auth/login", None, json!({ "email": "nobody-yet@example.com", "password": "long enough pw" }))
            .await.status == StatusCode::UNAUTHORIZED, "no account was created");
    }

    async fn an_existing_account_joins_with_its_own_bearer_and_keeps_its_password(app) {
        let inviter = app.register("team@example.com").await;
        let person = app.register("person@example.com").await;
        let token = app.invite(&inviter, "person@example.com", "member").await;

        // Without the bearer, a password does not replace the existing account's.
        let res = app.post("/api/v1/invitations/accept", None, json!({ "token": token, "password": "another password" })).await;
        assert_eq!(res.status, StatusCode::CONFLICT);
        assert_eq!(res.error_code(), Some("account_exists"));
        let res = app.post("/api/v1/auth/login", None, json!({ "email": person.email, "password": "another password" })).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        // Another account's bearer does not accept it either, and the token survives both tries.
        let stranger = app.register("stranger@example.com").await;
        let res = app.post("/api/v1/invitations/accept", Some(&stranger.access_token), json!({ "token": token })).await;
        assert_eq!(res.status, StatusCode::CONFLICT);
        assert_eq!(res.error_code(), Some("wrong_account"));
        let res = app.post("/api/v1/invitations/accept", Some(&person.access_token), json!({ "token": token, "password": "x" })).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.body["error"]["field"], "password");

        let res = app.post("/api/v1/invitations/accept", Some(&person.access_token), json!({ "token": token })).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!(res.body["tenant"]["tenant_id"], inviter.tenant_id.to_string());
        assert_eq!(res.body["role"], "member");
        let me = app.get("/api/v1/auth/me", res.body["access_token"].as_str().unwrap()).await;
        assert_eq!(me.body["memberships"].as_array().unwrap().len(), 2);
        let res = app.post("/api/v1/auth/login", None,
            json!({ "email": person.email, "password": person.password, "tenant_id": inviter.tenant_id })).await;
        assert_eq!(res.status, StatusCode::OK, "the original password still works");
        // Single use.
        let res = app.post("/api/v1/invitations/accept", Some(&person.access_token), json!({ "token": token })).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(app.get("/api/v1/invitations", &inviter.access_token).await.body["items"].as_array().unwrap().is_empty());
    }

    async fn invitation_rules(app) {
        let owner = app.register("rules@example.com").await;
        let res = app.post("/api/v1/invitations", Some(&owner.access_token), json!({ "email": "x@example.com", "role": "owner" })).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        let res = app.post("/api/v1/invitations", Some(&owner.access_token), json!({ "email": "not an email", "role": "member" })).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.body["error"]["field"], "email");
        let res = app.post("/api/v1/invitations", Some(&owner.access_token), json!({ "email": "rules@example.com", "role": "member" })).await;
        assert_eq!(res.error_code(), Some("already_member"));
        let token = app.invite(&owner, "Twice@Example.com", "member").await;
        let res = app.post("/api/v1/invitations", Some(&owner.access_token), json!({ "email": "twice@example.com", "role": "admin" })).await;
        assert_eq!(res.status, StatusCode::CONFLICT);
        assert_eq!(res.error_code(), Some("already_invited"));
        let res = app.post("/api/v1/invitations/accept", None, json!({ "token": token })).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.body["error"]["field"], "password");
        let res = app.post("/api/v1/invitations/accept", None, json!({ "token": token, "password": "short" })).await;
        assert_eq!(res.body["error"]["field"], "password");

        // Expired: refused, and replaced by a new invitation of the same email.
        let sql = "UPDATE invitation SET expires_at = $1";
        on_pool!(app.app.store.pool(), p => sqlx::query(sql).bind(chrono::Utc::now() - chrono::Duration::minutes(1)).execute(p).await.unwrap().rows_affected());
        let res = app.post("/api/v1/invitations/accept", None, json!({ "token": token, "password": "long enough pw" })).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.get("/api/v1/invitations", &owner.access_token).await.body["items"][0]["expired"], true);
        let fresh = app.invite(&owner, "twice@example.com", "member").await;
        let res = app.post("/api/v1/invitations/accept", None, json!({ "token": fresh, "password": "long enough pw" })).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!(res.body["user"]["email"], "twice@example.com");

        // Another tenant's invitation id is a 404; strangers get 401.
        let other = app.register("other-rules@example.com").await;
        let id = app.post("/api/v1/invitations", Some(&owner.access_token), json!({ "email": "z@example.com", "role": "member" }))
            .await.body["invitation_id"].as_str().unwrap().to_owned();
        let res = app.call(Method::DELETE, &format!("/api/v1/invitations/{id}"), Some(&other.access_token), None).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        let res = app.call(Method::GET, "/api/v1/invitations", None, None).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        let res = app.post("/api/v1/invitations/accept", Some("not-a-jwt"), json!({ "token": fresh })).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "a bad bearer is refused, not ignored");
    }
}
