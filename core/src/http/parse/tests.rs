use super::*;

fn limits() -> Limits {
    Limits::default()
}

fn parse_all(bytes: &[u8]) -> HttpRequest {
    let (req, used) = parse_request(bytes, &limits())
        .expect("valid")
        .expect("complete");
    assert_eq!(used, bytes.len());
    req
}

fn parse_err(bytes: &[u8], limits: &Limits) -> ApiError {
    parse_request(bytes, limits).expect_err("must be rejected")
}

/// Feeds `chunks` in order like a runtime does: append, then take every complete request.
fn feed(chunks: &[&[u8]]) -> Vec<HttpRequest> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some((req, used)) = parse_request(&buf, &limits()).unwrap() {
            out.push(req);
            buf.drain(..used);
        }
    }
    assert!(
        buf.is_empty(),
        "bytes left over: {:?}",
        String::from_utf8_lossy(&buf)
    );
    out
}

const PIPELINE: &[u8] = b"GET /nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40svc&clusters= HTTP/1.1\r\n\
Host: x\r\nConnection: Keep-Alive\r\n\r\n\
PUT /nacos/v1/ns/instance/beat?serviceName=svc HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
Content-Length: 13\r\n\r\nip=1.2.3.4&p=\
POST /nacos/v1/ns/instance?ip=1.2.3.4&port=1&serviceName=a HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

#[test]
fn pipelined_requests_split_at_every_byte_boundary_parse_the_same() {
    let whole = feed(&[PIPELINE]);
    assert_eq!(whole.len(), 3);
    assert_eq!(whole[0].method, Method::Get);
    assert_eq!(whole[1].params.get("ip"), Some("1.2.3.4"));
    assert_eq!(whole[1].params.get("p"), Some(""));
    assert!(!whole[2].keep_alive);
    for split in 0..=PIPELINE.len() {
        let (a, b) = PIPELINE.split_at(split);
        assert_eq!(feed(&[a, b]), whole, "split at {split}");
    }
    let bytes: Vec<&[u8]> = PIPELINE.chunks(1).collect();
    assert_eq!(feed(&bytes), whole, "one byte at a time");
}

#[test]
fn incomplete_head_or_body_needs_more_bytes() {
    assert_eq!(
        parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n", &limits()),
        Ok(None)
    );
    assert_eq!(parse_request(b"", &limits()), Ok(None));
    let partial_body = b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab";
    assert_eq!(parse_request(partial_body, &limits()), Ok(None));
}

