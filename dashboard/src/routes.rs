//! The HTTP routes: the two pages and the embedded assets.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::assets::{Asset, asset};

/// The fleet page, served at `/`.
const FLEET_PAGE: &str = "/assets/index.html";
/// The host page, served at `/host/{host}` for every host: its script reads the host from the url.
const HOST_PAGE: &str = "/assets/host.html";

/// The dashboard's routes, for the aggregator to merge into its HTTP router.
///
/// - `GET /` answers the fleet page and `GET /host/{host}` the host page (one HTML file for every host).
/// - `GET /assets/{path}` answers an embedded file with its `Content-Type`, or 404 when there is none.
///
/// Every answer carries `Cache-Control: no-cache` and an `ETag`, so browsers revalidate on each load and
/// get a body-less 304 when nothing changed: a new `sysmon` binary is picked up at once. `HEAD` works too.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { serve(asset(FLEET_PAGE), &headers) }))
        .route("/host/{host}", get(|headers: HeaderMap| async move { serve(asset(HOST_PAGE), &headers) }))
        .route("/assets/{*path}", get(|uri: Uri, headers: HeaderMap| async move { serve(asset(uri.path()), &headers) }))
}

/// Answers `asset`, or 404 when there is none; 304 when the request's `If-None-Match` holds its ETag.
fn serve(asset: Option<Asset>, request: &HeaderMap) -> Response {
    let Some(asset) = asset else {
        return (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-cache")], "not found\n").into_response();
    };
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == asset.etag);
    let (status, body) =
        if fresh { (StatusCode::NOT_MODIFIED, Body::empty()) } else { (StatusCode::OK, Body::from(asset.bytes)) };
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, HeaderValue::from_static(asset.etag)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    (status, headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get_with(path: &str, if_none_match: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        router().oneshot(request.body(Body::empty()).unwrap()).await.unwrap()
    }

    async fn assert_served(path: &str, content_type: &str) -> String {
        let response = get_with(path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], content_type, "{path}");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache", "{path}");
        assert!(response.headers().contains_key(header::ETAG), "{path}");
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert!(!body.is_empty(), "{path}");
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn fleet_page_at_root() {
        let html = assert_served("/", "text/html; charset=utf-8").await;
        assert!(html.contains("<title>sysmon</title>"), "{html}");
        assert!(html.contains("/assets/js/fleet.js"), "{html}");
    }

    #[tokio::test]
    async fn host_page_for_any_host() {
        let html = assert_served("/host/web-01", "text/html; charset=utf-8").await;
        assert!(html.contains("/assets/js/host.js"), "{html}");
        assert!(html.contains("/assets/vendor/uPlot.iife.min.js"), "{html}");
        assert_eq!(assert_served("/host/db.eu-west.example.com", "text/html; charset=utf-8").await, html);
    }

    #[tokio::test]
    async fn scripts_and_styles_with_their_content_types() {
        let fleet = assert_served("/assets/js/fleet.js", "text/javascript; charset=utf-8").await;
        assert!(fleet.contains("./api.js"), "the fleet page reads the API through api.js");
        let api = assert_served("/assets/js/api.js", "text/javascript; charset=utf-8").await;
        assert!(api.contains("/api/hosts"), "{api}");
        assert_served("/assets/js/host.js", "text/javascript; charset=utf-8").await;
        assert_served("/assets/style.css", "text/css; charset=utf-8").await;
        assert_served("/assets/favicon.svg", "image/svg+xml").await;
    }

    #[tokio::test]
    async fn uplot_under_vendor() {
        let script = assert_served("/assets/vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8").await;
        assert!(script.contains("uPlot"));
        assert_served("/assets/vendor/uPlot.min.css", "text/css; charset=utf-8").await;
    }

    #[tokio::test]
    async fn missing_assets_are_404() {
        for path in
            ["/assets/missing.js", "/assets/", "/assets/package.json", "/assets/node_modules/uplot/package.json"]
        {
            assert_eq!(get_with(path, None).await.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[tokio::test]
    async fn matching_etag_is_304_without_body() {
        let etag = asset("/assets/style.css").unwrap().etag;
        for tag in [etag.to_owned(), format!("W/{etag}"), format!("\"other\", {etag}"), "*".to_owned()] {
            let response = get_with("/assets/style.css", Some(&tag)).await;
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{tag}");
            assert!(to_bytes(response.into_body(), usize::MAX).await.unwrap().is_empty());
        }
        assert_eq!(get_with("/assets/style.css", Some("\"stale\"")).await.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn head_answers_headers() {
        let request = Request::head("/assets/style.css").body(Body::empty()).unwrap();
        let response = router().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
    }
}
