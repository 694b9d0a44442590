package legacy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/pyjson"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/neo4jexp"
	"github.com/ngbak/ngbak/qdrantexp"
	"github.com/ngbak/ngbak/redisexp"
)

// KVTarget says where an old archive's kv/<namespace>.json go.
type KVTarget int

const (
	// KVRedis makes each namespace a Redis KV namespace (redisexp).
	KVRedis KVTarget = iota
	// KVJSON makes each namespace the working directory's
	// kv_store_<namespace>.json (jsonexp), nano-graphrag's file store.
	KVJSON
)

// ParseKVTarget parses "redis" or "json".
func ParseKVTarget(s string) (KVTarget, error) {
	switch s {
	case "redis":
		return KVRedis, nil
	case "json":
		return KVJSON, nil
	}
	return 0, fmt.Errorf("legacy: unknown KV target %q (redis or json)", s)
}

// ConvertOptions configure Convert.
type ConvertOptions struct {
	// Sidecar is the content of <backup_id>.checksum; nil if there is none.
	Sidecar []byte
	// AcceptUnverified converts an archive whose checksum does not match.
	// The new backup is labelled legacy.verified=false; without this, a
	// mismatch is an error and nothing is written.
	AcceptUnverified bool
	// KV is where the KV namespaces go.
	KV KVTarget
	// The backend names of the new backup; they must be the names of the
	// exporters that will restore it. Empty means each package's default:
	// "graph", "qdrant", "kv" and "json".
	GraphName, VectorName, KVName, JSONName string
	Limits                                  Limits
}

