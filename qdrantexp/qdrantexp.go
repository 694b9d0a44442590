// Package qdrantexp backs up Qdrant collections, by native snapshot or by a
// portable logical export.
//
// A nano-graphrag application keeps its vectors in two collections,
// <prefix>_entities and <prefix>_chunks (the prefix is
// QDRANT_NAMESPACE_PREFIX, or the basename of its working directory): name
// them in Options.Collections. With Collections nil the exporter backs up
// every collection on the server, and a restore then deletes every
// collection the backup does not hold, other applications' too.
//
// Snapshot mode (the default) asks the server for a snapshot of each
// collection over gRPC, streams it over REST straight into the archive
// (never whole in memory, and uncompressed: Qdrant gzips the download of a
// client that accepts gzip), checks its size and SHA-256 against the
// snapshot's description, and deletes it on the server afterwards, also
// when anything failed or the context was cancelled. Qdrant names
// snapshots by the second, and a snapshot made in the same second as
// another replaces it: the export waits for the server's clock to pass the
// newest snapshot of the collection first. Restore uploads the snapshot as
// a streamed multipart request with priority=snapshot (no checksum: the
// archive's reader checks the bytes as they go, and the request cannot
// complete unless they match), and
// then deletes the uploaded file, which Qdrant keeps in the collection's
// snapshot list (a full copy of the collection on its disk) until someone
// does. When the collection exists with the configuration and payload
// indexes the backup records, it is recovered in place, and a failed upload
// leaves it as it was; otherwise it is deleted first, since Qdrant refuses
// a snapshot whose vectors differ from the collection's and otherwise keeps
// the collection's own configuration and indexes. Snapshots restore only
// into the same or the next minor Qdrant version (CheckRestore refuses
// others before anything changes; the server itself would accept a
// downgrade), and a snapshot includes each shard's write-ahead log, so it
// can be much larger than the data. A snapshot holds the shards of the node
// that makes it: when that node does not hold every shard of a collection,
// active (a distributed deployment), snapshot mode refuses; use logical
// mode there.
//
// Logical mode scrolls every point with its payload and all its vectors
// (dense, named, sparse, multi-vector; a point with none, `vector: {}`,
// too) and writes them as Qdrant's own protobuf PointStruct messages,
// length-delimited (a varint size before each message, as protodelim
// writes), in parts of about 2 MiB, beside the collection's full
// configuration. Restore deletes and recreates the collection with that
// configuration and its payload indexes, upserts in parallel batches and
// checks the count. Floats survive bit for bit. This is the way to move a
// collection between Qdrant versions. The export refuses fields the
// go-client this package is built with does not know (a newer server's), in
// the configuration or in any point, rather than lose them. Strict mode:
// scroll pages stay within max_query_limit, and a restore creates the
// collection without strict mode and turns it on once the points are in,
// so that its own batches are not held to the application's limits. A read
// rate limit (read_rate_limit) can make a logical export fail.
//
// Archive layout, per collection C:
//
//	C/collection.snapshot    snapshot mode: the server's snapshot file, as downloaded
//	C/points/000001.pb ...   logical mode: the points
//
// The manifest records the server version and, in the backend's details,
// each collection's configuration and payload schema (Qdrant's
// CollectionInfo as protobuf JSON), its aliases, its point count and the
// snapshot's description; restore takes all but the points from there.
// Aliases are not part of a Qdrant snapshot; restore puts them back in both
// modes.
//
// Both modes read each collection on its own: no cross-collection point in
// time (pause writers with ngbak.Options.BeforeCreate). A snapshot is a
// point in time of its collection; the point count recorded beside it is
// counted just before and just after, and a restore accepts any count in
// that range.
//
// Restore replaces: with Options.Collections nil (every collection), the
// collections the backup does not hold are deleted once everything else is
// restored; with a list, a collection of the backup outside the list is an
// error, and a listed collection that did not exist at backup time (the
// backup records it as absent) is deleted. Nothing else is touched.
//
// The tests run against the real Qdrant that make test starts (1.19 and
// 1.18, from ../shared/qdrant), or any server named by NGBAK_QDRANT_URL,
// NGBAK_QDRANT_GRPC and NGBAK_QDRANT_API_KEY, and, unchanged, against the
// repository's emulator (NGBAK_QDRANT_EMULATOR=1, or no server set).
package qdrantexp

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ngbak/ngbak"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Mode is how collections are backed up.
type Mode int

