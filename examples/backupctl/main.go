// Backupctl is a small command-line program over the ngbak library, and the
// template for custom tooling:
//
//	go run ./examples/backupctl [flags] create|list|inspect ID|verify ID|restore ID|delete ID|import FILE|export ID FILE
//
// Flags go before or after the command and its arguments alike (restore ID
// -dry-run; "--" ends them). restore -dry-run prints the restore's plan
// (ngbak.Manager.Plan) and changes nothing; export writes the archive as
// stored to a new file, or to stdout with "-", checked against its .sha256.
//
// Flags choose where backups live (-dir, or -bucket URL for S3 and other
// gocloud.dev buckets), how they are encrypted (-age-recipient KEY,
// -age-identity FILE, or -passphrase-file FILE) and which stores to back up:
// -json DIR registers the file-based stores of a GraphRAG working
// directory; -redis URL the KV namespaces of a Redis (-redis-prefix,
// -redis-namespaces), or with -redis-raw PATTERN every matching key of any
// type; -neo4j URI a Neo4j graph (-neo4j-user, -neo4j-password,
// -neo4j-database, -neo4j-label, -neo4j-delete-crossing, -neo4j-restore-as); -qdrant URL with -qdrant-grpc HOST:PORT
// the collections of a Qdrant (-qdrant-api-key or QDRANT_API_KEY,
// -qdrant-collections, -qdrant-mode snapshot|logical). create prints the new id as the last line of its output;
// inspect prints the manifest as JSON; import-legacy FILE converts an
// archive of the old Python system (-legacy-checksum, -legacy-kv,
// -legacy-accept-unverified). Every failure exits non-zero with
// the error on stderr.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"

	"filippo.io/age"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/agecrypt"
	"github.com/ngbak/ngbak/blobstorage"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/legacy"
	"github.com/ngbak/ngbak/neo4jexp"
	"github.com/ngbak/ngbak/qdrantexp"
	"github.com/ngbak/ngbak/redisexp"
	"github.com/redis/go-redis/v9"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"
)