// Convert reads an old archive, verifies it with the old system's checksum
// (and the sidecar when given), and stores it as an ngbak/1 backup through
// a Manager made with opts, the caller's storage, temporary folder,
// compression and encryption (opts.AppConfig and the hooks are replaced).
// The new backup holds, by backend:
//
//	graph/neo4j.dump            -> GraphName  (neo4jexp; the APOC cypher-shell script, run as it is)
//	qdrant/<c>.snapshot         -> VectorName (qdrantexp, snapshot format; aliases and counts unknown)
//	kv/<ns>.json                -> KVName     (redisexp KV records, values as json.dumps writes them, no TTL) with KVRedis,
//	                               JSONName   (jsonexp, kv_store_<ns>.json byte for byte) with KVJSON
//	config/graphrag_config.json -> the manifest's app config, secrets redacted
//
// and the old manifest's fields as labels legacy.<field> (objects as JSON),
// with legacy.checksum, legacy.verified and legacy.checks (which checks
// passed). A member the conversion does not know is an error: nothing of an
// old archive is dropped silently. Restoring the KVJSON form with jsonexp
// replaces the files matching its patterns: give it Patterns
// []string{"kv_store_*.json"} when graph and vectors live elsewhere.
func Convert(ctx context.Context, r io.Reader, opts ngbak.Options, co ConvertOptions) (_ *ngbak.Manifest, _ *Result, err error) {
	a, err := open(ctx, r, co.Sidecar, opts.TempDir, co.Limits)
	if err != nil {
		return nil, nil, err
	}
	defer func() { err = errors.Join(err, a.close()) }()
	res := &a.Result
	mismatch := a.mismatch()
	if mismatch != nil && !co.AcceptUnverified {
		return nil, res, mismatch
	}
	co.GraphName = cmpOr(co.GraphName, "graph")
	co.VectorName = cmpOr(co.VectorName, "qdrant")
	co.KVName = cmpOr(co.KVName, "kv")
	co.JSONName = cmpOr(co.JSONName, "json")

	labels, err := oldLabels(a, mismatch == nil)
	if err != nil {
		return nil, res, err
	}
	var appConfig any
	var graph, vectors, kv *replay
	for _, name := range a.Files {
		sec := a.files[name]
		dir, file, _ := strings.Cut(name, "/")
		switch {
		case name == "manifest.json":
		case name == "config/graphrag_config.json":
			var cfg map[string]any
			if err := json.NewDecoder(sec).Decode(&cfg); err != nil {
				return nil, res, fmt.Errorf("legacy: %s: %w", name, err)
			}
			appConfig = cfg
		case name == "graph/neo4j.dump":
			graph = &replay{name: co.GraphName, kind: neo4jexp.Kind, format: neo4jexp.Format}
			graph.files = append(graph.files, replayFile{"neo4j.dump", sec})
		case dir == "qdrant" && strings.HasSuffix(file, ".snapshot") && !strings.Contains(file, "/"):
			if vectors == nil {
				vectors = &replay{name: co.VectorName, kind: qdrantexp.Kind, format: qdrantexp.SnapshotFormat}
			}
			c := strings.TrimSuffix(file, ".snapshot")
			vectors.files = append(vectors.files, replayFile{c + "/collection.snapshot", sec})
		case dir == "kv" && strings.HasSuffix(file, ".json") && !strings.Contains(file, "/"):
			ns := strings.TrimSuffix(file, ".json")
			if kv == nil {
				kv = &replay{name: co.KVName, kind: redisexp.KVKind, format: redisexp.KVFormat}
				if co.KV == KVJSON {
					kv = &replay{name: co.JSONName, kind: jsonexp.Kind, format: jsonexp.Format}
				}
			}
			if err := checkObject(name, sec); err != nil {
				return nil, res, err
			}
			if co.KV == KVJSON {
				kv.files = append(kv.files, replayFile{"kv_store_" + ns + ".json", sec})
			} else {
				kv.namespaces = append(kv.namespaces, replayFile{ns, sec})
			}
		default:
			return nil, res, fmt.Errorf("legacy: the archive holds %q, which the conversion does not know; nothing was converted", name)
		}
	}
	if vectors != nil {
		var snaps []qdrantexp.SnapshotFile
		for _, f := range vectors.files {
			sum, err := sha256Of(f.r)
			if err != nil {
				return nil, res, err
			}
			snaps = append(snaps, qdrantexp.SnapshotFile{Collection: strings.TrimSuffix(f.name, "/collection.snapshot"), Size: f.r.Size(), SHA256: sum})
		}
		if vectors.details, err = qdrantexp.SnapshotDetails(snaps); err != nil {
			return nil, res, fmt.Errorf("legacy: %w", err)
		}
	}

	opts.AppConfig = appConfig
	opts.BeforeCreate, opts.AfterCreate = nil, nil
	m, err := ngbak.New(opts)
	if err != nil {
		return nil, res, err
	}
	for _, rp := range []*replay{graph, vectors, kv} {
		if rp != nil {
			if err := m.Register(rp); err != nil {
				return nil, res, err
			}
		}
	}
	man, err := m.Create(ctx, &ngbak.CreateOptions{Labels: labels})
	if err != nil {
		return nil, res, err
	}
	return man, res, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// oldLabels keeps the old manifest's fields, and what the checks found.
func oldLabels(a *archive, verified bool) (map[string]string, error) {
	v, err := decodeOrdered(a.Manifest)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	obj := v.(*object)
	for i, k := range obj.keys {
		switch val := obj.values[i].(type) {
		case string:
			labels["legacy."+k] = val
		default:
			b, err := json.Marshal(plain(val))
			if err != nil {
				return nil, err
			}
			labels["legacy."+k] = string(b)
		}
	}
	labels["legacy.computed_checksum"] = a.Checksum
	labels["legacy.verified"] = fmt.Sprint(verified)
	var checks []string
	if a.ManifestOK {
		checks = append(checks, "manifest")
	}
	if a.SidecarOK {
		checks = append(checks, "sidecar")
	}
	labels["legacy.checks"] = strings.Join(checks, ",")
	return labels, nil
}

// plain turns the ordered decoding back into values encoding/json writes.
func plain(v any) any {
	switch x := v.(type) {
	case *object:
		m := map[string]any{}
		for i, k := range x.keys {
			m[k] = plain(x.values[i])
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

// checkObject makes sure a KV file is a JSON object: the old system once
// wrote lists there (its defect 9), which no store can take back.
func checkObject(name string, sec *io.SectionReader) error {
	err := eachEntry(sec, func(_ string, _ json.RawMessage) error { return nil })
	if errors.Is(err, pyjson.ErrNotObject) {
		return fmt.Errorf("legacy: %s: %w; the old system wrote lists here by mistake", name, err)
	}
	if err != nil {
		return fmt.Errorf("legacy: %s: %w", name, err)
	}
	return nil
}

// eachEntry streams the entries of a KV file from its start.
func eachEntry(sec *io.SectionReader, fn func(key string, value json.RawMessage) error) error {
	return pyjson.EachMember(io.NewSectionReader(sec, 0, sec.Size()), fn)
}

// replay is an exporter that writes an old archive's files in a backend's
// format; it is registered only to create the converted backup.
type replay struct {
	name, kind, format string
	files              []replayFile // written as they are
	namespaces         []replayFile // Redis KV namespaces, converted to records
	details            json.RawMessage
}

type replayFile struct {
	name string
	r    *io.SectionReader
}

func (rp *replay) Name() string { return rp.name }
func (rp *replay) Kind() string { return rp.kind }

func (rp *replay) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	info := ngbak.Info{Format: rp.format, Stats: map[string]int64{}, Details: rp.details}
	for _, f := range rp.files {
		if err := w.WriteFile(f.name, f.r.Size(), io.NewSectionReader(f.r, 0, f.r.Size())); err != nil {
			return info, err
		}
	}
	if len(rp.files) > 0 {
		info.Stats["files"] = int64(len(rp.files))
	}
	slices.SortFunc(rp.namespaces, func(a, b replayFile) int { return strings.Compare(a.name, b.name) })
	for _, ns := range rp.namespaces {
		pw := w.Parts(ns.name, ".jsonl")
		var n int64
		var value []byte
		err := eachEntry(ns.r, func(key string, raw json.RawMessage) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			var err error
			if value, err = pyjson.Dumps.Append(value[:0], raw, 0); err != nil {
				return fmt.Errorf("value of %q: %w", key, err)
			}
			n++
			return pw.Append(redisexp.AppendRecord(pw.Buffer(), []byte(key), value))
		})
		if err == nil {
			err = pw.Close()
		}
		if err != nil {
			return info, fmt.Errorf("legacy: kv/%s.json: %w", ns.name, err)
		}
		info.Stats["keys"] += n
		info.Stats["keys."+ns.name] = n
	}
	if len(rp.namespaces) > 0 {
		info.Stats["namespaces"] = int64(len(rp.namespaces))
	}
	return info, nil
}

func (rp *replay) Restore(context.Context, *ngbak.Reader) error {
	return errors.New("legacy: a conversion exporter does not restore; register the backend's own exporter")
}

func sha256Of(sec *io.SectionReader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(sec, 0, sec.Size())); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
