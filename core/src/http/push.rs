//! The UDP push packet for v1 subscribers.

use super::json::{write_json, write_service_info};
use crate::ServiceView;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;
use std::io::Write;

/// Packets of at least this many bytes are gzip-compressed, as Nacos does; the client detects
/// gzip by its magic bytes.
const GZIP_THRESHOLD: usize = 1024;

/// The UDP push packet for a v1 subscriber:
/// `{"type":"dom","data":"<ServiceInfo JSON as a string>","lastRefTime":ack}`.
///
/// `data` is the `ServiceInfo` of the list answer with `lastRefTime = epoch_ms`, serialized to a
/// JSON string (the client parses it a second time). `ack` is echoed by the client's
/// `push-ack`. The packet is gzip-compressed when its UTF-8 JSON is 1024 bytes or more.
pub fn render_udp_push(view: &ServiceView, ack: u64, epoch_ms: u64) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Push<'a> {
        r#type: &'static str,
        data: &'a str,
        last_ref_time: u64,
    }
    let mut inner = Vec::with_capacity(256 + 512 * view.hosts.len());
    write_service_info(&mut inner, view, epoch_ms);
    // serde_json writes UTF-8 only.
    let data = String::from_utf8(inner).unwrap_or_default();
    let mut packet = Vec::with_capacity(data.len() + data.len() / 4 + 64);
    write_json(
        &mut packet,
        &Push {
            r#type: "dom",
            data: &data,
            last_ref_time: ack,
        },
    );
    if packet.len() < GZIP_THRESHOLD {
        return packet;
    }
    let mut gz = GzEncoder::new(Vec::with_capacity(packet.len() / 3), Compression::default());
    // Compressing into a Vec cannot fail; should it anyway, the plain packet is still valid.
    match gz.write_all(&packet).and_then(|()| gz.finish()) {
        Ok(compressed) => compressed,
        Err(_) => packet,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::fixtures::{example_host, host, view};
    use crate::http::render_reply;
    use crate::Reply;
    use flate2::read::GzDecoder;
    use serde_json::Value;
    use std::io::Read;

    fn is_gzip(packet: &[u8]) -> bool {
        packet.starts_with(&[0x1f, 0x8b])
    }

    /// The packet's JSON text, decompressed when gzipped.
    fn plain(packet: &[u8]) -> String {
        if !is_gzip(packet) {
            return String::from_utf8(packet.to_vec()).unwrap();
        }
        let mut text = String::new();
        GzDecoder::new(packet).read_to_string(&mut text).unwrap();
        text
    }

    /// The body of the list answer for `view` at `epoch_ms`.
    fn list_body(view: &ServiceView, epoch_ms: u64) -> Value {
        let mut out = Vec::new();
        render_reply(
            &Reply::Service(std::sync::Arc::new(view.clone())),
            true,
            epoch_ms,
            &mut out,
        );
        let at = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        serde_json::from_slice(&out[at..]).unwrap()
    }

    #[test]
    fn data_is_a_json_string_holding_the_list_service_info() {
        let v = view(vec![example_host()]);
        let packet = render_udp_push(&v, 77, 1_700_000_000_123);
        assert!(!is_gzip(&packet), "a one-host packet is small");
        let outer: Value = serde_json::from_slice(&packet).unwrap();
        assert_eq!(outer["type"], "dom");
        assert_eq!(outer["lastRefTime"], 77);
        let data = outer["data"]
            .as_str()
            .expect("data must be a string, not an object");
        let inner: Value = serde_json::from_str(data).unwrap();
        assert_eq!(inner, list_body(&v, 1_700_000_000_123));
        assert_eq!(inner["name"], "DEFAULT_GROUP@@svc");
        assert_eq!(inner["lastRefTime"], 1_700_000_000_123u64);
        let keys: Vec<&str> = outer
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 3, "{keys:?}");
    }

    #[test]
    fn large_packets_are_gzip_and_decompress_to_the_json() {
        let hosts = (0..20)
            .map(|i| host(&format!("10.0.0.{i}"), 8080, 1.0, &[("zone", "z a")]))
            .collect();
        let v = view(hosts);
        let packet = render_udp_push(&v, 5, 9);
        assert!(is_gzip(&packet));
        let text = plain(&packet);
        assert!(text.len() >= GZIP_THRESHOLD);
        assert!(packet.len() < text.len());
        let outer: Value = serde_json::from_str(&text).unwrap();
        let inner: Value = serde_json::from_str(outer["data"].as_str().unwrap()).unwrap();
        assert_eq!(inner, list_body(&v, 9));
    }

    #[test]
    fn gzip_exactly_from_1024_bytes() {
        let (mut saw_1023, mut saw_1024) = (false, false);
        for len in 0..1024 {
            let value = "x".repeat(len);
            let packet = render_udp_push(
                &view(vec![host("10.0.0.1", 1, 1.0, &[("pad", &value)])]),
                1,
                1,
            );
            let text_len = plain(&packet).len();
            assert_eq!(
                is_gzip(&packet),
                text_len >= GZIP_THRESHOLD,
                "plain length {text_len}"
            );
            saw_1023 |= text_len == GZIP_THRESHOLD - 1;
            saw_1024 |= text_len == GZIP_THRESHOLD;
        }
        assert!(
            saw_1023 && saw_1024,
            "both sides of the threshold were tried"
        );
    }

    #[test]
    fn an_empty_view_is_still_a_valid_push() {
        let packet = render_udp_push(&view(vec![]), 3, 4);
        let outer: Value = serde_json::from_slice(&packet).unwrap();
        let inner: Value = serde_json::from_str(outer["data"].as_str().unwrap()).unwrap();
        assert_eq!(inner["hosts"], Value::Array(vec![]));
    }
}
