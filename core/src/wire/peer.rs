//! Messages between members.

use crate::model::{ClientId, ClientRecord, MemberId, Revision, ServiceKey, ServiceMeta};
use crate::request::{Reply, Request};
use serde::{Deserialize, Serialize};

/// Version of the peer protocol spoken by this build, sent in [`Hello`].
pub const PEER_PROTOCOL_VERSION: u16 = 2;

/// The first frame on every peer connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Cluster name; a mismatch closes the connection.
    pub cluster: String,
    /// The sending member.
    pub member: MemberId,
    /// Protocol version of the sender.
    pub version: u16,
    /// Boot epoch of the sender (a new value tells that the member restarted).
    pub epoch: u64,
    /// How many shards (members) the sender's process runs: a process of several shards
    /// announces them so that every member counts them on its ring.
    pub shards: u16,
}

/// One replicated item: a client's state, a deleted client, or a service's settings.
///
/// A client's state comes in two kinds: what its writes made it ([`Record::Client`],
/// [`Record::Deleted`]), and what its responsible member derived from not hearing its beats
/// ([`Record::Suspected`], [`Record::Expired`]). The second kind is a *suspicion*: a member
/// that heard the instance beat within its beat timeout refutes it (see the crate docs,
/// "Suspicion and refutation").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// A live client's full state.
    Client(ClientRecord),
    /// A deleted client (a tombstone) at the revision of its deletion.
    Deleted {
        /// The client.
        id: ClientId,
        /// Revision of the deletion.
        revision: Revision,
    },
    /// Service settings.
    ServiceMeta(ServiceMeta),
    /// A live client's full state, which lost publications for lack of beats (they expired
    /// on a responsible member and were not registered again since).
    Suspected {
        /// The state.
        client: ClientRecord,
        /// The services of the publications that expired.
        expired: Vec<ServiceKey>,
        /// Revision of the client's last write this state includes (the changes since were
        /// derived from missing beats): a member holding a copy at least as new knows that
        /// whatever else it holds was not deregistered.
        base: Revision,
    },
    /// A client deleted by its responsible member for lack of beats (a tombstone, like
    /// [`Record::Deleted`], that a member which heard it beat refutes).
    Expired {
        /// The client.
        id: ClientId,
        /// Revision of the deletion.
        revision: Revision,
        /// The services of its publications, every one of which expired.
        expired: Vec<ServiceKey>,
        /// Revision of the client's last write the deleted state included (see
        /// [`Record::Suspected`]).
        base: Revision,
    },
}

impl Record {
    /// The client this record is about (`None` for service settings).
    pub fn client_id(&self) -> Option<&ClientId> {
        match self {
            Record::Client(c) | Record::Suspected { client: c, .. } => Some(&c.id),
            Record::Deleted { id, .. } | Record::Expired { id, .. } => Some(id),
            Record::ServiceMeta(_) => None,
        }
    }

    /// The record's revision.
    pub fn revision(&self) -> Revision {
        match self {
            Record::Client(c) | Record::Suspected { client: c, .. } => c.revision,
            Record::Deleted { revision, .. } | Record::Expired { revision, .. } => *revision,
            Record::ServiceMeta(m) => m.revision,
        }
    }

    /// Whether the record was derived from missing beats (a suspicion that can be refuted).
    pub fn is_suspicion(&self) -> bool {
        matches!(self, Record::Suspected { .. } | Record::Expired { .. })
    }
}

/// A message from one member to another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PeerMsg {
    /// Handshake; must be the first frame.
    Hello(Hello),
    /// Member health ping.
    Ping {
        /// Echoed in the pong.
        seq: u64,
    },
    /// Answer to a ping.
    Pong {
        /// The ping's sequence number.
        seq: u64,
    },
    /// Changed or deleted clients (and service settings); acknowledged with `SyncAck`.
    Sync {
        /// Batch number, echoed in the ack.
        batch: u64,
        /// The records.
        records: Vec<Record>,
    },
    /// Acknowledges a `Sync` batch.
    SyncAck {
        /// The batch number.
        batch: u64,
    },
    /// Clients (and tombstones) the sender is responsible for, with their revisions.
    Verify {
        /// Round number, echoed in the answer.
        round: u64,
        /// `(client, revision)` pairs.
        entries: Vec<(ClientId, Revision)>,
    },
    /// Answer to `Verify`: the clients the receiver lacks or holds at another revision, with
    /// the revision it holds (`None` when it holds nothing).
    VerifyReply {
        /// The round number.
        round: u64,
        /// Mismatched clients.
        mismatched: Vec<(ClientId, Option<Revision>)>,
    },
    /// Asks for chunk `seq` of a snapshot; `seq == 0` starts a new snapshot.
    SnapshotRequest {
        /// Session chosen by the requester.
        session: u64,
        /// Chunk number.
        seq: u32,
    },
    /// One chunk of a snapshot.
    SnapshotChunk {
        /// The session.
        session: u64,
        /// Chunk number.
        seq: u32,
        /// Whether this is the last chunk.
        last: bool,
        /// The records.
        records: Vec<Record>,
    },
    /// A client write forwarded to the member responsible for it.
    Forward {
        /// Chosen by the forwarder, echoed in the reply.
        id: u64,
        /// The request.
        request: Request,
    },
    /// The answer to a forwarded write.
    ForwardReply {
        /// The forward id.
        id: u64,
        /// The answer.
        reply: Reply,
    },
    /// A verify round in digest form: the clients (and tombstones) the sender is responsible
    /// for, hashed into `digests.len()` buckets by client id, each bucket the wrapping sum of
    /// the hashes of its `(client, revision)` pairs. An in-sync round costs O(buckets) on the
    /// wire. The receiver renews the clients of matching buckets and names the others.
    VerifyDigest {
        /// Round number, echoed in the answer.
        round: u64,
        /// Per-bucket digests.
        digests: Vec<u64>,
    },
    /// Answer to `VerifyDigest`: buckets whose digest differs here; the sender answers with a
    /// `Verify` listing the pairs of those buckets.
    VerifyDigestReply {
        /// The round number.
        round: u64,
        /// Number of buckets of that round.
        bucket_count: u32,
        /// The differing buckets.
        mismatched: Vec<u32>,
    },
    /// Answer to a `SnapshotRequest` from a member that is itself still loading (it would
    /// serve an incomplete snapshot): ask another member.
    SnapshotUnavailable {
        /// The session asked for.
        session: u64,
    },
    /// With every verify round: a digest of the live service settings the sender holds. A
    /// receiver holding different ones sends all of its settings back (newest revision wins).
    SettingsDigest {
        /// Order-independent hash of every live setting's service and revision.
        digest: u64,
    },
}
