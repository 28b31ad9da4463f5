//! The dashboard's pages and assets load, and the host API behind them answers.

mod util;

use std::time::Duration;

use util::{Fleet, http_get, http_head, wait_until};

fn asset_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let url = &rest[..rest.find('"').unwrap()];
            if url.starts_with('/') {
                urls.push(url.to_string());
            }
        }
    }
    urls
}

/// The modules a script imports by relative path (`import ... from "./x.js"`), as asset urls.
fn imported_modules(script_url: &str, script: &str) -> Vec<String> {
    let dir = &script_url[..script_url.rfind('/').unwrap() + 1];
    script
        .lines()
        .filter(|l| l.starts_with("import "))
        .filter_map(|l| l.split(" from \"./").nth(1).or_else(|| l.strip_prefix("import \"./")))
        .map(|rest| format!("{dir}{}", &rest[..rest.find('"').unwrap()]))
        .collect()
}

#[test]
fn pages_assets_and_host_api_answer() {
    let fleet = Fleet::new();
    let aggregator = fleet.start_aggregator("aggregator");
    fleet.issue_agent("web-01");
    let _agent = fleet.start_agent("web-01", "web-01", aggregator.grpc, "1s");
    let base = aggregator.url();

    for page in ["/", "/host/web-01"] {
        let (status, html) = http_get(&format!("{base}{page}")).unwrap();
        assert_eq!(status, 200, "{page}");
        let (_, headers) = http_head(&format!("{base}{page}")).unwrap();
        assert!(headers.iter().any(|(k, v)| k == "content-type" && v.starts_with("text/html")), "{page}: {headers:?}");
        let assets = asset_urls(&html);
        assert!(assets.iter().any(|a| a.ends_with(".js")), "{page} loads no script: {html}");
        // Every asset answers, and so does every module a script imports (the fleet page's
        // status.js and regions.js, say): a module left out of the binary breaks its page.
        let mut pending = assets;
        let mut seen = std::collections::BTreeSet::new();
        while let Some(asset) = pending.pop() {
            if !seen.insert(asset.clone()) {
                continue;
            }
            let (status, body) = http_get(&format!("{base}{asset}")).unwrap();
            assert_eq!(status, 200, "{asset}");
            assert!(!body.is_empty(), "{asset} is empty");
            if asset.ends_with(".js") && !asset.contains("/vendor/") {
                pending.extend(imported_modules(&asset, &body));
            }
        }
        if page == "/" {
            for module in ["/assets/js/fleet.js", "/assets/js/status.js", "/assets/js/regions.js"] {
                assert!(seen.contains(module), "{page} does not load {module}: {seen:?}");
            }
        }
    }
    // uPlot, the chart library, is served from the embedded npm dependency.
    let (status, headers) = http_head(&format!("{base}/assets/vendor/uPlot.iife.min.js")).unwrap();
    assert_eq!(status, 200);
    assert!(headers.iter().any(|(k, v)| k == "content-type" && v.contains("javascript")), "{headers:?}");
    assert_eq!(http_get(&format!("{base}/assets/nope.js")).unwrap().0, 404);

    wait_until(Duration::from_secs(30), "web-01 to report two collections", || {
        // 404 until the agent's Hello registers the host.
        let url = format!("{base}/api/hosts/web-01/series?metric=node_load1&start=0&end=9999999999999");
        let Ok((200, body)) = http_get(&url) else { return false };
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        body["series"][0]["points"].as_array().is_some_and(|p| p.len() >= 2)
    });
    let host = aggregator.get_json("/api/hosts/web-01");
    assert_eq!(host["summary"]["host"], "web-01");
    assert!(host["inventory"]["cpu_cores"].as_u64().unwrap() >= 1);
    let cpu = aggregator
        .get_json("/api/hosts/web-01/series?metric=node_cpu_seconds_total&start=0&end=9999999999999&step=60000");
    let series = cpu["series"].as_array().unwrap();
    assert!(series.iter().any(|s| s["labels"]["mode"] == "idle"), "{cpu}");
    assert!(series.iter().all(|s| s["labels"]["host"] == "web-01" && s["labels"]["region"] == "test"));

    let (status, body) = http_get(&format!("{base}/api/hosts/nope")).unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("no host named"), "{body}");
    let (status, body) = http_get(&format!("{base}/api/hosts/web-01/series?metric=x&start=10&end=1")).unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("start (10) is after end (1)"), "{body}");
}
