//! `sysmon-store-stats`: where the bytes of a stopped aggregator's `sysmon.redb` go, table by
//! table (entries, key and value bytes, page metadata, unused space in pages), and with
//! `--compact`, the file size once redb has compacted it. `benches/compare.sh` runs it on a
//! copy of the store to split its bytes per sample into raw chunks, rollups, index and free
//! space. It reads table names from the file, so it follows the engine's schema as it changes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use redb::{ReadableDatabase as _, ReadableTableMetadata as _, TableHandle as _};
use serde::Serialize;

/// Space used by a redb file, per table. The aggregator must be stopped (redb locks the file).
#[derive(Debug, Parser)]
#[command(name = "sysmon-store-stats", version, about, long_about = None)]
struct Args {
    /// The store: a `sysmon.redb` file.
    file: PathBuf,
    /// Compact the file in place and report its size after: run this on a copy.
    #[arg(long)]
    compact: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// Aligned lines for people.
    Text,
    /// One JSON object, for scripts.
    Json,
}

/// The whole file.
#[derive(Debug, Serialize)]
struct StoreStats {
    file_bytes: u64,
    /// Bytes in pages that hold data or tree metadata.
    allocated_bytes: u64,
    /// Key and value bytes of every table.
    stored_bytes: u64,
    /// Page headers and other tree metadata.
    metadata_bytes: u64,
    /// Unused space inside allocated pages.
    fragmented_bytes: u64,
    /// With `--compact`: the file size after compaction.
    compacted_file_bytes: Option<u64>,
    tables: Vec<TableStats>,
}

/// One table.
#[derive(Debug, Serialize)]
struct TableStats {
    name: String,
    entries: u64,
    stored_bytes: u64,
    metadata_bytes: u64,
    fragmented_bytes: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("sysmon-store-stats: {err:#}");
            }
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let path = &args.file;
    let file_bytes = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    let mut db = redb::Database::open(path).with_context(|| format!("opening {}", path.display()))?;
    let whole = {
        let txn = db.begin_write().context("beginning a transaction")?;
        let stats = txn.stats().context("reading the file's stats")?;
        txn.abort().context("ending the transaction")?;
        stats
    };
    let mut tables = Vec::new();
    {
        let txn = db.begin_read().context("beginning a read transaction")?;
        for handle in txn.list_tables().context("listing tables")? {
            let name = handle.name().to_string();
            let table = txn.open_untyped_table(handle).with_context(|| format!("opening table {name}"))?;
            let stats = table.stats().with_context(|| format!("reading the stats of table {name}"))?;
            tables.push(TableStats {
                entries: table.len().with_context(|| format!("counting table {name}"))?,
                name,
                stored_bytes: stats.stored_bytes(),
                metadata_bytes: stats.metadata_bytes(),
                fragmented_bytes: stats.fragmented_bytes(),
            });
        }
    }
    tables.sort_by_key(|t| std::cmp::Reverse(t.stored_bytes));
    let compacted_file_bytes = if args.compact {
        db.compact().context("compacting")?;
        drop(db);
        Some(std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len())
    } else {
        None
    };
    let stats = StoreStats {
        file_bytes,
        allocated_bytes: whole.allocated_pages() * whole.page_size() as u64,
        stored_bytes: whole.stored_bytes(),
        metadata_bytes: whole.metadata_bytes(),
        fragmented_bytes: whole.fragmented_bytes(),
        compacted_file_bytes,
        tables,
    };
    print(&stats, args.output)
}

#[allow(clippy::print_stdout)]
fn print(stats: &StoreStats, output: Output) -> anyhow::Result<()> {
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(stats)?);
        return Ok(());
    }
    println!("file {} bytes, {} in allocated pages", stats.file_bytes, stats.allocated_bytes);
    if let Some(compacted) = stats.compacted_file_bytes {
        println!("after compaction: {compacted} bytes");
    }
    println!("{:<24} {:>12} {:>14} {:>12} {:>14}", "table", "entries", "stored bytes", "metadata", "fragmented");
    for t in &stats.tables {
        println!(
            "{:<24} {:>12} {:>14} {:>12} {:>14}",
            t.name, t.entries, t.stored_bytes, t.metadata_bytes, t.fragmented_bytes
        );
    }
    println!(
        "{:<24} {:>12} {:>14} {:>12} {:>14}",
        "all", "", stats.stored_bytes, stats.metadata_bytes, stats.fragmented_bytes
    );
    Ok(())
}
