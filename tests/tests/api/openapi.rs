//! The contract: `GET /api/v1/openapi.json` describes every route, and its snapshot makes every
//! change to it show in review (`tests/tests/api/snapshots/`; after an intended change, run the
//! suite with `INSTA_UPDATE=always` and commit the new snapshot).

use stock_tracker_tests::Backend;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_and_matches_its_snapshot() {
    let app = TestApp::try_new(Backend::Sqlite).await.unwrap();
    let res = app.call(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.headers["content-type"], "application/json");
    let doc = res.body;
    assert_eq!(doc["openapi"], "3.1.0");
    insta::assert_json_snapshot!("openapi", doc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_with_its_answers() {
    let app = TestApp::try_new(Backend::Sqlite).await.unwrap();
    let doc = app.call(Method::GET, "/api/v1/openapi.json", None, None).await.body;
    let paths = doc["paths"].as_object().unwrap();
    // Every route of the route table, by method (the table is the only place routes are added,
    // and it adds them through the document, so a route missing here is not served either).
    let expected = [
        ("/metrics", "get"),
        ("/api/v1/health/", "get"),
        ("/api/v1/health/ready", "get"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/invitations/accept", "post"),
        ("/api/v1/members/{id}", "patch"),
        ("/api/v1/connections/{id}", "delete"),
        ("/api/v1/connections/{id}/sync", "post"),
        ("/api/v1/stocks", "get"),
        ("/api/v1/admin/plugins/{id}", "put"),
        ("/api/v1/tenant", "patch"),
        ("/api/v1/products/{id}", "patch"),
        ("/api/v1/events", "get"),
        ("/api/v1/forecasts", "get"),
        ("/api/v1/restock-plan", "get"),
        ("/api/v1/incidents", "get"),
        ("/api/v1/forecast-settings", "put"),
        ("/api/v1/forecast-overrides", "put"),
        ("/api/v1/telegram/webhook", "post"),
        ("/api/v1/telegram/chats/{chat_id}", "delete"),
        ("/api/v1/webhooks", "post"),
        ("/api/v1/webhooks/{id}/rotate-secret", "post"),
        ("/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", "post"),
    ];
    for (path, method) in expected {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is not documented");
    }
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("500"), "{method} {path}: 500");
            let secured = op
                .get("security")
                .is_some_and(|s| s.as_array().unwrap().iter().any(|r| !r.as_object().unwrap().is_empty()));
            if secured {
                assert!(responses.contains_key("401"), "{method} {path}: 401 where a token is taken");
            }
            if !path.contains("/health")
                && !["/metrics", "/api/v1/openapi.json", "/api/v1/telegram/webhook"].contains(&path.as_str())
            {
                assert_eq!(responses["429"]["$ref"], "#/components/responses/RateLimited", "{method} {path}");
            }
            if path.contains('{') {
                assert!(responses.contains_key("404"), "{method} {path}: 404");
            }
        }
    }
    assert_eq!(operations, 59, "operations in the document");
    // Every link names an operation that exists (a renamed handler must not leave one dangling).
    let ids: Vec<&str> = paths
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let mut links = 0;
    for item in paths.values() {
        for op in item.as_object().unwrap().values() {
            for response in op["responses"].as_object().unwrap().values() {
                for (name, link) in response.get("links").and_then(Value::as_object).into_iter().flatten() {
                    links += 1;
                    let target = link["operationId"].as_str().unwrap();
                    assert!(ids.contains(&target), "link {name} points at unknown operation {target}");
                }
            }
        }
    }
    assert_eq!(links, 12, "links in the document");
    for scheme in ["bearer", "operator"] {
        assert_eq!(doc["components"]["securitySchemes"][scheme]["scheme"], "bearer");
    }
    // Every reference resolves (a query enum is not registered as a component by itself).
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 100, "{} references", all.len());
    for r in all {
        let target = r.strip_prefix("#/").unwrap_or_else(|| panic!("external reference {r}"));
        let found = target.split('/').try_fold(&doc, |node, key| node.get(key));
        assert!(found.is_some(), "unresolvable reference {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_carry_the_documented_fields() {
    // A few answers against their schemas' required fields, as a client generated from the
    // document would read them.
    let app = TestApp::try_new(Backend::Sqlite).await.unwrap();
    let doc = app.call(Method::GET, "/api/v1/openapi.json", None, None).await.body;
    let required = |schema: &str| -> Vec<String> {
        doc["components"]["schemas"][schema]["required"]
            .as_array()
            .map_or_else(Vec::new, |r| r.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
    };
    let t = app.register("contract@example.com").await;
    let id = app.create_connection(&t, "WB", "contract-token").await;
    let checks = [
        (app.get("/api/v1/auth/me", &t.access_token).await.body, "Me"),
        (app.get(&format!("/api/v1/connections/{id}"), &t.access_token).await.body, "ConnectionView"),
        (app.get("/api/v1/members", &t.access_token).await.body, "Page_MemberView"),
        (app.get("/api/v1/connections", &t.access_token).await.body, "Page_ConnectionView"),
        (app.call(Method::GET, "/api/v1/health/ready", None, None).await.body, "Ready"),
        (app.get("/api/v1/connections/not-a-uuid", &t.access_token).await.body, "ErrorBody"),
    ];
    for (body, schema) in checks {
        let fields = required(schema);
        assert!(!fields.is_empty(), "{schema} has required fields");
        for field in fields {
            assert!(body.get(&field).is_some(), "{schema}.{field} missing in {body}");
        }
    }
    let lists = ["/api/v1/members", "/api/v1/connections", "/api/v1/products", "/api/v1/stocks", "/api/v1/sync-runs"];
    for list in lists {
        let body = app.get(list, &t.access_token).await.body;
        assert!(body["items"].is_array() && body.get("next_cursor").is_some(), "{list}: {body}");
    }
}