const (
	// Snapshot backs up the server's native snapshot of each collection.
	Snapshot Mode = iota
	// Logical backs up every point and the configuration, portable across
	// Qdrant versions.
	Logical
)

func (m Mode) String() string {
	switch m {
	case Snapshot:
		return "snapshot"
	case Logical:
		return "logical"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode parses "snapshot" or "logical".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "snapshot":
		return Snapshot, nil
	case "logical":
		return Logical, nil
	}
	return 0, fmt.Errorf("qdrantexp: unknown mode %q (snapshot or logical)", s)
}

// Config says how to reach the server.
type Config struct {
	// URL is the REST base URL, e.g. http://localhost:6333.
	URL string
	// GRPC is the gRPC address host:port, e.g. localhost:6334.
	GRPC string
	// APIKey goes on every REST request (header api-key) and every gRPC
	// call (metadata api-key).
	APIKey string
	// TLS, when set, is used for gRPC; REST uses TLS when URL is https, with
	// this configuration if set.
	TLS *tls.Config
	// HTTPClient makes the REST requests; nil means a new client. It must
	// not have an overall Timeout: a snapshot transfer may take hours
	// (Timeouts says how long each phase may take).
	HTTPClient *http.Client
}

// Timeouts bound each phase. Zero values get the defaults.
type Timeouts struct {
	// Call bounds each small request (collection info, count, aliases, one
	// scroll page or upsert batch); default 2 minutes.
	Call time.Duration
	// Snapshot bounds the server's work on a snapshot: creating it, and
	// recovering a collection once an upload's last byte is sent; default
	// 6 hours.
	Snapshot time.Duration
	// Stall fails a download or upload that moves no byte for this long;
	// default 5 minutes.
	Stall time.Duration
}

// Options configure an Exporter.
type Options struct {
	// Name is the exporter's folder in the archive; empty means "qdrant".
	Name string
	// Collections to back up; nil means every collection on the server.
	Collections []string
	// Mode is Snapshot (the default) or Logical.
	Mode Mode
	// Batch is how many points a scroll page or an upsert carries in
	// logical mode; 0 means 256.
	Batch int
	// Workers is how many upserts run at once in a logical restore; 0
	// means 4.
	Workers  int
	Timeouts Timeouts
	// RestoreAs restores the backup's collections under other names,
	// backup's name -> name restored into, for a copy beside the source:
	// a staging clone of production. The names restored into must be in
	// Collections; their aliases are not restored.
	RestoreAs map[string]string
}

// Exporter backs up Qdrant collections. It implements ngbak.Exporter.
type Exporter struct {
	cfg    Config
	opts   Options
	base   *url.URL
	http   *http.Client
	client *qdrant.Client
}

// maxRecv is the largest gRPC answer accepted: a scroll page of large
// payloads can pass gRPC's default of 4 MiB; the scroll halves its page
// when even this is not enough.
const maxRecv = 256 << 20

