//! `uniffi-bindgen` for this workspace: `cargo uniffi-bindgen generate --library <cdylib> ...`
//! (the alias is in `.cargo/config.toml`; `scripts/bindings` wraps the whole command).

fn main() {
    uniffi::uniffi_bindgen_main()
}
