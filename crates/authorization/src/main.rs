//! `kuajing-authorization`: runs the authorization service alone (`--help` lists its options).

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{}\n", kuajing_authorization::settings::ENV_HELP);
    }
    kuajing_platform::config::service_main(&kuajing_authorization::SERVICE)
}
