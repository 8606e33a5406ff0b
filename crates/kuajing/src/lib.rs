//! The whole Kuajing platform in one process: the six services, how to launch them
//! together, and a private PostgreSQL for local use. `kuajing up` and the testkit both
//! stand on this.

pub mod bench;
pub mod certs;
pub mod chaos;
pub mod commands;
pub mod demo;
pub mod failover;
pub mod faultproxy;
pub mod forwarder;
pub mod keys;
pub mod launch;
pub mod operator;
pub mod parties;
pub mod pgcluster;
pub mod procs;
pub mod sandbox;

use anyhow::Context;
use kuajing_platform::ServiceDef;

/// The six services, edge first.
pub fn services() -> [&'static ServiceDef; 6] {
    [
        &kuajing_edge::SERVICE,
        &kuajing_identity::SERVICE,
        &kuajing_wallet::SERVICE,
        &kuajing_authorization::SERVICE,
        &kuajing_order::SERVICE,
        &kuajing_fx::SERVICE,
    ]
}

/// Writes a secret readable by its owner only.
pub fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// Prints a contract message as proto3 JSON (what grpcurl prints), `full_name` being its
/// protobuf name (e.g. `kuajing.fx.v1.Rate`).
pub fn print_json(full_name: &str, message: &impl prost::Message) -> anyhow::Result<()> {
    let pool = prost_reflect::DescriptorPool::decode(kuajing_proto::FILE_DESCRIPTOR_SET)?;
    let descriptor = pool
        .get_message_by_name(full_name)
        .with_context(|| format!("no message {full_name}"))?;
    let dynamic =
        prost_reflect::DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())?;
    println!("{}", serde_json::to_string_pretty(&dynamic)?);
    Ok(())
}
