package agecrypt_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/agecrypt"
	"github.com/ngbak/ngbak/jsonexp"
)

const secretText = "the documents of a knowledge graph"

type env struct {
	m     *ngbak.Manager
	dir   string
	work  string
	store string
}

func newEnv(t *testing.T, enc ngbak.Encryption, dir string) *env {
	e := &env{dir: dir, work: t.TempDir()}
	if e.dir == "" {
		e.dir = t.TempDir()
	}
	e.store = filepath.Join(e.work, "kv_store_full_docs.json")
	os.WriteFile(e.store, []byte(`{"doc-1": {"content": "`+secretText+`"}}`), 0o644)
	exp, _ := jsonexp.New(jsonexp.Options{Dir: e.work})
	opts := ngbak.Options{Storage: ngbak.Dir(e.dir), TempDir: t.TempDir(), AppConfig: map[string]string{"model": "secret-model-name"}}
	if enc != nil {
		opts.Encryption = enc
	}
	m, err := ngbak.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	m.Register(exp)
	e.m = m
	return e
}

func key(t *testing.T) (*age.X25519Identity, *agecrypt.Encryption) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := agecrypt.New([]age.Recipient{id.Recipient()}, []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	return id, enc
}

// detailed is an exporter whose manifest details name something private.
type detailed struct{}

