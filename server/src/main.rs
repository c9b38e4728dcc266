//! `warroom`: the server's command line (the subcommands arrive with the server issue).

fn main() {
    eprintln!("warroom: no subcommand is implemented yet");
    std::process::exit(2);
}
