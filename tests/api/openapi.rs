//! The OpenAPI document kept in step with the service: requests are built from
//! the document alone, and the service must require exactly the fields the
//! document marks required, accept the optional ones, and refuse values longer
//! than the documented maximum.

use crate::helpers::TestApp;
use serde_json::{Map, Value};

const ENDPOINTS: [&str; 4] = ["/StartProject", "/StopProject", "/Enqueue", "/Dequeue"];

struct Body {
    required: Vec<String>,
    properties: Map<String, Value>,
}

fn body_schema(document: &Value, path: &str) -> Body {
    let operation = &document["paths"][path]["post"];
    let content = &operation["requestBody"]["content"];
    for content_type in ["application/json", "application/x-www-form-urlencoded"] {
        assert!(
            content.get(content_type).is_some(),
            "{path} does not document {content_type}"
        );
    }
    let reference = content["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap();
    let name = reference.rsplit('/').next().unwrap();
    let schema = &document["components"]["schemas"][name];
    Body {
        required: schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|name| name.as_str().unwrap().to_owned())
            .collect(),
        properties: schema["properties"].as_object().unwrap().clone(),
    }
}

/// A request from the documented examples, without `Sign` (signing is off).
fn example_request(path: &str, body: &Body, unique: &str) -> Map<String, Value> {
    let mut request = Map::new();
    for (name, property) in &body.properties {
        if name == "Sign" {
            continue;
        }
        let example = property["example"].as_str().unwrap_or_else(|| {
            panic!("{path}: {name} has no example");
        });
        // Unique users, so that one case's queue state does not shape the next.
        let value = if name == "UserId" {
            format!("{example}-{unique}")
        } else {
            example.to_owned()
        };
        request.insert(name.clone(), Value::String(value));
    }
    if path == "/StartProject" {
        // The example RunMode would make ClientSession optional; test the
        // ordinary mode, where the document says it is required.
        request.remove("RunMode");
    }
    request
}

async fn document(app: &TestApp) -> Value {
    app.client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_endpoint_requires_exactly_the_documented_fields() {
    let app = TestApp::spawn_with(|_| {}, |sim| sim.capacity = 1000).await;
    let document = document(&app).await;

    for path in ENDPOINTS {
        let body = body_schema(&document, path);
        assert!(body.required.contains(&"UserId".to_owned()), "{path}");

        let full = example_request(path, &body, "full");
        let reply = app.call(path, Value::Object(full.clone())).await;
        assert_ne!(
            reply["Code"], 10001,
            "{path}: the documented example is refused: {reply}"
        );

        for name in full.keys() {
            let mut without = example_request(path, &body, &format!("without-{name}"));
            without.remove(name);
            let reply = app.call(path, Value::Object(without)).await;
            if body.required.contains(name) {
                assert_eq!(
                    reply["Code"], 10001,
                    "{path}: {name} is documented as required: {reply}"
                );
                assert!(
                    reply["Msg"].as_str().unwrap().contains(name.as_str()),
                    "{reply}"
                );
            } else {
                assert_ne!(
                    reply["Code"], 10001,
                    "{path}: {name} is documented as optional: {reply}"
                );
            }
        }
    }
}

#[tokio::test]
async fn documented_maximum_lengths_are_enforced() {
    let app = TestApp::spawn_with(|_| {}, |sim| sim.capacity = 1000).await;
    let document = document(&app).await;

    for path in ENDPOINTS {
        let body = body_schema(&document, path);
        for (name, property) in &body.properties {
            let Some(max) = property["maxLength"].as_u64() else {
                continue;
            };
            let max = max as usize;

            let mut at_limit = example_request(path, &body, &format!("at-{name}"));
            let longest = if name == "UserId" {
                format!("{:x<max$}", "at-limit-")
            } else {
                "x".repeat(max)
            };
            at_limit.insert(name.clone(), Value::String(longest));
            let reply = app.call(path, Value::Object(at_limit)).await;
            assert_ne!(
                reply["Code"], 10001,
                "{path}: {name} of {max} bytes is refused: {reply}"
            );

            let mut over = example_request(path, &body, &format!("over-{name}"));
            over.insert(name.clone(), Value::String("x".repeat(max + 1)));
            let reply = app.call(path, Value::Object(over)).await;
            assert_eq!(
                reply["Code"],
                10001,
                "{path}: {name} of {} bytes is accepted: {reply}",
                max + 1
            );
        }
    }
}

#[tokio::test]
async fn the_documented_codes_are_the_services_codes() {
    let app = TestApp::spawn().await;
    let document = document(&app).await;
    let description = document["info"]["description"].as_str().unwrap();
    for code in [0, 10000, 10001, 10002, 10100, 10101, 10200, 10201, 10202] {
        assert!(
            description.contains(&format!("| {code} |")),
            "code {code} is not documented"
        );
    }
}