func (detailed) Name() string { return "detailed" }
func (detailed) Kind() string { return "test" }
func (detailed) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	return ngbak.Info{Format: "test/1", Details: []byte(`{"collection": "secret-collection-name"}`)}, w.WriteFile("x", 1, strings.NewReader("x"))
}
func (detailed) Restore(_ context.Context, r *ngbak.Reader) error {
	for {
		if _, _, err := r.Next(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
	}
}

func TestRoundTripAndWhatShows(t *testing.T) {
	ctx := context.Background()
	_, enc := key(t)
	e := newEnv(t, enc, "")
	if err := e.m.Register(detailed{}); err != nil {
		t.Fatal(err)
	}
	man, err := e.m.Create(ctx, &ngbak.CreateOptions{Labels: map[string]string{"note": "secret-label"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(man.Backends[1].Details), "secret-collection-name") {
		t.Fatalf("the full manifest lost the backend's details: %s", man.Backends[1].Details)
	}
	archive, _ := os.ReadFile(filepath.Join(e.dir, man.ID+".ngbak"))
	if !bytes.HasPrefix(archive, []byte("age-encryption.org/v1\n")) {
		t.Fatalf("the archive is not an age file: %.30q", archive)
	}
	// The .sha256 sidecar covers the ciphertext: checkable without a key.
	sum := sha256.Sum256(archive)
	side, _ := os.ReadFile(filepath.Join(e.dir, man.ID+".ngbak.sha256"))
	if !strings.HasPrefix(string(side), hex.EncodeToString(sum[:])+"  ") {
		t.Fatalf("sidecar %q does not match the ciphertext", side)
	}
	// The sidecar manifest shows ids, times, backends and counts, nothing of
	// what the archive protects.
	pub, _ := os.ReadFile(filepath.Join(e.dir, man.ID+".manifest.json"))
	for _, leak := range []string{"kv_store_full_docs", "secret-label", "secret-model-name", "secret-collection-name", secretText, "payload_sha256\": \"" + man.PayloadSHA256} {
		if bytes.Contains(pub, []byte(leak)) || bytes.Contains(archive, []byte(leak)) {
			t.Errorf("%q shows in the sidecar manifest or the archive", leak)
		}
	}
	for _, shown := range []string{man.ID, `"encryption": "age"`, `"files": 1`, `"name": "json"`} {
		if !bytes.Contains(pub, []byte(shown)) {
			t.Errorf("the sidecar manifest does not show %q:\n%s", shown, pub)
		}
	}
	list, err := e.m.List(ctx)
	if err != nil || len(list) != 1 || list[0].Manifest.Encryption != "age" {
		t.Fatalf("List = %v, %v", list, err)
	}
	if err := e.m.Verify(ctx, man.ID); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(e.store, []byte("{}"), 0o644)
	res, err := e.m.Restore(ctx, man.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(e.store); !strings.Contains(string(data), secretText) {
		t.Fatalf("after restore: %s", data)
	}
	// The safety backup is encrypted too, and restores.
	if _, err := e.m.Restore(ctx, res.SafetyID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(e.store); string(data) != "{}" {
		t.Fatalf("after restoring the safety backup: %s", data)
	}
}

// A wrong or missing key is ErrKey, and nothing is touched.
func TestWrongOrMissingKey(t *testing.T) {
	ctx := context.Background()
	_, enc := key(t)
	e := newEnv(t, enc, "")
	man, err := e.m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, other := key(t)
	for name, enc := range map[string]ngbak.Encryption{"wrong key": other, "no key": nil} {
		o := newEnv(t, enc, e.dir)
		os.WriteFile(o.store, []byte(`{"untouched": true}`), 0o644)
		if err := o.m.Verify(ctx, man.ID); !errors.Is(err, ngbak.ErrKey) {
			t.Errorf("%s: Verify = %v", name, err)
		}
		if _, err := o.m.Restore(ctx, man.ID, nil); !errors.Is(err, ngbak.ErrKey) {
			t.Errorf("%s: Restore = %v", name, err)
		}
		if data, _ := os.ReadFile(o.store); string(data) != `{"untouched": true}` {
			t.Errorf("%s: store touched", name)
		}
		f, _ := os.Open(filepath.Join(e.dir, man.ID+".ngbak"))
		if _, err := newEnv(t, enc, "").m.Import(ctx, f); !errors.Is(err, ngbak.ErrKey) {
			t.Errorf("%s: Import = %v", name, err)
		}
		f.Close()
	}
}

// Tampered ciphertext and a tampered sidecar manifest are refused.
func TestTampered(t *testing.T) {
	ctx := context.Background()
	_, enc := key(t)
	e := newEnv(t, enc, "")
	man, err := e.m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.dir, man.ID+".ngbak")
	orig, _ := os.ReadFile(path)
	bad := bytes.Clone(orig)
	bad[len(bad)-20] ^= 1
	os.WriteFile(path, bad, 0o644)
	os.WriteFile(e.store, []byte(`{"untouched": true}`), 0o644)
	if _, err := e.m.Restore(ctx, man.ID, nil); !errors.Is(err, ngbak.ErrChecksum) {
		t.Fatalf("Restore of tampered ciphertext = %v", err)
	}
	if data, _ := os.ReadFile(e.store); string(data) != `{"untouched": true}` {
		t.Fatal("store touched")
	}
	os.WriteFile(path, orig, 0o644)
	mpath := filepath.Join(e.dir, man.ID+".manifest.json")
	pub, _ := os.ReadFile(mpath)
	os.WriteFile(mpath, bytes.Replace(pub, []byte(`"files": 1`), []byte(`"files": 2`), 1), 0o644)
	if err := e.m.Verify(ctx, man.ID); !errors.Is(err, ngbak.ErrCorrupt) {
		t.Fatalf("Verify with an edited sidecar manifest = %v", err)
	}
	os.WriteFile(mpath, pub, 0o644)
	if err := e.m.Verify(ctx, man.ID); err != nil {
		t.Fatal(err)
	}
}

// A passphrase works as well, and an encrypted archive imports with its key.
func TestPassphraseAndImport(t *testing.T) {
	ctx := context.Background()
	enc, err := agecrypt.Passphrase("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, enc, "")
	man, err := e.m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(filepath.Join(e.dir, man.ID+".ngbak"))
	defer f.Close()
	o := newEnv(t, enc, "")
	if _, err := o.m.Import(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := o.m.Verify(ctx, man.ID); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(e.dir, man.ID+".manifest.json"))
	b, _ := os.ReadFile(filepath.Join(o.dir, man.ID+".manifest.json"))
	if !bytes.Equal(a, b) {
		t.Fatalf("imported sidecar manifest differs:\n%s\n%s", a, b)
	}
	wrong, _ := agecrypt.Passphrase("wrong")
	if err := newEnv(t, wrong, e.dir).m.Verify(ctx, man.ID); !errors.Is(err, ngbak.ErrKey) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

// An upload encrypted with a passphrase chooses its own scrypt work
// factor; a hostile one asks for gigabytes of memory and many seconds per
// attempt. Passphrase refuses work factors above what it writes itself.
func TestScryptWorkFactorCapped(t *testing.T) {
	r, err := age.NewScryptRecipient("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(agecrypt.MaxScryptWorkFactor + 1)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("payload"))
	w.Close()
	enc, err := agecrypt.Passphrase("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	_, err = enc.Decrypt(bytes.NewReader(buf.Bytes()))
	if err == nil || !strings.Contains(err.Error(), "work factor") {
		t.Fatalf("Decrypt with work factor %d: %v; want it refused", agecrypt.MaxScryptWorkFactor+1, err)
	}
}
