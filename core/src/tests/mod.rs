//! Behaviour tests of the node, in virtual time.

mod net;

mod cluster;
mod health;
mod node;
mod protocol;
mod shards;
