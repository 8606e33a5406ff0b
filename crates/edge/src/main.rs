//! `kuajing-edge`: runs the edge service alone (`--help` lists its options).

fn main() -> anyhow::Result<()> {
    kuajing_edge::binary::main()
}
