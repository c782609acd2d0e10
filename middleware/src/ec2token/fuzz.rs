//! The body of the `ec2_request` fuzz target (`middleware/fuzz`), here so
//! that the committed seed corpus also runs as an ordinary test on stable
//! Rust (`middleware/tests/fuzz_corpus.rs`).
//!
//! It runs the EC2 request parsers (query strings and form bodies by
//! webob's rules, paths, multipart bodies, the `Authorization` header and the
//! SigV4 canonicaliser) on arbitrary bytes. Nothing may panic, and a request that
//! verifies must verify with the signature `sign` computes.
//!
//! Input layout: byte 0 picks the method, the rest is split on 0xFF into
//! query, Authorization, Content-Type, X-Amz-Date, body.
//!
//! Every signed request also goes through `check_freshness`, at the current
//! time and at the edges of the calendar (year 9999, year 0, -9999), under the
//! default rules, a century, and the extremes a configuration can give (0 and
//! `Duration::MAX`): a client's time stamp or clock near a limit once
//! overflowed the sums there. Seeds: `corpus/ec2_request/` (from `seeds.py`);
//! a campaign: `scripts/fuzz`. With `HEATGATE_FUZZ_TRACE` set, each input
//! prints how far it got and the freshness outcomes (for checking seeds).

use super::request::{parse_multipart, parse_params, read_request, requote_path, Head, Reading};
use super::signature::{check_freshness, parse_isotime, prepare, sign, verify, Freshness};
use std::sync::OnceLock;

use time::{Date, Duration, OffsetDateTime, Time};

/// The clocks `check_freshness` is asked at: now, and the edges.
fn clocks() -> [OffsetDateTime; 7] {
    let at = |unix: i64| OffsetDateTime::from_unix_timestamp(unix).expect("in range");
    [
        OffsetDateTime::now_utc(),
        OffsetDateTime::UNIX_EPOCH,
        // 9999-12-31T23:59:59Z and the last representable instant.
        at(253_402_300_799),
        Date::MAX.with_time(Time::MAX).assume_utc(),
        // 0000-01-01T00:00:00Z and the first representable instant.
        at(-62_167_219_200),
        Date::MIN.midnight().assume_utc(),
        // Just before year 10000 by the default skew.
        at(253_402_300_799 - 15 * 60),
    ]
}

/// The rules: the default, and what `Ec2TokenConfig::freshness` gives for
/// `max_age`/`max_clock_skew` of 0, of a century (so that most stamps are
/// fresh and the accepting path runs too) and of `u64::MAX` seconds
/// (saturated to `Duration::MAX`), with `max_expires` at the default and at
/// the extremes.
fn rules() -> [Freshness; 5] {
    let zero = Duration::ZERO;
    let century = Duration::days(36_525);
    let max = Duration::MAX;
    [
        Freshness::default(),
        Freshness {
            max_age: century,
            max_skew: century,
            max_expires: max,
        },
        Freshness {
            max_age: zero,
            max_skew: zero,
            max_expires: zero,
        },
        Freshness {
            max_age: max,
            max_skew: max,
            ..Freshness::default()
        },
        Freshness {
            max_age: max,
            max_skew: max,
            max_expires: max,
        },
    ]
}

fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("HEATGATE_FUZZ_TRACE").is_some())
}

/// Runs the checks on one input (see the module docs). Panics on a bug.
pub fn ec2_request(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut fields = rest.split(|&b| b == 0xFF);
    let query = fields.next().unwrap_or(b"");
    let authorization = fields.next().unwrap_or(b"");
    let content_type = fields.next().unwrap_or(b"");
    let amz_date = fields.next().unwrap_or(b"");
    let body = fields.next().unwrap_or(b"");

    // The pure parsers on raw bytes.
    let _ = parse_params(query);
    let _ = parse_params(body);
    let _ = parse_multipart(content_type, body);
    if let Ok(s) = std::str::from_utf8(query) {
        let _ = requote_path(s);
        let _ = parse_isotime(s);
    }

    // A whole request.
    let method = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"][usize::from(first % 6)];
    let uri = format!("/v1/?{}", String::from_utf8_lossy(query));
    let mut builder = http::Request::builder()
        .method(method)
        .header("host", "heat.example.com:8000");
    builder = match uri.parse::<http::Uri>() {
        Ok(u) => builder.uri(u),
        Err(_) => builder.uri("/v1/"),
    };
    for (name, value) in [
        ("authorization", authorization),
        ("content-type", content_type),
        ("x-amz-date", amz_date),
    ] {
        if let Ok(v) = http::HeaderValue::from_bytes(value) {
            if !value.is_empty() {
                builder = builder.header(name, v);
            }
        }
    }
    let Ok(request) = builder.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
    let Ok(head) = Head::read(&parts) else { return };
    let _ = head.has_signature();
    let reading = read_request(&parts, &head, body);
    if trace() {
        match &reading {
            Ok(Reading::Signed(s)) => eprintln!(
                "signed: {method} params {:?} headers {:?}",
                s.credentials.params, s.credentials.headers
            ),
            Ok(Reading::NoSignature) => eprintln!("not signed: no signature"),
            Ok(Reading::NoAccessKey) => eprintln!("not signed: no access key"),
            Err(e) => eprintln!("not signed: {e:?}"),
        }
    }
    let Ok(Reading::Signed(signed)) = reading else {
        return;
    };
    let creds = signed.credentials;
    let _ = check_freshness(&creds, OffsetDateTime::UNIX_EPOCH, &Freshness::default());
    for rules in &rules() {
        for now in clocks() {
            let outcome = check_freshness(&creds, now, rules);
            if trace() {
                eprintln!("freshness at {now} ({rules:?}): {outcome:?}");
            }
        }
    }
    if prepare(&creds).is_err() {
        assert!(verify(&creds, b"secret").is_err());
        return;
    }
    let computed = sign(&creds, b"secret").expect("prepared");
    let mut good = creds.clone();
    good.signature = computed;
    assert_eq!(verify(&good, b"secret"), Ok(true));
    let _ = verify(&creds, b"secret");
}
