//! `kuajing-order`: runs the order service alone (`--help` lists its options).

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{}\n", kuajing_order::settings::ENV_HELP);
    }
    kuajing_platform::config::service_main(&kuajing_order::SERVICE)
}
