//! Rebuilds when a migration is added: `sqlx::migrate!` embeds the migrations directory at
//! compile time and cannot tell cargo to watch it (as sqlx's documentation advises).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