const usage = `usage: backupctl [flags] command

commands:
  create          back up the registered stores; prints the new id last
  list            list backups, newest first
  inspect ID      print a backup's manifest as JSON
  verify ID       read a backup completely and check every hash
  restore ID      replace the registered stores with a backup; -dry-run prints what it would do;
                  -into BACKEND=EXPORTER restores a backend into another exporter (json=kv:
                  nano-graphrag's KV files into Redis)
  export ID FILE  write a backup's archive (.ngbak, as stored) to FILE, or to stdout with -
  delete ID       delete a backup
  import FILE     verify an archive and store it as a backup ("-" reads stdin)
  prune           apply the -keep-* retention policy: shows what would go; -confirm deletes
  check           with -dedup: check that every chunk a backup uses is stored (-read-data: and
                  hashes right); -remove-unused removes the chunks no backup uses
  import-legacy FILE
                  verify an archive of the old Python system with its own checksum (and
                  -legacy-checksum FILE) and store it as a backup; -legacy-kv redis|json says
                  where its KV namespaces go; -legacy-accept-unverified converts despite a mismatch

flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "backupctl:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backupctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	dir := fs.String("dir", "./backups", "the folder where backups live")
	var ageRecipients listFlag
	fs.Var(&ageRecipients, "age-recipient", "encrypt new backups to this age public `KEY` (repeatable)")
	ageIdentity := fs.String("age-identity", "", "decrypt with the age identities in this `FILE`")
	passphraseFile := fs.String("passphrase-file", "", "encrypt and decrypt with the passphrase in this `FILE`")
	bucket := fs.String("bucket", "", "keep backups in this gocloud.dev bucket `URL` instead of -dir (s3://, file://, mem://)")
	jsonDir := fs.String("json", "", "back up the file-based stores (kv_store_*.json, *.graphml, vdb_*.json, *_hnsw.index, *_hnsw_metadata.pkl) of this working `DIR`")
	backends := fs.String("backends", "", "restore: only these comma-separated backends")
	noSafety := fs.Bool("no-safety-backup", false, "restore: do not back up the current state first (and so no rollback)")
	dryRun := fs.Bool("dry-run", false, "restore: print what the restore would do (counts now and in the backup, what it deletes, refusals) and change nothing")
	verbose := fs.Bool("v", false, "log what happens to stderr")
	var policy ngbak.RetentionPolicy
	fs.IntVar(&policy.Last, "keep-last", 0, "prune: keep the newest `N` backups")
	fs.IntVar(&policy.Safety, "keep-safety", 0, "prune: keep the newest `N` safety backups that restores took (0: 1; the other rules do not count them)")
	fs.IntVar(&policy.Hourly, "keep-hourly", 0, "prune: keep the newest backup of each of the last `N` hours with one")
	fs.IntVar(&policy.Daily, "keep-daily", 0, "prune: ... of the last `N` days")
	fs.IntVar(&policy.Weekly, "keep-weekly", 0, "prune: ... of the last `N` ISO weeks")
	fs.IntVar(&policy.Monthly, "keep-monthly", 0, "prune: ... of the last `N` months")
	fs.IntVar(&policy.Yearly, "keep-yearly", 0, "prune: ... of the last `N` years")
	fs.DurationVar(&policy.Within, "keep-within", 0, "prune: keep every backup made within this `duration` of the newest")
	confirm := fs.Bool("confirm", false, "prune: delete; without it prune only shows what it would delete")
	var redisURLs listFlag
	fs.Var(&redisURLs, "redis", "back up Redis at this redis:// `URL`; repeat it, or separate addresses by commas, for a cluster")
	redisPrefix := fs.String("redis-prefix", redisexp.DefaultPrefix, "the key prefix of the Redis KV namespaces")
	redisNamespaces := fs.String("redis-namespaces", "", "comma-separated Redis KV namespaces (default: all found under the prefix)")
	neo4jURI := fs.String("neo4j", "", "back up the Neo4j graph at this bolt:// or neo4j:// `URI`")
	neo4jUser := fs.String("neo4j-user", "", "Neo4j user (none: no authentication)")
	neo4jPassword := fs.String("neo4j-password", "", "Neo4j password (or NEO4J_PASSWORD)")
	neo4jDatabase := fs.String("neo4j-database", "", "Neo4j database (default: the server's default)")
	neo4jLabel := fs.String("neo4j-label", "", "back up only the nodes with this label and the relationships among them")
	neo4jRestoreAs := fs.String("neo4j-restore-as", "", "restore a backup of another label under -neo4j-label, `FROM=TO` (TO the -neo4j-label)")
	neo4jDeleteCrossing := fs.Bool("neo4j-delete-crossing", false, "let a restore under -neo4j-label delete relationships to nodes outside the label, which the backup does not hold")
	qdrantURL := fs.String("qdrant", "", "back up the Qdrant collections at this REST `URL` (needs -qdrant-grpc)")
	qdrantGRPC := fs.String("qdrant-grpc", "", "the Qdrant gRPC address `HOST:PORT`")
	qdrantKey := fs.String("qdrant-api-key", "", "the Qdrant API key (or QDRANT_API_KEY)")
	qdrantCollections := fs.String("qdrant-collections", "", "comma-separated Qdrant collections, e.g. nano-graphrag's PREFIX_entities,PREFIX_chunks (default: all, and a restore then deletes every collection the backup does not hold)")
	qdrantMode := fs.String("qdrant-mode", "snapshot", "snapshot (the server's own; restores into the same or the next minor version) or logical (portable)")
	legacyChecksum := fs.String("legacy-checksum", "", "import-legacy: the old archive's <id>.checksum `FILE`")
	legacyKV := fs.String("legacy-kv", "redis", "import-legacy: restore the old KV namespaces into redis or json (kv_store_<ns>.json)")
	legacyUnverified := fs.Bool("legacy-accept-unverified", false, "import-legacy: convert even when the old checksum does not match")
	dedup := fs.Bool("dedup", false, "keep backups deduplicated: every chunk of every backup and store stored once (must be given for every command on such a storage)")
	readData := fs.Bool("read-data", false, "check: read and hash every chunk")
	removeUnused := fs.Bool("remove-unused", false, "check: remove the chunks no backup uses")
	redisRaw := fs.String("redis-raw", "", "raw mode: back up every key matching this SCAN `PATTERN`, of any type, with DUMP, instead of the KV namespaces")
	into := fs.String("into", "", "restore: restore backends into other exporters, `BACKEND=EXPORTER`[,...] (json, kv, graph, qdrant); json=kv converts nano-graphrag's KV files into Redis, kv=json back")
	jsonPatterns := fs.String("json-patterns", "", "comma-separated file name patterns of -json (default: every store file; kv_store_*.json for the KV stores alone)")
	dropTTL := fs.Bool("drop-ttl", false, "restore -into json: let Redis entries with a time to live become file entries, which never expire")
	intoPartial := fs.Bool("into-partial", false, "restore -into: convert the files of a working dir's backup that the target holds (kv_store_*.json into Redis, *.graphml into Neo4j, vdb_*.json into Qdrant) and skip the others")
	qdrantRestoreAs := fs.String("qdrant-restore-as", "", "restore the backup's Qdrant collections under other names, `FROM=TO`[,...] (TO in -qdrant-collections)")
	pos, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return errors.New("no command given")
	}
	cmd, rest := pos[0], pos[1:]
	opts := ngbak.Options{Storage: ngbak.Dir(*dir)}
	if *bucket != "" {
		store, err := blobstorage.Open(ctx, *bucket)
		if err != nil {
			return err
		}
		defer store.Close()
		opts.Storage = store
	}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	prog := newProgress(stderr)
	defer prog.close()
	opts.Progress = prog.event
	switch {
	case *passphraseFile != "" && (len(ageRecipients) > 0 || *ageIdentity != ""):
		return errors.New("-passphrase-file goes without -age-recipient and -age-identity")
	case *passphraseFile != "":
		pw, err := os.ReadFile(*passphraseFile)
		if err != nil {
			return err
		}
		enc, err := agecrypt.Passphrase(strings.TrimRight(string(pw), "\r\n"))
		if err != nil {
			return err
		}
		opts.Encryption = enc
	case len(ageRecipients) > 0 || *ageIdentity != "":
		recipients, err := agecrypt.ParseRecipients(ageRecipients...)
		if err != nil {
			return err
		}
		var identities []age.Identity
		if *ageIdentity != "" {
			if identities, err = agecrypt.ReadIdentities(*ageIdentity); err != nil {
				return err
			}
		}
		enc, err := agecrypt.New(recipients, identities)
		if err != nil {
			return err
		}
		opts.Encryption = enc
	}
	if *dedup {
		opts.Dedup = &ngbak.DedupOptions{}
	}
	m, err := ngbak.New(opts)
	if err != nil {
		return err
	}
	if *jsonDir != "" {
		var patterns []string
		if *jsonPatterns != "" {
			patterns = strings.Split(*jsonPatterns, ",")
		}
		exp, err := jsonexp.New(jsonexp.Options{Dir: *jsonDir, Patterns: patterns})
		if err != nil {
			return err
		}
		if err := m.Register(converting(exp, *dropTTL, *intoPartial)); err != nil {
			return err
		}
	}

	if len(redisURLs) > 0 {
		client, err := redisClient(redisURLs)
		if err != nil {
			return err
		}
		defer client.Close()
		var exp ngbak.Exporter
		if *redisRaw != "" {
			exp = redisexp.NewRaw(client, redisexp.RawOptions{Pattern: *redisRaw})
		} else {
			var nss []string
			if *redisNamespaces != "" {
				nss = strings.Split(*redisNamespaces, ",")
			}
			store := redisexp.NewKVStore(client, redisexp.KVStoreOptions{Prefix: *redisPrefix})
			if exp, err = redisexp.New(store, redisexp.Options{Namespaces: nss}); err != nil {
				return err
			}
			exp = converting(exp, false, *intoPartial)
		}
		if err := m.Register(exp); err != nil {
			return err
		}
	}

	if *neo4jURI != "" {
		auth := neo4j.NoAuth()
		if *neo4jUser != "" {
			pw := *neo4jPassword
			if pw == "" {
				pw = os.Getenv("NEO4J_PASSWORD")
			}
			auth = neo4j.BasicAuth(*neo4jUser, pw, "")
		}
		driver, err := neo4j.NewDriverWithContext(*neo4jURI, auth)
		if err != nil {
			return err
		}
		defer driver.Close(ctx)
		restoreAs, err := parsePairs("neo4j-restore-as", *neo4jRestoreAs)
		if err != nil {
			return err
		}
		exp, err := neo4jexp.New(driver, neo4jexp.Options{Database: *neo4jDatabase, Label: *neo4jLabel, DeleteCrossing: *neo4jDeleteCrossing, RestoreAs: restoreAs})
		if err != nil {
			return err
		}
		if err := m.Register(converting(exp, false, *intoPartial)); err != nil {
			return err
		}
	}

	if *qdrantURL != "" {
		mode, err := qdrantexp.ParseMode(*qdrantMode)
		if err != nil {
			return err
		}
		var colls []string
		if *qdrantCollections != "" {
			colls = strings.Split(*qdrantCollections, ",")
		}
		key := *qdrantKey
		if key == "" {
			key = os.Getenv("QDRANT_API_KEY")
		}
		cfg := qdrantexp.Config{URL: *qdrantURL, GRPC: *qdrantGRPC, APIKey: key}
		if strings.HasPrefix(*qdrantURL, "https:") {
			cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		restoreAs, err := parsePairs("qdrant-restore-as", *qdrantRestoreAs)
		if err != nil {
			return err
		}
		exp, err := qdrantexp.New(cfg, qdrantexp.Options{Collections: colls, Mode: mode, RestoreAs: restoreAs})
		if err != nil {
			return err
		}
		defer exp.Close()
		if err := m.Register(converting(exp, false, *intoPartial)); err != nil {
			return err
		}
	}

	arg := func() (string, error) {
		if len(rest) != 1 {
			return "", fmt.Errorf("%s takes one argument", cmd)
		}
		return rest[0], nil
	}
	switch cmd {
	case "create":
		man, err := m.Create(ctx, nil)
		if err != nil {
			return err
		}
		for _, b := range man.Backends {
			fmt.Fprintf(stdout, "%s (%s): %d files %v\n", b.Name, b.Kind, len(b.Files), b.Stats)
		}
		fmt.Fprintln(stdout, man.ID)
		return nil
	case "list":
		list, err := m.List(ctx)
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tSIZE\tBACKENDS\tLABELS")
		for _, b := range list {
			var names []string
			for _, be := range b.Manifest.Backends {
				names = append(names, be.Name)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%v\n", b.Manifest.ID, b.Manifest.CreatedAt.Format("2006-01-02 15:04:05Z"), b.Size, strings.Join(names, ","), b.Manifest.Labels)
		}
		tw.Flush()
		return err
	case "inspect":
		id, err := arg()
		if err != nil {
			return err
		}
		b, err := m.Get(ctx, id)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(b.Manifest)
	case "verify":
		id, err := arg()
		if err != nil {
			return err
		}
		if err := m.Verify(ctx, id); err != nil {
			return err
		}
		fmt.Fprintln(stdout, id, "OK")
		return nil
	case "restore":
		id, err := arg()
		if err != nil {
			return err
		}
		ro := &ngbak.RestoreOptions{NoSafetyBackup: *noSafety}
		if *backends != "" {
			ro.Backends = strings.Split(*backends, ",")
		}
		if ro.Into, err = parseInto(*into); err != nil {
			return err
		}
		if *dryRun {
			p, err := m.Plan(ctx, id, ro)
			if err != nil {
				return err
			}
			printPlan(stdout, p)
			return nil
		}
		res, err := m.Restore(ctx, id, ro)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "restored %s into %s\n", id, strings.Join(res.Backends, ", "))
		if res.SafetyID != "" {
			fmt.Fprintf(stdout, "the state before is kept as %s (restore it to undo)\n", res.SafetyID)
		}
		return nil
	case "export":
		if len(rest) != 2 {
			return errors.New("export takes a backup id and a file (- for stdout)")
		}
		return export(ctx, m, opts.Storage, rest[0], rest[1], stdout, prog.event)
	case "delete":
		id, err := arg()
		if err != nil {
			return err
		}
		return m.Delete(ctx, id)
	case "check":
		rep, err := m.CheckRepository(ctx, ngbak.CheckOptions{ReadData: *readData, RemoveUnused: *removeUnused})
		if rep != nil {
			fmt.Fprintf(stdout, "%d backups use %d chunks; %d stored, %d missing, %d damaged, %d unused, %d removed\n",
				rep.Lists, rep.Chunks, rep.Stored, len(rep.Missing), len(rep.Damaged), len(rep.Unused), rep.Removed)
			for _, c := range append(rep.Missing, rep.Damaged...) {
				fmt.Fprintln(stdout, "  ", c)
			}
			if rep.Skipped != "" {
				fmt.Fprintln(stdout, "nothing removed:", rep.Skipped)
			}
		}
		return err
	case "prune":
		ds, err := m.Prune(ctx, policy, !*confirm)
		for _, d := range ds {
			verdict := "remove"
			if d.Keep {
				verdict = "keep   " + strings.Join(d.Reasons, ",")
			} else if *confirm {
				verdict = "removed"
			}
			fmt.Fprintf(stdout, "%s  %s\n", d.Backup.Manifest.ID, verdict)
		}
		if err == nil && !*confirm {
			fmt.Fprintln(stdout, "dry run: nothing deleted; add -confirm to delete")
		}
		return err
	case "import":
		name, err := arg()
		if err != nil {
			return err
		}
		var r io.Reader = os.Stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		man, err := m.Import(ctx, r)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, man.ID)
		return nil
	case "import-legacy":
		name, err := arg()
		if err != nil {
			return err
		}
		co := legacy.ConvertOptions{AcceptUnverified: *legacyUnverified}
		if co.KV, err = legacy.ParseKVTarget(*legacyKV); err != nil {
			return err
		}
		if *legacyChecksum != "" {
			if co.Sidecar, err = os.ReadFile(*legacyChecksum); err != nil {
				return err
			}
		}
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		man, res, err := legacy.Convert(ctx, f, opts, co)
		if res != nil {
			fmt.Fprintf(stdout, "old backup %s: checksum %s; manifest %s", res.BackupID, res.Checksum, okWord(res.ManifestOK))
			if res.SidecarChecked {
				fmt.Fprintf(stdout, ", .checksum file %s", okWord(res.SidecarOK))
			}
			fmt.Fprintln(stdout)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, man.ID)
		return nil
	}
	fs.Usage()
	return fmt.Errorf("unknown command %q", cmd)
}

// parseAnywhere parses flags before, between and after the positional
// arguments (restore ID -no-safety-backup), which flag.Parse alone stops
// at, and returns the positional ones; after "--" every argument is
// positional.
func parseAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag.Parse drops a "--" it stops at: what follows is positional.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// listFlag collects a repeatable flag whose values may also be
// comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, strings.Split(v, ",")...)
	return nil
}

func okWord(ok bool) string {
	if ok {
		return "matches"
	}
	return "DOES NOT MATCH"
}

// redisClient connects to one Redis (a redis:// URL) or, given several
// addresses, to a cluster; credentials come from the first URL.
func redisClient(addrs []string) (redis.UniversalClient, error) {
	if len(addrs) == 1 {
		opts, err := redis.ParseURL(addrs[0])
		if err != nil {
			return nil, err
		}
		return redis.NewClient(opts), nil
	}
	cluster := &redis.ClusterOptions{}
	for _, a := range addrs {
		if !strings.Contains(a, "://") {
			cluster.Addrs = append(cluster.Addrs, a)
			continue
		}
		opts, err := redis.ParseURL(a)
		if err != nil {
			return nil, err
		}
		cluster.Addrs = append(cluster.Addrs, opts.Addr)
		if cluster.Password == "" {
			cluster.Username, cluster.Password, cluster.TLSConfig = opts.Username, opts.Password, opts.TLSConfig
		}
	}
	return redis.NewClusterClient(cluster), nil
}