// New returns an Exporter. It does not connect until it is used.
func New(cfg Config, opts Options) (*Exporter, error) {
	base, err := url.Parse(cfg.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("qdrantexp: Config.URL %q is not an http(s) URL", cfg.URL)
	}
	host, portStr, err := net.SplitHostPort(cfg.GRPC)
	if err != nil {
		return nil, fmt.Errorf("qdrantexp: Config.GRPC %q is not host:port: %w", cfg.GRPC, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("qdrantexp: Config.GRPC %q: bad port", cfg.GRPC)
	}
	if opts.Name == "" {
		opts.Name = "qdrant"
	}
	if opts.Mode != Snapshot && opts.Mode != Logical {
		return nil, fmt.Errorf("qdrantexp: unknown %v", opts.Mode)
	}
	if opts.Batch <= 0 {
		opts.Batch = 256
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	t := &opts.Timeouts
	t.Call = cmpOr(t.Call, 2*time.Minute)
	t.Snapshot = cmpOr(t.Snapshot, 6*time.Hour)
	t.Stall = cmpOr(t.Stall, 5*time.Minute)
	for _, c := range opts.Collections {
		if err := checkName(c); err != nil {
			return nil, err
		}
	}
	if err := checkRestoreAs(opts); err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg.TLS
		hc = &http.Client{Transport: tr}
	}
	// The key goes into the metadata here rather than through
	// qdrant.Config.APIKey, which logs a warning through slog's default
	// logger on every connection without TLS.
	key := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if cfg.APIKey != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "api-key", cfg.APIKey)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	client, err := qdrant.NewClient(&qdrant.Config{
		Host: host, Port: port, UseTLS: cfg.TLS != nil, TLSConfig: cfg.TLS,
		SkipCompatibilityCheck: true, PoolSize: 1,
		GrpcOptions: []grpc.DialOption{
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecv)),
			grpc.WithChainUnaryInterceptor(key),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("qdrantexp: connecting to %s: %w", cfg.GRPC, err)
	}
	return &Exporter{cfg: cfg, opts: opts, base: base, http: hc, client: client}, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// checkName refuses collection names that cannot be a folder of the
// archive; Qdrant refuses them too.
func checkName(c string) error {
	if c == "" || c == "." || c == ".." || strings.ContainsAny(c, "/\\\x00") {
		return fmt.Errorf("qdrantexp: invalid collection name %q", c)
	}
	return nil
}

// Close closes the gRPC connection.
func (e *Exporter) Close() error { return e.client.Close() }

// Name implements ngbak.Exporter.
func (e *Exporter) Name() string { return e.opts.Name }

// Kind implements ngbak.Exporter.
func (e *Exporter) Kind() string { return Kind }

// Kind is what the exporter records in the manifest; SnapshotFormat and
// LogicalFormat are its two formats.
const (
	Kind           = "qdrant"
	SnapshotFormat = "qdrant-snapshot/1"
	LogicalFormat  = "qdrant-logical/1"
)

// SnapshotFile is a collection's snapshot made elsewhere, for converters
// that write the snapshot format: its file goes to
// <collection>/collection.snapshot.
type SnapshotFile struct {
	Collection string
	Size       int64
	SHA256     string // hex
}

// SnapshotDetails returns the Info.Details of a snapshot-format backup of
// snapshots made elsewhere, whose point counts, configuration and aliases
// are not known: a restore uploads each snapshot, leaves the aliases alone
// and does not check the count.
func SnapshotDetails(files []SnapshotFile) (json.RawMessage, error) {
	d := details{Mode: Snapshot.String(), Collections: []collectionRecord{}}
	for _, f := range files {
		if err := checkName(f.Collection); err != nil {
			return nil, err
		}
		d.Collections = append(d.Collections, collectionRecord{
			Name: f.Collection, Info: json.RawMessage("{}"), Points: -1,
			Snapshot: &snapshotRecord{Name: f.Collection + ".snapshot", Size: f.Size, SHA256: f.SHA256},
		})
	}
	return json.Marshal(d)
}

// collectionRecord is one collection's entry of Info.Details; restore takes
// everything but the points from it.
type collectionRecord struct {
	Name string `json:"name"`
	// Info is the server's CollectionInfo as protobuf JSON: the
	// configuration and the payload schema.
	Info json.RawMessage `json:"info"`
	// Aliases are the aliases that pointed at the collection; null when
	// not known (a converted backup), and then left alone by a restore.
	Aliases []string `json:"aliases"`
	// Points is the exact number of points (logical mode), or the count
	// just before the snapshot (snapshot mode); -1 when not known, and then
	// not checked.
	Points int64 `json:"points"`
	// PointsAfter is the count just after the snapshot, when it differs.
	PointsAfter *int64 `json:"points_after,omitempty"`
	// Snapshot is the snapshot's description (snapshot mode).
	Snapshot *snapshotRecord `json:"snapshot,omitempty"`
}

type snapshotRecord struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// details is Info.Details.
type details struct {
	Mode string `json:"mode"`
	// All says the backup holds every collection the server had.
	All bool `json:"all"`
	// Absent are the listed collections the server did not have: a
	// restore deletes them, which is what undoes a restore that created
	// them.
	Absent      []string           `json:"absent,omitempty"`
	Collections []collectionRecord `json:"collections"`
}

// call runs a small request with the call timeout, and makes the error say
// that the caller cancelled when it did.
func (e *Exporter) call(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, e.opts.Timeouts.Call)
	defer cancel()
	if err := fn(cctx); err != nil {
		return wrap(ctx, what, err)
	}
	return nil
}

