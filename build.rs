//! The reference schema is compiled into the binary (include_dir); tell cargo to
//! rebuild when any file under `schema/` changes.

fn main() {
    println!("cargo:rerun-if-changed=schema");
}
