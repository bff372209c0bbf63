//! A v1 UDP push subscriber, as the Nacos JS client is one: it receives `dom` packets (gzipped
//! when they start with `1f 8b`) and acknowledges them from the same socket.

use flate2::read::GzDecoder;
use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// One received push packet.
#[derive(Clone, Debug)]
pub struct UdpPush {
    /// Where it came from (acks go back there).
    pub from: SocketAddr,
    /// Whether the packet was gzip-compressed.
    pub gzipped: bool,
    /// The packet's `type` (`dom` for a service change).
    pub kind: String,
    /// The packet's `lastRefTime`, echoed in the ack.
    pub last_ref_time: u64,
    /// `data`: the ServiceInfo JSON, parsed (it travels as a JSON string).
    pub data: serde_json::Value,
}

impl UdpPush {
    /// `ip:port` of every host in the pushed view.
    pub fn hosts(&self) -> Vec<String> {
        self.data["hosts"]
            .as_array()
            .map(|hosts| {
                hosts
                    .iter()
                    .map(|h| format!("{}:{}", h["ip"].as_str().unwrap_or("?"), h["port"]))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A UDP socket on loopback that subscribers list with `udpPort=<port>`.
pub struct UdpSubscriber {
    socket: UdpSocket,
}

impl UdpSubscriber {
    /// Binds `127.0.0.1:0`.
    pub fn bind() -> UdpSubscriber {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
        UdpSubscriber { socket }
    }

    /// The local port, for `udpPort`.
    pub fn port(&self) -> u16 {
        self.socket.local_addr().expect("local addr").port()
    }

    /// The next push packet within `timeout`; panics on a packet that is not a valid push
    /// (not gzip or JSON, no string `data`): a real client would drop it and never ack.
    pub fn recv(&self, timeout: Duration) -> Option<UdpPush> {
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .expect("set timeout");
        let mut buf = vec![0u8; 65_536];
        let (n, from) = self.socket.recv_from(&mut buf).ok()?;
        let raw = &buf[..n];
        let gzipped = raw.starts_with(&[0x1f, 0x8b]);
        let text = if gzipped {
            let mut s = String::new();
            GzDecoder::new(raw)
                .read_to_string(&mut s)
                .unwrap_or_else(|e| panic!("bad gzip push from {from}: {e}"));
            s
        } else {
            String::from_utf8(raw.to_vec())
                .unwrap_or_else(|e| panic!("push from {from} is not UTF-8: {e}"))
        };
        let packet: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("push from {from} is not JSON ({e}): {text}"));
        let data = packet["data"]
            .as_str()
            .unwrap_or_else(|| panic!("push `data` must be a JSON string: {text}"));
        let data = serde_json::from_str(data)
            .unwrap_or_else(|e| panic!("push `data` is not JSON ({e}): {text}"));
        Some(UdpPush {
            from,
            gzipped,
            kind: packet["type"].as_str().unwrap_or_default().to_string(),
            last_ref_time: packet["lastRefTime"]
                .as_u64()
                .unwrap_or_else(|| panic!("push without an integer lastRefTime: {text}")),
            data,
        })
    }

    /// Sends `{"type":"push-ack","lastRefTime":N,"data":""}` back to the push's source.
    pub fn ack(&self, push: &UdpPush) {
        let ack = format!(
            "{{\"type\":\"push-ack\",\"lastRefTime\":{},\"data\":\"\"}}",
            push.last_ref_time
        );
        self.socket
            .send_to(ack.as_bytes(), push.from)
            .expect("send an ack");
    }

    /// The socket, to send other datagrams from it.
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }
}
