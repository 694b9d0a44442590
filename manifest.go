package ngbak

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Format is the archive format this package writes and reads.
const Format = "ngbak/1"

// Version is the library version recorded in every manifest.
const Version = "0.1.0"

// Manifest describes one backup. It is the last entry of the archive and is
// also stored beside it as <id>.manifest.json, where it is what List reads.
type Manifest struct {
	Format      string    `json:"format"`
	ID          string    `json:"id"`
	CreatedAt   time.Time `json:"created_at"`
	CompletedAt time.Time `json:"completed_at"`
	Library     string    `json:"library_version"`
	// App names the application whose stores were backed up (optional).
	App *App `json:"app,omitempty"`
	// Labels are free-form annotations chosen by the caller. ngbak itself sets
	// LabelSafetyFor on the safety backups that Restore takes.
	Labels map[string]string `json:"labels,omitempty"`
	// Config is the application's configuration at backup time, with every
	// secret redacted (see Options.AppConfig). It is informational: ngbak never
	// restores it.
	Config      json.RawMessage `json:"config,omitempty"`
	Compression string          `json:"compression"`
	// Encryption names the encryption of the archive ("age"), if any. The
	// sidecar manifest of an encrypted backup is then only its public part
	// (see Encryption).
	Encryption string    `json:"encryption,omitempty"`
	Backends   []Backend `json:"backends"`
	// PayloadSHA256 is the SHA-256 of the archive's SHA256SUMS entry, which
	// lists every file's hash: one digest for the whole payload that never has
	// to contain itself.
	PayloadSHA256 string `json:"payload_sha256"`
}

// App identifies the application that owns the backed-up stores.
type App struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

// Backend is one exporter's part of a backup.
type Backend struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Format is the exporter's own format version for its files.
	Format string `json:"format"`
	// ServerVersion is what the store reported about itself at export time.
	ServerVersion string `json:"server_version,omitempty"`
	// Stats holds counts such as nodes, relationships, points or keys.
	Stats map[string]int64 `json:"stats,omitempty"`
	// Size is the sum of the sizes of Files: the payload bytes of the
	// backend, in the sidecar manifest too (which lists no files), so that
	// Verify and Restore can report a backend's progress against its total
	// before they read it. Backups made before it was recorded have 0.
	// Readers are strict about a manifest's fields (a field they do not
	// know is ErrCorrupt), so ngbak builds from before this field refuse
	// backups that carry it; the other way round reads.
	Size int64 `json:"size,omitempty"`
	// Details is the exporter's own record of the store (Info.Details).
	// An encrypted backup's public manifest leaves it out.
	Details json.RawMessage `json:"details,omitempty"`
	// Files lists the backend's files in archive order. Paths include the
	// backend's folder ("json/kv_store_full_docs.json").
	Files []File `json:"files"`
}

// File is one archive entry written by an exporter.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// LabelSafetyFor is the label Restore puts on the safety backup it takes
// before replacing the stores; its value is the id of the backup restored.
const LabelSafetyFor = "ngbak.safety-for"

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// maxIDLength keeps ids usable as file and object names on every platform.
const maxIDLength = 128

// ValidID reports whether id may name a backup. Every id that comes from
// outside is checked with it before it touches a path.
func ValidID(id string) bool {
	return len(id) <= maxIDLength && idPattern.MatchString(id) && !strings.Contains(id, "..")
}

