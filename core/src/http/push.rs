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