func wrap(ctx context.Context, what string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("qdrantexp: %s: %w (%v)", what, cerr, err)
	}
	return fmt.Errorf("qdrantexp: %s: %w", what, err)
}

func (e *Exporter) serverVersion(ctx context.Context) (string, error) {
	var v string
	err := e.call(ctx, "health check", func(ctx context.Context) error {
		r, err := e.client.HealthCheck(ctx)
		if err == nil {
			v = r.GetVersion()
		}
		return err
	})
	return v, err
}

// scope returns the collections to back up, sorted, whether they are all
// the server has, and the listed collections the server does not have.
func (e *Exporter) scope(ctx context.Context) (present []string, all bool, absent []string, err error) {
	var names []string
	err = e.call(ctx, "listing collections", func(ctx context.Context) error {
		var err error
		names, err = e.client.ListCollections(ctx)
		return err
	})
	if err != nil {
		return nil, false, nil, err
	}
	if e.opts.Collections == nil {
		slices.Sort(names)
		return names, true, nil, nil
	}
	for _, c := range slices.Sorted(slices.Values(e.opts.Collections)) {
		if slices.Contains(names, c) {
			present = append(present, c)
		} else {
			absent = append(absent, c)
		}
	}
	return present, false, absent, nil
}

// Export implements ngbak.Exporter.
func (e *Exporter) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	version, err := e.serverVersion(ctx)
	if err != nil {
		return ngbak.Info{}, err
	}
	names, all, absent, err := e.scope(ctx)
	if err != nil {
		return ngbak.Info{}, err
	}
	d := details{Mode: e.opts.Mode.String(), All: all, Absent: absent, Collections: []collectionRecord{}}
	stats := map[string]int64{"collections": int64(len(names)), "points": 0}
	for _, c := range names {
		var rec collectionRecord
		if e.opts.Mode == Snapshot {
			rec, err = e.exportSnapshot(ctx, w, c)
		} else {
			rec, err = e.exportLogical(ctx, w, c)
		}
		if err != nil {
			return ngbak.Info{}, fmt.Errorf("collection %q: %w", c, err)
		}
		d.Collections = append(d.Collections, rec)
		stats["points"] += rec.Points
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return ngbak.Info{}, err
	}
	format := SnapshotFormat
	if e.opts.Mode == Logical {
		format = LogicalFormat
	}
	return ngbak.Info{Format: format, ServerVersion: version, Stats: stats, Details: raw}, nil
}

// describe reads what the record holds besides the data: configuration,
// payload schema and aliases.
func (e *Exporter) describe(ctx context.Context, c string) (collectionRecord, *qdrant.CollectionInfo, error) {
	rec := collectionRecord{Name: c}
	var info *qdrant.CollectionInfo
	err := e.call(ctx, "collection info", func(ctx context.Context) (err error) {
		if info, err = e.client.GetCollectionInfo(ctx, c); err != nil {
			return err
		}
		rec.Info, err = protoJSON.Marshal(info)
		return err
	})
	if err != nil {
		return rec, nil, err
	}
	err = e.call(ctx, "listing aliases", func(ctx context.Context) error {
		var err error
		rec.Aliases, err = e.client.ListCollectionAliases(ctx, c)
		slices.Sort(rec.Aliases)
		return err
	})
	if rec.Aliases == nil {
		rec.Aliases = []string{}
	}
	return rec, info, err
}