// ownIDPattern is the shape of the ids NewID makes. Clean-up takes only
// these: a valid id of another shape may be another tool's.
var ownIDPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{6}$`)

func ownID(id string) bool { return ownIDPattern.MatchString(id) }

// ownName reports whether an object name is one that a Manager writes for
// an id of its own shape.
func ownName(name string) bool {
	if dedupOwnName(name) {
		return true
	}
	for _, suffix := range ownSuffixes {
		if id, ok := strings.CutSuffix(name, suffix); ok && ownID(id) {
			return true
		}
	}
	return false
}

// ownSuffixes are the suffixes of the objects a Manager writes beside an id.
var ownSuffixes = []string{".ngbak", ".ngbak.sha256", ".manifest.json", markerSuffix}

func checkID(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}

// validName reports whether s may name a backend (and so its folder).
func validName(s string) bool {
	return len(s) <= 64 && idPattern.MatchString(s) && !strings.Contains(s, ".")
}

var idClock struct {
	sync.Mutex
	last time.Time
}

// NewID returns a backup id such as 20261121T224015.123Z-3f9a2c: UTC time to
// the millisecond, so ids sort by time, and 24 random bits, so two processes
// starting a backup in the same millisecond still get different ids. Within
// one process ids are strictly increasing.
func NewID(now time.Time) string {
	idClock.Lock()
	now = now.UTC().Truncate(time.Millisecond)
	if !now.After(idClock.last) {
		now = idClock.last.Add(time.Millisecond)
	}
	idClock.last = now
	idClock.Unlock()
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return now.Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b[:])
}

// maxManifestSize bounds the manifest and SHA256SUMS entries, which are read
// whole into memory.
var maxManifestSize = 64 << 20

// ParseManifest decodes and validates a manifest. It rejects unknown formats
// (ErrIncompatible) and anything malformed (ErrCorrupt): invalid ids, paths
// or hashes, files outside their backend's folder, duplicates.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > maxManifestSize {
		return nil, fmt.Errorf("%w: manifest is %d bytes, limit %d", ErrCorrupt, len(data), maxManifestSize)
	}
	// Peek at the format first so that a future format gets the clearer error.
	var head struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	if head.Format != Format {
		return nil, fmt.Errorf("%w: manifest format %q, this library reads %q", ErrIncompatible, head.Format, Format)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: manifest: data after the JSON object", ErrCorrupt)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	if !ValidID(m.ID) {
		return fmt.Errorf("invalid id %q", m.ID)
	}
	if m.Compression != "zstd" {
		return fmt.Errorf("unknown compression %q", m.Compression)
	}
	if !isHexSHA256(m.PayloadSHA256) && !(m.Encryption != "" && m.PayloadSHA256 == "") {
		return fmt.Errorf("payload_sha256 %q is not a SHA-256 hex digest", m.PayloadSHA256)
	}
	names := map[string]bool{}
	paths := map[string]bool{}
	for _, b := range m.Backends {
		if !validName(b.Name) {
			return fmt.Errorf("invalid backend name %q", b.Name)
		}
		if names[b.Name] {
			return fmt.Errorf("backend %q listed twice", b.Name)
		}
		names[b.Name] = true
		if b.Kind == "" {
			return fmt.Errorf("backend %q has no kind", b.Name)
		}
		var size int64
		for _, f := range b.Files {
			size += f.Size
			if err := checkPath(f.Path); err != nil {
				return fmt.Errorf("backend %q: %v", b.Name, err)
			}
			if !strings.HasPrefix(f.Path, b.Name+"/") {
				return fmt.Errorf("backend %q: file %q is outside its folder", b.Name, f.Path)
			}
			if paths[f.Path] {
				return fmt.Errorf("file %q listed twice", f.Path)
			}
			paths[f.Path] = true
			if f.Size < 0 {
				return fmt.Errorf("file %q has negative size", f.Path)
			}
			if !isHexSHA256(f.SHA256) {
				return fmt.Errorf("file %q: sha256 %q is not a SHA-256 hex digest", f.Path, f.SHA256)
			}
		}
		// A summary lists no files; a manifest from before Size was
		// recorded has none.
		if b.Size < 0 || len(b.Files) > 0 && b.Size != 0 && b.Size != size {
			return fmt.Errorf("backend %q: size %d, its files hold %d bytes", b.Name, b.Size, size)
		}
	}
	return nil
}

// payloadSize is the backend's Size, or for a manifest from before it was
// recorded the sum of its files (0 if it lists none).
func (b *Backend) payloadSize() int64 {
	if b.Size != 0 {
		return b.Size
	}
	var n int64
	for _, f := range b.Files {
		n += f.Size
	}
	return n
}

// files returns every file of the manifest in archive order.
func (m *Manifest) files() []File {
	var fs []File
	for _, b := range m.Backends {
		fs = append(fs, b.Files...)
	}
	return fs
}

// Backend returns the named backend of the manifest.
func (m *Manifest) Backend(name string) (*Backend, bool) {
	for i := range m.Backends {
		if m.Backends[i].Name == name {
			return &m.Backends[i], true
		}
	}
	return nil, false
}

// public returns what the sidecar manifest of an encrypted backup shows:
// the id, the times, the library, the compression and encryption, and each
// backend's name, kind, format, statistics and size. Not the files (their names
// can tell what the stores hold), the payload digest, the server versions,
// the app, the caller's labels or the config.
func (m *Manifest) public() *Manifest {
	p := &Manifest{Format: m.Format, ID: m.ID, CreatedAt: m.CreatedAt, CompletedAt: m.CompletedAt, Library: m.Library,
		Compression: m.Compression, Encryption: m.Encryption}
	// ngbak's own labels are public: Prune must tell a safety backup from
	// the others without a key.
	for k, v := range m.Labels {
		if strings.HasPrefix(k, "ngbak.") {
			if p.Labels == nil {
				p.Labels = map[string]string{}
			}
			p.Labels[k] = v
		}
	}
	for _, b := range m.Backends {
		p.Backends = append(p.Backends, Backend{Name: b.Name, Kind: b.Kind, Format: b.Format, Stats: b.Stats, Size: b.Size, Files: []File{}})
	}
	return p
}

// summary returns what the sidecar manifest of an unencrypted backup
// holds: everything but the file lists, which can be hundreds of MiB and
// which List has no use for. The archive's own manifest has them.
func (m *Manifest) summary() *Manifest {
	s := *m
	s.Backends = make([]Backend, len(m.Backends))
	for i, b := range m.Backends {
		b.Files = []File{}
		s.Backends[i] = b
	}
	return &s
}

// marshal gives the manifest's stored form: indented JSON with a final newline.
func (m *Manifest) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// checkPath enforces what an entry name may be: relative, slash-separated,
// clean, with no empty, "." or ".." component and no backslash or NUL.
func checkPath(p string) error {
	if p == "" || len(p) > 1024 {
		return fmt.Errorf("invalid path %q", p)
	}
	if strings.ContainsAny(p, "\\\x00") || strings.HasPrefix(p, "/") {
		return fmt.Errorf("invalid path %q", p)
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("invalid path %q", p)
		}
	}
	return nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Sentinel errors. Errors returned by this package wrap them, so test with
// errors.Is.
var (
	// ErrNotFound: no backup (or backend) by that name.
	ErrNotFound = errors.New("not found")
	// ErrExists: a backup with that id is already stored.
	ErrExists = errors.New("already exists")
	// ErrChecksum: data does not match the hash recorded for it.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrCorrupt: an archive or manifest is malformed, truncated, hostile or
	// larger than the limits allow.
	ErrCorrupt = errors.New("corrupt archive")
	// ErrInvalidID: an id that is not a valid backup id.
	ErrInvalidID = errors.New("invalid backup id")
	// ErrIncompatible: the archive cannot be restored by this library or these
	// exporters (unknown format, backend not registered, kind differs).
	ErrIncompatible = errors.New("incompatible backup")
	// ErrBusy: the backup is in use (being restored or verified, or the
	// safety backup of a restore) and cannot be deleted; or a Create or
	// Restore cannot start while another runs (see Manager.Restore); or an
	// object of that name is being written by another writer.
	ErrBusy = errors.New("backup in use")
	// ErrKey: the archive is encrypted and no key given opens it.
	ErrKey = errors.New("no key for this archive")
)
