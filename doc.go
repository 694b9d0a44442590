// Package ngbak backs up and restores everything a GraphRAG application
// stores — its knowledge graph, its vector collections, its key-value stores
// and its file-based stores — as one verified, compressed archive.
//
// A Manager runs registered Exporters, one per store or scope of a store,
// and keeps the archives in a Storage:
//
//	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir("backups")})
//	exp, err := jsonexp.New(jsonexp.Options{Dir: "graphrag_workdir"})
//	err = m.Register(exp)
//	man, err := m.Create(ctx, nil)            // a new backup
//	err = m.Verify(ctx, man.ID)               // read it back completely
//	res, err := m.Restore(ctx, man.ID, nil)   // replace the stores with it
//
// The root package knows no backend. Backends live in their own packages
// (jsonexp for file-based stores, redisexp for Redis, neo4jexp for Neo4j,
// qdrantexp for Qdrant) and all pass the conformance suite in exportertest.
// ngbakhttp serves a Manager as an HTTP API and dashboard; legacy converts
// the old Python system's archives. Progress reaches Options.Progress, and
// for one operation the function given to WithProgress: Verify, and the
// verify pass of Restore, Plan and Import, tell each backend's bytes read
// of its size (Backend.Size), and Restore each backend's bytes its
// exporter has read (see Event).
//
// # The archive: format ngbak/1
//
// <id>.ngbak is a POSIX tar stream compressed with zstd; `tar --zstd -xf`
// opens it. The zstd stream is a sequence of frames: what does not compress
// (float vectors) is stored in raw blocks, tried megabyte by megabyte. Each exporter writes into its own folder. The last two entries
// are SHA256SUMS (every file's SHA-256, in the format `sha256sum -c` reads,
// sorted by path) and manifest.json, which lists every backend with its
// kind, format, the server's version, statistics, size (the sum of its
// files' sizes; manifests written before it have none), the exporter's
// own details (Info.Details) and every file with its size and SHA-256,
// and records payload_sha256, the SHA-256 of SHA256SUMS.
// Beside the archive are <id>.ngbak.sha256 (the archive's own SHA-256,
// for `sha256sum -c`) and <id>.manifest.json (the manifest without the file
// lists, which can run to hundreds of MiB; sidecars written before held the
// whole manifest and are still read), written last: a backup exists once
// that file does. List and Get read only these sidecars, so their
// Backend.Files are empty; Create's result and the manifest inside the
// archive have them.
//
// Create refuses, before it commits, a backup that reading could not take
// back: more entries, a larger entry or payload than Options.Limits allow,
// or a manifest or SHA256SUMS beyond the 64 MiB a reader holds in memory
// (reached at about 390,000 files: cut many small files into parts with
// Writer.Parts).
//
// # Parallel backends
//
// Create and Restore run the backends at once, at most Options.Parallelism
// of them (0: all; 1: one after the other).
// The archive is the same ngbak/1 stream either way: a backend's entries
// never interleave with another's, so a reader of any version hands each
// exporter its files in one run. One backend at a time writes into the
// archive, in the order of registration: the first from its first file to
// the end of its export, then the next; the others spool what they write
// meanwhile to one temporary file each in Options.TempDir and copy it in
// when their turn comes. The manifest so lists the backends in the order
// of registration, as a sequential Create does, however fast each was;
// Restore's result and errors name them in that order too.
//
// Restore verifies the whole archive first, as always; then one pass reads
// it again, spooling the entries of every backend to restore but the last
// in the archive (each handed to its exporter as soon as it is read and
// checked), and streaming the last one's directly. Backends of the same
// kind restore one after the other, since they may share a server or
// overlap (two label scopes of one Neo4j database). If any backend fails,
// the others are cancelled, and every backend that was started is rolled
// back from the safety backup.
//
// Memory per backend is its exporter's own (a part of 2 MiB, with 1 MiB of room
// for the record that fills it, for Writer.Parts)
// and one 256 KiB copy buffer; the archive's encoder and decoder are shared,
// and the compressed stream goes to storage through four 256 KiB buffers
// hashed and written by a goroutine of their own.
// The temporary files take at most the payload of the backends that wait:
// plan that much room in Options.TempDir, or set Parallelism to 1.
//
// With Options.Encryption (package agecrypt: age), the compressed stream is
// encrypted, the .sha256 sidecar covers the ciphertext, and the sidecar
// manifest holds only the public part of the manifest: ids, times, backend
// names, kinds, statistics and sizes, no file names, config or labels other than
// ngbak's own. A Restore that takes a safety backup first checks that
// Options.Encryption can open what it encrypts (a probe, one scrypt run
// with a passphrase): encrypting to an offline key only would make the
// rollback impossible, so such a restore is refused with ErrKey before
// anything changes.
//
// Ids such as 20261121T224015.123Z-3f9a2c sort by time and do not collide.
// Every id that comes from outside is checked with ValidID before it
// touches a path.
//
// # Guarantees
//
//  1. Nothing is restored from an archive that has not been verified
//     completely first; a mismatch is ErrChecksum, never a warning. Every
//     file is checked again while it is restored, and the second read is of
//     what the first verified: the archive stays open between the passes
//     when the Storage's reader seeks (Dir: the same open file, whatever is
//     renamed over its name; blobstorage: a reader that fails if the object
//     changed), else it is opened again only if Stat still gives the size
//     and time it gave before; the sidecars must be byte for byte the
//     same. A difference stops the restore before any store is touched.
//  2. Restore replaces: each backend's scope holds exactly what the backup
//     held afterwards.
//  3. Restore takes a safety backup of the stores it replaces first; if a
//     backend fails, the backends restored so far and the failed one are
//     rolled back from it, and the error says so. The safety backup is kept
//     (labelled LabelSafetyFor) so that a restore can be undone. From its
//     creation until Restore returns it is held: Delete refuses it
//     (ErrBusy) and Prune keeps it, in this process and, through the
//     restore marker <id>.restore.json in the storage, in any other.
//     Prune keeps safety backups by their own rule (RetentionPolicy.Safety,
//     at least the newest), never by the rules for the other backups. An
//     encrypted backup's sidecar shows ngbak's own labels for this. Before it,
//     an exporter that is a RestoreChecker can refuse, with nothing changed,
//     a restore that would fail or destroy what no backup holds.
//  4. Errors are returned, wrapped with their context, never only logged. A
//     backend that fails makes Create fail, and a failed Create leaves
//     nothing that List shows.
//  5. Memory stays bounded: data streams from the store into the archive and
//     back; files of unknown size are spooled to Options.TempDir beyond
//     1 MiB.
//  6. Secrets never reach an archive: the application config recorded with
//     Options.AppConfig is redacted. Names are matched by words, not
//     substrings (NEO4J_AUTH and encryption_key are secrets, max_tokens and
//     tokenizer_model are not), and string values are searched for URLs
//     with credentials or secret query parameters, "Authorization: ..."
//     lines and Bearer tokens.
//  7. Archives from outside (Import) are read with limits (Limits) and
//     refused if they hold paths that escape, links, devices, duplicates,
//     oversize entries, too large a zstd window, truncation or a manifest
//     that does not match.
//  8. Cancelling the context stops any operation promptly and leaves no
//     temporary files. A cancelled Restore still rolls back.
//  9. An interrupted restore is never silent. Before the safety backup and
//     the first change to a store, Restore writes a restore marker,
//     <id>.restore.json, naming the backup, the safety backup and the
//     backends, and removes it once the stores are restored or rolled
//     back. If the process dies in between, or the rollback fails, the
//     marker stays: Manager.Interrupted reports it, List sets
//     Backup.Interrupted on both backups, Create and Restore refuse with
//     ErrBusy, and Manager.RollBack puts the stores back from the safety
//     backup and removes the marker. A restore with NoSafetyBackup is
//     recorded too: if it fails, its error says the stores may be partial
//     and the marker goes (the caller has heard); if its process dies,
//     RollBack can only report that and remove the marker.
//
// # Time
//
// Backups are ordered and pruned by created_at. Import refuses one created
// more than ten minutes ahead of this machine's clock (ErrCorrupt), which
// allows for the skew between two machines' clocks and no more, and
// RetentionPolicy.Within counts from the newest backup or from now,
// whichever is earlier, so a backup dated in the future cannot make every
// real one look old.
//
// # Monitoring
//
// Create, Restore and Verify record OpenTelemetry spans, with a child span
// per backend, and metrics (duration, failures, bytes and items per
// backend, the time of the last successful Create) through
// Options.TracerProvider and Options.MeterProvider, or otel's global
// providers, which record nothing until the application installs an SDK.
// ngbak uses the API only; the names are listed in telemetry.go and in the
// README.
//
// # What clean-up removes
//
// Nothing that ngbak did not write. A crash can leave a partial file or an
// archive whose manifest never appeared; Create removes them once they are
// an hour old, and only for ids of the shape NewID makes, only a
// "<id>.<object>.partial" of Dir's own writer that no writer holds locked
// (a writer locks its partial file until it commits, so a Create whose
// export goes quiet for hours keeps it) and only an archive with a
// <id>.ngbak.sha256 sidecar in ngbak's format beside it (that sidecar is
// committed before the archive). Any other file in the folder, such as the
// old Python system's snapshot_<time>.ngbak archives, stays however old it
// is; so do the leftovers of an interrupted Import of an id of another shape.
//
// No store gives a point in time across stores; Options.BeforeCreate and
// Options.AfterCreate let the application pause its writers meanwhile, and
// Options.BeforeRestore and Options.AfterRestore do the same around a
// restore. Create and Restore exclude each other: one that starts while the
// other runs in the same Manager is refused with ErrBusy, and so is a Create
// or Restore while a restore marker is in the storage (a restore running in
// another process, or an interrupted one). Between processes the check and
// the marker are not one atomic step: two processes that start a restore in
// the same instant are not told apart.
//
// # Deduplicated storage
//
// With Options.Dedup a Manager stores each byte once across every backup and
// every store, as restic, kopia and borg do: no store can say what changed
// since the last backup, so the archive's tar stream, before compression,
// is cut by content-defined chunking (restic's chunker, a Rabin
// fingerprint; average 512 KiB by default, DedupOptions.AverageChunkSize),
// and each chunk is stored once as "chunk-<id>", compressed with zstd. A
// backup is then its chunk list, kept as <id>.ngbak (text: "ngbak-chunks/2",
// one "<id> <size>" line per chunk, an end line with the count and total),
// beside the same <id>.ngbak.sha256 and <id>.manifest.json as ever, the
// manifest still written last. The sidecar holds the SHA-256 of the chunk
// list, as it does of a plain archive (`sha256sum -c` checks the storage
// folder): every chunk is checked against its id as it is read, so the
// list's sum covers the reassembled stream without a pass of its own over
// it. (Lists of version 1 had the tar stream's SHA-256 there; they are
// read and checked as before.) On an encrypted repository that sum is not
// keyed: someone who can write to the storage can edit a list and its
// sidecar together, but not the sealed chunks it names (each opens only
// with the key, its id bound in), and what the chunks reassemble to is
// still checked entry by entry against the manifest inside, SHA256SUMS
// and the sidecar manifest. Libraries older than version 2 lists refuse
// them ("not a chunk list"): their sweeps then remove nothing. On a
// Storage with a second namespace (Dir: the "chunks" subfolder; blobstorage:
// the chunks/ prefix) the chunks live there, so that List never lists
// them; ngbak-dedup.layout records which, so that every Manager on the
// storage agrees. Tar headers carry no time on this layout: a time in each
// header would change every header of every backup and the chunks around
// them. Backups stored whole before Dedup was set stay readable.
//
// Everything keeps its meaning: List reads sidecars only (Backup.Size is
// the chunk list's size); Verify reads every chunk, checks each against its
// id, the list against the sidecar, and then the reassembled stream's
// entries, SHA256SUMS and manifest exactly as before; Restore streams
// it, a few chunks fetched ahead (memory: eight chunks of at most eight
// times the average, and the usual archive reader); Open streams a standard
// ngbak/1 archive, compressed (and encrypted) as it is read, which tar,
// sha256sum -c and Import accept, and which checks itself: its Read fails
// with ErrChecksum before the end if the chunk list is not the one the
// sidecar names (its SHA-256 differs from the sidecar's, which is the
// list's); Import chunks an archive into the repository.
//
// What a backup adds depends on the order the exporters write records in,
// which internal/dedupbench measures per store (numbers in the README).
// Every exporter's order is stable between two backups of unchanged data,
// which then add next to nothing: jsonexp copies files, qdrantexp scrolls
// by point id, Neo4j scans nodes and relationships in id order (an ORDER BY
// would cost a server-side sort and change nothing), Redis's SCAN follows
// its hash table. New records at the end of a stream add their own size
// and a few chunks where the stream and its tar headers grew (new Qdrant
// ids, new documents in a nano-graphrag file; new Neo4j nodes take freed
// ids, so they come in one run where the deleted ones were). Redis is the exception: SCAN returns keys in the order of their
// hashes, so new keys land all over the stream and each one changes the
// chunk it falls in (and a table resize regroups all keys in runs of a few
// dozen), which no order at no extra memory avoids: GraphRAG keys are
// content hashes, so even a sort by key would scatter them. Updates in
// place change a chunk or two each, so scattered updates cost in
// proportion to the chunk size (AverageChunkSize 64 KiB for them); Qdrant's
// snapshot mode writes updated points to a new segment and adds least.
//
// With Options.Encryption no plaintext and no key reaches the storage, and
// deduplication still works. A random 32-byte master key is stored only as
// the Encryption's ciphertext (ngbak-dedup.key, made by the first Create);
// from it HMAC-SHA256 derives three keys: chunk ids are HMAC-SHA256 of the
// plaintext under the first (equal chunks still have equal ids, but an id
// confirms no guess of a document, which a bare SHA-256 would), chunks are
// sealed with AES-256-GCM under the second with a random nonce and their
// id as additional data (a chunk moved under another's name does not
// open), and the third picks the chunker's polynomial, so that chunk sizes
// do not fingerprint known content either (restic's design). The chunk
// list shows the number and sizes of chunks, no more. Writing and reading
// need a key that decrypts the master key: age recipients alone cannot
// Create on an encrypted deduplicated storage (ErrKey).
//
// On Dir a chunk's data is synced before it gets its name, as every
// object's is, but the chunks folder is synced once, before the chunk list
// commits, not after each chunk: after a crash a chunk is whole under its
// name or absent, and a list is committed only once every chunk it names
// is durably named (the folder's sync covers the chunks found written by
// another process too).
//
// Delete removes the chunk list, then sweeps the chunks that list held and
// no other list in the storage holds (an orphaned list of a Create in flight
// counts): its cost is reading every chunk list, a few dozen bytes per chunk
// (about 1/7000 of the data at the default size), and memory for the deleted
// backup's chunk ids only. Prune removes the lists of all the backups it
// deletes and then sweeps once for all of them, so that the other lists are
// read once per Prune, not once per backup deleted; its memory is the
// deleted backups' chunk ids. That cost still grows with the repository
// (every list is read), a choice over a persisted index of references,
// which would make it grow with the deleted backups only but would be one
// more object to keep consistent with the lists through crashes and the
// lease protocol below: reading the lists is a few megabytes per backup of
// tens of gigabytes, and the lists are the truth. A Create in another process may at any time find
// a chunk stored and rely on it without writing it, so the two follow a
// protocol of two flags: a Create writes a lease (<time id>.lease, renewed
// every ten minutes) before it looks for sweeps and waits while one runs;
// a sweep writes its own lease (.sweep) before it looks for Creates' leases
// and removes nothing while one is there. Each writes before it looks, so
// on a storage whose listing shows what was written before it (Dir, S3,
// MinIO) one of the two always sees the other; a Create commits its chunk
// list before it drops its lease, so a sweep that proceeds sees every list.
// A lease not renewed for an hour is a dead process's and is ignored and
// removed. What a sweep skips (a Create was running) stays until a later
// Delete or Manager.CheckRepository with RemoveUnused, which, like restic
// check, reports chunks missing, damaged (ReadData) or unused; it holds an
// entry per distinct chunk in memory.
package ngbak
