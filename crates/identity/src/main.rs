//! `kuajing-identity`: runs the identity service alone (`--help` lists its options).

fn main() -> anyhow::Result<()> {
    kuajing_identity::binary::main()
}
