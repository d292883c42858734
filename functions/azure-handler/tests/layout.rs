//! The Function App folder (`app/`) and the handler agree: `host.json` runs this binary as a
//! custom handler without request forwarding, with an extension bundle; every function the
//! handler serves has a `function.json` with its trigger and the binding names the handler reads,
//! and there is no folder the handler does not serve.

use std::path::PathBuf;

use costkit_azure_handler::{
    FUNCTIONS, HTTP_BINDING, HTTP_OUTPUT, LINK_FUNCTION, QUEUE_BINDING, TIMER_BINDING,
};
use serde_json::Value;

fn app_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("app")
}

fn json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn host_json_runs_the_handler_binary() {
    let host = json(app_dir().join("host.json"));
    assert_eq!(host["version"], "2.0");
    assert_eq!(
        host["customHandler"]["description"]["defaultExecutablePath"], "handler",
        "the [[bin]] name in Cargo.toml"
    );
    assert_eq!(host["customHandler"]["enableForwardingHttpRequest"], false);
    assert_eq!(
        host["extensionBundle"]["id"],
        "Microsoft.Azure.Functions.ExtensionBundle"
    );
    assert_eq!(
        host["extensions"]["queues"]["messageEncoding"], "base64",
        "what the Queue port sends"
    );
    let cargo =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("Cargo.toml");
    assert!(
        cargo.contains("name = \"handler\""),
        "the binary is named handler"
    );
}

#[test]
fn every_function_has_its_trigger_and_binding_names() {
    for (name, trigger) in FUNCTIONS {
        let f = json(app_dir().join(name).join("function.json"));
        let bindings = f["bindings"].as_array().expect("bindings");
        let input = bindings
            .iter()
            .find(|b| b["direction"] == "in")
            .unwrap_or_else(|| panic!("{name}: no input binding"));
        assert_eq!(input["type"], *trigger, "{name}");
        let expected = match *trigger {
            "queueTrigger" => QUEUE_BINDING,
            "timerTrigger" => TIMER_BINDING,
            _ => HTTP_BINDING,
        };
        assert_eq!(
            input["name"], expected,
            "{name}: binding name read by the handler"
        );
        match *trigger {
            "queueTrigger" => {
                let q = input["queueName"].as_str().expect("queueName");
                assert!(
                    q.starts_with("%COSTKIT_") && q.ends_with("_QUEUE%"),
                    "{name}: {q} comes from an app setting"
                );
                assert_eq!(input["connection"], "AzureWebJobsStorage");
            }
            "timerTrigger" => {
                let s = input["schedule"].as_str().expect("schedule");
                assert!(
                    s.starts_with('%') && s.ends_with('%'),
                    "{name}: schedule from an app setting"
                );
            }
            _ => {
                assert!(bindings.iter().any(|b| b["type"] == "http"
                    && b["direction"] == "out"
                    && b["name"] == HTTP_OUTPUT));
                if *name == LINK_FUNCTION {
                    // No function key (a link in an email cannot carry one): the handler serves
                    // signed links only on it (tests/scheduled_report.rs checks 401 unsigned).
                    assert_eq!(input["authLevel"], "anonymous", "{name}");
                    assert_eq!(input["route"], "link/reports/{file}", "{name}");
                } else {
                    assert_ne!(
                        input["authLevel"], "anonymous",
                        "{name}: not open to the internet"
                    );
                }
            }
        }
    }
    let mut folders: Vec<String> = std::fs::read_dir(app_dir())
        .expect("app dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    folders.sort();
    let mut served: Vec<String> = FUNCTIONS.iter().map(|(n, _)| n.to_string()).collect();
    served.sort();
    assert_eq!(folders, served, "a folder per function, no more");
}