func (e *Exporter) count(ctx context.Context, c string) (int64, error) {
	var n uint64
	err := e.call(ctx, "counting points", func(ctx context.Context) error {
		exact := true
		var err error
		n, err = e.client.Count(ctx, &qdrant.CountPoints{CollectionName: c, Exact: &exact})
		return err
	})
	return int64(n), err
}

// CheckRestore implements ngbak.RestoreChecker: it refuses, before
// anything changes, a backup it could not restore, and a snapshot from a
// server version this server does not accept.
func (e *Exporter) CheckRestore(ctx context.Context, b *ngbak.Backend) error {
	d, err := e.readDetails(b)
	if err != nil {
		return err
	}
	if b.Format == SnapshotFormat && len(d.Collections) > 0 {
		return e.checkSnapshotVersion(ctx, b.ServerVersion)
	}
	return nil
}

// readDetails reads and checks the backend's details in the manifest.
func (e *Exporter) readDetails(b *ngbak.Backend) (details, error) {
	var d details
	if b.Format != SnapshotFormat && b.Format != LogicalFormat {
		return d, fmt.Errorf("qdrantexp: unknown format %q", b.Format)
	}
	if err := json.Unmarshal(b.Details, &d); err != nil {
		return d, fmt.Errorf("qdrantexp: the manifest's details: %w", err)
	}
	for _, rec := range d.Collections {
		if err := checkName(rec.Name); err != nil {
			return d, err
		}
		if e.opts.Collections != nil && !slices.Contains(e.opts.Collections, e.restoreAs(rec).Name) {
			return d, fmt.Errorf("qdrantexp: the backup holds collection %q, which is outside Options.Collections", e.restoreAs(rec).Name)
		}
		if b.Format == SnapshotFormat && rec.Snapshot == nil {
			return d, fmt.Errorf("qdrantexp: collection %q has no snapshot in the manifest", rec.Name)
		}
		if b.Format == LogicalFormat {
			if _, err := recreate(rec); err != nil {
				return d, err
			}
		}
	}
	return d, nil
}

// Restore implements ngbak.Exporter.
func (e *Exporter) Restore(ctx context.Context, r *ngbak.Reader) error {
	b := r.Backend()
	d, err := e.readDetails(b)
	if err != nil {
		return err
	}
	records := map[string]collectionRecord{}
	var names []string
	for _, rec := range d.Collections {
		records[rec.Name] = rec
		names = append(names, rec.Name)
	}
	var cur *restoring
	var curFrom string // cur's collection in the backup
	done := map[string]bool{}
	for {
		name, size, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			cur.abort()
			return err
		}
		coll, rest, _ := strings.Cut(name, "/")
		if cur == nil || curFrom != coll {
			rec, ok := records[coll]
			if !ok || done[coll] {
				cur.abort()
				return fmt.Errorf("qdrantexp: unexpected file %q in the backup", name)
			}
			if cur != nil {
				if err := cur.finish(ctx); err != nil {
					return fmt.Errorf("collection %q: %w", cur.rec.Name, err)
				}
			}
			done[coll] = true
			curFrom = coll
			if cur, err = e.startRestore(ctx, e.restoreAs(rec), b.Format); err != nil {
				return fmt.Errorf("collection %q: %w", coll, err)
			}
		}
		switch {
		case rest == "collection.snapshot" && b.Format == SnapshotFormat:
			err = cur.snapshot(ctx, r, size)
		case strings.HasPrefix(rest, "points/") && b.Format == LogicalFormat:
			err = cur.points(ctx, r, name)
		default:
			err = fmt.Errorf("qdrantexp: unexpected file %q in the backup", name)
		}
		if err != nil {
			cur.abort()
			return fmt.Errorf("collection %q: %w", coll, err)
		}
	}
	if cur != nil {
		if err := cur.finish(ctx); err != nil {
			return fmt.Errorf("collection %q: %w", cur.rec.Name, err)
		}
	}
	for _, c := range names {
		if !done[c] {
			return fmt.Errorf("qdrantexp: the backup has no files for collection %q", c)
		}
	}
	if e.opts.Collections == nil && d.All {
		return e.deleteOthers(ctx, names)
	}
	for _, c := range d.Absent {
		if err := checkName(c); err != nil {
			return err
		}
		if e.opts.Collections != nil && !slices.Contains(e.opts.Collections, c) {
			continue
		}
		if err := e.deleteCollection(ctx, c, "which did not exist at backup time"); err != nil {
			return err
		}
	}
	return nil
}

