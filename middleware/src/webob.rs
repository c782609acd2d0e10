//! Error bodies in the form Python's webob renders them (`webob.exc.HTTP*`),
//! which is what Heat and keystonemiddleware answer for their errors: JSON,
//! HTML or plain text depending on the request's `Accept` header.

use axum::body::Body;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};

/// The representation webob chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `text/html; charset=UTF-8`
    Html,
    /// `application/json`
    Json,
    /// `text/plain; charset=UTF-8`
    Plain,
}

/// Chooses like webob: the best of `text/html` and `application/json` by
/// q-value (ties: html first), else plain text.
///
/// ```
/// use heatgate_middleware::webob::{negotiate, Flavor};
/// assert_eq!(negotiate(Some("application/json")), Flavor::Json);
/// assert_eq!(negotiate(Some("*/*")), Flavor::Html);
/// assert_eq!(negotiate(None), Flavor::Plain);
/// ```
pub fn negotiate(accept: Option<&str>) -> Flavor {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Flavor::Plain;
    };
    let ranges: Vec<(&str, &str, f32)> = accept
        .split(',')
        .filter_map(|part| {
            let mut params = part.split(';');
            let range = params.next()?.trim();
            let (t, s) = range.split_once('/')?;
            let mut q = 1.0f32;
            for p in params {
                if let Some((k, v)) = p.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = v.trim().parse().ok()?;
                    }
                }
            }
            Some((t.trim(), s.trim(), q))
        })
        .collect();
    let quality = |ty: &str, sub: &str| -> f32 {
        // The most specific matching range decides.
        let mut best: Option<(u8, f32)> = None;
        for &(t, s, q) in &ranges {
            let specificity = if t.eq_ignore_ascii_case(ty) && s.eq_ignore_ascii_case(sub) {
                3
            } else if t.eq_ignore_ascii_case(ty) && s == "*" {
                2
            } else if t == "*" && s == "*" {
                1
            } else {
                continue;
            };
            if best.is_none_or(|(b, _)| specificity > b) {
                best = Some((specificity, q));
            }
        }
        best.map_or(0.0, |(_, q)| q)
    };
    let html = quality("text", "html");
    let json = quality("application", "json");
    if html > 0.0 && html >= json {
        Flavor::Html
    } else if json > 0.0 {
        Flavor::Json
    } else {
        Flavor::Plain
    }
}

fn json_escape(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

/// Renders `webob.exc.HTTP<status>(detail)` for the request headers.
pub fn error_response(
    status: StatusCode,
    explanation: &str,
    detail: &str,
    request_headers: &HeaderMap,
) -> Response<Body> {
    let accept = request_headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let code = status.as_u16();
    let title = status.canonical_reason().unwrap_or("Error");
    let (body, content_type) = match negotiate(accept) {
        Flavor::Json => (
            format!(
                "{{\"message\": {}, \"code\": \"{code} {title}\", \"title\": \"{title}\"}}",
                json_escape(&format!("{explanation}<br /><br />\n{detail}\n\n"))
            ),
            "application/json",
        ),
        Flavor::Html => (
            format!(
                "<html>\n <head>\n  <title>{code} {title}</title>\n </head>\n <body>\n  <h1>{code} {title}</h1>\n  {explanation}<br /><br />\n{}\n\n\n </body>\n</html>",
                html_escape(detail)
            ),
            "text/html; charset=UTF-8",
        ),
        Flavor::Plain => (
            format!("{code} {title}\n\n{explanation}\n\n {detail}  "),
            "text/plain; charset=UTF-8",
        ),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn render(accept: Option<&str>) -> (String, String) {
        let mut headers = HeaderMap::new();
        if let Some(a) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_str(a).unwrap());
        }
        let r = error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is currently unavailable. Please try again at a later time.",
            "The Keystone service is temporarily unavailable.",
            &headers,
        );
        let ct = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let body = r.into_body().collect().await.unwrap().to_bytes();
        (ct, String::from_utf8(body.to_vec()).unwrap())
    }

    /// Rendered by webob 1.8.9 itself.
    #[tokio::test]
    async fn matches_webob_byte_for_byte() {
        assert_eq!(
            render(Some("application/json")).await.1,
            "{\"message\": \"The server is currently unavailable. Please try again at a later time.<br /><br />\\nThe Keystone service is temporarily unavailable.\\n\\n\", \"code\": \"503 Service Unavailable\", \"title\": \"Service Unavailable\"}"
        );
        assert_eq!(
            render(Some("text/plain")).await.1,
            "503 Service Unavailable\n\nThe server is currently unavailable. Please try again at a later time.\n\n The Keystone service is temporarily unavailable.  "
        );
        let (ct, html) = render(Some("*/*")).await;
        assert_eq!(ct, "text/html; charset=UTF-8");
        assert!(html.starts_with(
            "<html>\n <head>\n  <title>503 Service Unavailable</title>\n </head>\n <body>\n  <h1>5"
        ));
    }

    #[test]
    fn negotiation_matches_webob() {
        let cases = [
            ("text/plain", Flavor::Plain),
            ("*/*", Flavor::Html),
            ("application/json;q=0.5, text/html;q=0.4", Flavor::Json),
            ("application/*", Flavor::Json),
            ("text/*", Flavor::Html),
            ("image/png", Flavor::Plain),
            ("application/json, text/html", Flavor::Html),
            ("text/html;q=0, */*", Flavor::Json),
        ];
        for (accept, want) in cases {
            assert_eq!(negotiate(Some(accept)), want, "{accept}");
        }
    }
}