#[test]
fn python_style_query_decodes_plus_as_space_and_percent_escapes() {
    let req = parse_all(
        b"GET /nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40py-check-1&healthyOnly=False\
&metadata=%7B%22zone%22%3A+%22z+a%22%2C+%22note%22%3A+%22x%3Dy%2C%26%2B%25%22%7D HTTP/1.1\r\n\
User-Agent: Nacos-Python-Client:v0.1.16\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(req.method, Method::Get);
    assert_eq!(req.path, "/nacos/v1/ns/instance/list");
    assert_eq!(
        req.params.get("serviceName"),
        Some("DEFAULT_GROUP@@py-check-1")
    );
    assert_eq!(req.params.get("healthyOnly"), Some("False"));
    assert_eq!(
        req.params.get("metadata"),
        Some(r#"{"zone": "z a", "note": "x=y,&+%"}"#)
    );
    assert_eq!(
        req.user_agent.as_deref(),
        Some("Nacos-Python-Client:v0.1.16")
    );
    assert!(!req.keep_alive);
}

#[test]
fn js_style_query_decodes_percent_20_and_keeps_the_grouped_name() {
    let req = parse_all(
        b"POST /nacos/v1/ns/instance?namespaceId=public&serviceName=DEFAULT_GROUP%40%40js-check-1&enable=true\
&metadata=%7B%22zone%22%3A%22z%20a%22%7D HTTP/1.1\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(req.method, Method::Post);
    assert_eq!(
        req.params.get("serviceName"),
        Some("DEFAULT_GROUP@@js-check-1")
    );
    assert_eq!(req.params.get("enable"), Some("true"));
    assert_eq!(req.params.get("metadata"), Some(r#"{"zone":"z a"}"#));
    assert!(req.keep_alive);
    assert_eq!(req.user_agent, None);
}

#[test]
fn form_body_params_follow_query_params_and_the_query_wins() {
    let body = "serviceName=from-body&beat=%7B%22ip%22%3A%221.2.3.4%22%7D";
    let raw = format!(
        "PUT /nacos/v1/ns/instance/beat?serviceName=from-query HTTP/1.1\r\n\
Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let req = parse_all(raw.as_bytes());
    assert_eq!(req.params.get("serviceName"), Some("from-query"));
    assert_eq!(req.params.get("beat"), Some(r#"{"ip":"1.2.3.4"}"#));
    let all: Vec<_> = req.params.iter().collect();
    assert_eq!(
        all,
        [
            ("serviceName", "from-query"),
            ("serviceName", "from-body"),
            ("beat", r#"{"ip":"1.2.3.4"}"#)
        ]
    );
}

#[test]
fn a_body_of_another_type_is_consumed_but_not_read_as_params() {
    let req = parse_all(b"POST /x?a=1 HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"b\":2}");
    assert_eq!(req.params.len(), 1);
    assert_eq!(req.params.get("b"), None);
}

#[test]
fn the_path_is_decoded_and_stripped_of_query_and_fragment() {
    assert_eq!(
        parse_all(b"GET /a%20b/c+d?x=1#frag HTTP/1.1\r\n\r\n").path,
        "/a b/c+d"
    );
    let abs = parse_all(b"GET http://127.0.0.1:8848/nacos/v1/ns/instance?ip=1 HTTP/1.1\r\n\r\n");
    assert_eq!(
        (abs.path.as_str(), abs.params.get("ip")),
        ("/nacos/v1/ns/instance", Some("1"))
    );
    let bare = parse_all(b"GET http://127.0.0.1:8848?ip=1 HTTP/1.1\r\n\r\n");
    assert_eq!(
        (bare.path.as_str(), bare.params.get("ip")),
        ("/", Some("1"))
    );
}

#[test]
fn param_without_value_is_empty_and_malformed_escapes_are_kept() {
    let req = parse_all(b"GET /x?flag&a=%zz&b=100%&&c=%41 HTTP/1.1\r\n\r\n");
    let all: Vec<_> = req.params.iter().collect();
    assert_eq!(all, [("flag", ""), ("a", "%zz"), ("b", "100%"), ("c", "A")]);
}

#[test]
fn invalid_utf8_in_params_is_400() {
    let e = parse_err(b"GET /x?a=%ff%fe HTTP/1.1\r\n\r\n", &limits());
    assert_eq!(e.status, 400);
}

#[test]
fn http10_closes_unless_keep_alive_and_http11_keeps_alive_unless_close() {
    let ka = |raw: &[u8]| parse_all(raw).keep_alive;
    assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.1\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.1\r\nConnection: Upgrade, Close\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"));
}

#[test]
fn methods_are_recognised() {
    let m = |raw: &[u8]| parse_all(raw).method;
    assert_eq!(m(b"DELETE / HTTP/1.1\r\n\r\n"), Method::Delete);
    assert_eq!(m(b"PATCH / HTTP/1.1\r\n\r\n"), Method::Patch);
    assert_eq!(m(b"HEAD / HTTP/1.1\r\n\r\n"), Method::Head);
    assert_eq!(m(b"OPTIONS * HTTP/1.1\r\n\r\n"), Method::Other);
}

#[test]
fn oversized_head_is_431_complete_or_not() {
    let small = Limits {
        max_http_head: 64,
        ..Limits::default()
    };
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(100));
    assert_eq!(parse_err(long.as_bytes(), &small).status, 431);
    // Still incomplete, but already past the limit: no point waiting for the rest.
    assert_eq!(parse_err(&long.as_bytes()[..80], &small).status, 431);
    assert_eq!(parse_request(&long.as_bytes()[..60], &small), Ok(None));
    let many: String = (0..70).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(
        parse_err(
            format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes(),
            &limits()
        )
        .status,
        431
    );
}

#[test]
fn oversized_body_is_413_before_the_body_arrives() {
    let small = Limits {
        max_http_body: 10,
        ..Limits::default()
    };
    let e = parse_err(b"POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n", &small);
    assert_eq!(e.status, 413);
    let huge = parse_err(
        b"POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        &small,
    );
    assert_eq!(huge.status, 413);
    assert!(parse_request(
        b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789",
        &small
    )
    .unwrap()
    .is_some());
}

#[test]
fn bad_request_line_is_400() {
    assert_eq!(
        parse_err(b"GET\x01/ HTTP/1.1\r\n\r\n", &limits()).status,
        400
    );
    assert_eq!(parse_err(b"GET / HTTP/9.9\r\n\r\n", &limits()).status, 400);
    assert_eq!(
        parse_err(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", &limits()).status,
        400
    );
}

#[test]
fn chunked_bodies_are_400() {
    let e = parse_err(
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        &limits(),
    );
    assert_eq!(
        (e.status, e.message.as_str()),
        (400, "chunked request bodies are not supported")
    );
    let e = parse_err(
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
        &limits(),
    );
    assert_eq!(e.message, "chunked request bodies are not supported");
}

#[test]
fn invalid_or_conflicting_content_length_is_400() {
    for cl in ["abc", "-1", "1 2", "+5", ""] {
        let raw = format!("POST /x HTTP/1.1\r\nContent-Length: {cl}\r\n\r\n");
        assert_eq!(
            parse_err(raw.as_bytes(), &limits()).status,
            400,
            "Content-Length: {cl:?}"
        );
    }
    let two = b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
    assert_eq!(parse_err(two, &limits()).status, 400);
    let same = b"POST /x HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab";
    assert!(parse_request(same, &limits()).unwrap().is_some());
}