// deleteCollection deletes a collection if it exists.
func (e *Exporter) deleteCollection(ctx context.Context, c, why string) error {
	return e.call(ctx, "deleting collection "+c+", "+why, func(ctx context.Context) error {
		ok, err := e.client.CollectionExists(ctx, c)
		if err != nil || !ok {
			return err
		}
		return e.client.DeleteCollection(ctx, c)
	})
}

// deleteOthers deletes the collections the backup does not hold.
func (e *Exporter) deleteOthers(ctx context.Context, keep []string) error {
	names, _, _, err := e.scope(ctx)
	if err != nil {
		return err
	}
	for _, c := range names {
		if slices.Contains(keep, c) {
			continue
		}
		if err := e.deleteCollection(ctx, c, "which the backup does not hold"); err != nil {
			return err
		}
	}
	return nil
}

// checkSnapshotVersion refuses early what the server would refuse late:
// Qdrant recovers snapshots only from the same or the previous minor
// version (https://qdrant.tech/documentation/concepts/snapshots/#restore-snapshot).
func (e *Exporter) checkSnapshotVersion(ctx context.Context, from string) error {
	to, err := e.serverVersion(ctx)
	if err != nil {
		return err
	}
	if !snapshotCompatible(from, to) {
		return fmt.Errorf("qdrantexp: a snapshot from server %s cannot be restored into %s (same or next minor version only); back up in logical mode to move between versions", from, to)
	}
	return nil
}

// snapshotCompatible says whether a snapshot made by server version from
// restores into version to; unknown versions are left to the server.
func snapshotCompatible(from, to string) bool {
	fm, fn, ok1 := majorMinor(from)
	tm, tn, ok2 := majorMinor(to)
	if !ok1 || !ok2 {
		return true
	}
	return fm == tm && tn >= fn && tn <= fn+1
}

func majorMinor(v string) (int, int, bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

// setAliases makes exactly the given aliases point at the collection, in
// one atomic request.
func (e *Exporter) setAliases(ctx context.Context, c string, want []string) error {
	var all []*qdrant.AliasDescription
	if err := e.call(ctx, "listing aliases", func(ctx context.Context) error {
		var err error
		all, err = e.client.ListAliases(ctx)
		return err
	}); err != nil {
		return err
	}
	var actions []*qdrant.AliasOperations
	have := map[string]bool{}
	for _, a := range all {
		switch {
		case a.CollectionName == c && slices.Contains(want, a.AliasName):
			have[a.AliasName] = true
		case a.CollectionName == c || slices.Contains(want, a.AliasName):
			actions = append(actions, qdrant.NewAliasDelete(a.AliasName))
		}
	}
	for _, a := range want {
		if !have[a] {
			actions = append(actions, qdrant.NewAliasCreate(a, c))
		}
	}
	if len(actions) == 0 {
		return nil
	}
	return e.call(ctx, "restoring aliases", func(ctx context.Context) error {
		return e.client.UpdateAliases(ctx, actions)
	})
}
