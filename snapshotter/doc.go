// Package snapshotter owns Outpost's checkpoint files (DESIGN.md §4): the
// format that the control plane's snapshot download, a node's periodic
// checkpoints and --export/--import files share; durable storage with
// retention; loading with fallback; and the periodic writer.
//
//   - Write and Read encode and decode a checkpoint as a stream. Read
//     verifies every checksum, length and count, the trailer's whole-file
//     CRC32C and the state digest before it returns a state; Inspect
//     verifies a file without building one. docs/checkpoint-format.md
//     specifies the bytes. WriteFile and ReadFile do the same for one file
//     (--export, --import), WriteFile durably.
//   - Store keeps checkpoints in a directory: write to a temporary file,
//     fsync, close, rename, fsync the directory; names sort by revision;
//     the newest Keep (default 2) are retained; LoadLatest falls back to
//     an older checkpoint when the newest is unusable.
//   - Snapshotter.Run checkpoints a replica every Interval when its
//     revision moved, and once more on shutdown.
//
// # Concurrency
//
// Write, Read and Inspect keep no shared state and may run concurrently.
// Write reads a *replica.Export, which is immutable, so the replica keeps
// applying events while a checkpoint is written. A Store's methods are safe
// for concurrent use (Save and pruning are serialised by its mutex), but
// only one Store in one process may use a directory: OpenStore deletes
// temporary files it finds, which would break another writer's save.
// A Snapshotter's methods are safe for concurrent use; Checkpoint and Run's
// checkpoints are serialised, and Status reads fields guarded by a mutex.
// Run is the only goroutine a Snapshotter needs; it returns when its
// context ends, after the final checkpoint.
package snapshotter
