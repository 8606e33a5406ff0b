//! `kuajing-edge`: runs the edge service alone (`--help` lists its options).

fn main() -> anyhow::Result<()> {
    kuajing_platform::config::service_main(&kuajing_edge::SERVICE)
}
