package ngbak_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/agecrypt"
)

// records makes n records of about 200 bytes that compress as text does.
func records(n int, seed uint64, prefix string) map[string]string {
	rng := rand.New(rand.NewPCG(seed, 7))
	words := strings.Fields("graph entity relation community chunk vector embedding node edge summary document keyword source target weight")
	out := map[string]string{}
	for i := range n {
		var b strings.Builder
		for b.Len() < 200 {
			b.WriteString(words[rng.IntN(len(words))])
			fmt.Fprintf(&b, " %d ", rng.IntN(1000000))
		}
		out[fmt.Sprintf("%s-%08d", prefix, i)] = b.String()
	}
	return out
}

func dedupEnv(t *testing.T, opts ngbak.Options, exps ...ngbak.Exporter) *testEnv {
	t.Helper()
	if opts.Dedup == nil {
		opts.Dedup = &ngbak.DedupOptions{AverageChunkSize: 64 << 10}
	}
	return newEnv(t, opts, exps...)
}

// chunkBytes is what the chunks of a Dir take.
func chunkBytes(t *testing.T, dir string) (n int, size int64) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "chunks"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "chunk-") {
			info, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			n++
			size += info.Size()
		}
	}
	return n, size
}

func TestDedupRoundTrip(t *testing.T) {
	ctx := context.Background()
	mem := newMem("kv", records(20000, 1, "doc"))
	work := workdir(t)
	e := dedupEnv(t, ngbak.Options{}, mem, newJSON(t, work))
	a := e.create(t)
	stateA, treeA := mem.snapshot(), readTree(t, work)
	_, sizeA := chunkBytes(t, e.dir)
	if err := e.m.Verify(ctx, a.ID); err != nil {
		t.Fatal(err)
	}

	// 1% new records: the second backup stores little.
	for k, v := range records(200, 2, "new") {
		mem.set(k, v)
	}
	b := e.create(t)
	_, sizeB := chunkBytes(t, e.dir)
	if added := sizeB - sizeA; added*100 > sizeA*10 {
		t.Errorf("a backup after adding 1%% of the records stored %d bytes of chunks, the first %d", added, sizeA)
	} else {
		t.Logf("first backup %d bytes of chunks, second adds %d (%.1f%%)", sizeA, added, 100*float64(added)/float64(sizeA))
	}

	list, err := e.m.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("List: %v, %d backups", err, len(list))
	}
	mem.set("doc-00000001", "changed")
	os.WriteFile(filepath.Join(work, "kv_store_full_docs.json"), []byte(`{}`), 0o644)
	if _, err := e.m.Restore(ctx, a.ID, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(stateA, mem.snapshot()); diff != "" {
		t.Errorf("restored records (-backup +restored):\n%s", diff)
	}
	if diff := cmp.Diff(treeA, readTree(t, work)); diff != "" {
		t.Errorf("restored working dir (-backup +restored):\n%s", diff)
	}

	// Open gives a standard archive: tar and sha256sum accept it, and a
	// Manager on a plain storage imports it.
	path := filepath.Join(t.TempDir(), b.ID+".ngbak")
	download(t, e.m, b.ID, path)
	if _, err := exec.LookPath("zstd"); err == nil {
		out := t.TempDir()
		if msg, err := exec.Command("tar", "--zstd", "-xf", path, "-C", out).CombinedOutput(); err != nil {
			t.Fatalf("tar: %v: %s", err, msg)
		}
		cmd := exec.Command("sha256sum", "-c", "--quiet", "SHA256SUMS")
		cmd.Dir = out
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sha256sum -c: %v: %s", err, msg)
		}
	}
	plain := newEnv(t, ngbak.Options{}, newMem("kv", nil), newJSON(t, t.TempDir()))
	f, _ := os.Open(path)
	if _, err := plain.m.Import(ctx, f); err != nil {
		t.Fatalf("plain Import of the dedup download: %v", err)
	}
	f.Close()
	if err := plain.m.Verify(ctx, b.ID); err != nil {
		t.Fatal(err)
	}

	// A plain archive imported into the layout is chunked and shares the
	// chunks of what it holds.
	c := plain.create(t)
	n0, _ := chunkBytes(t, e.dir)
	f, _ = os.Open(plain.archivePath(c.ID))
	if _, err := e.m.Import(ctx, f); err != nil {
		t.Fatalf("dedup Import of a plain archive: %v", err)
	}
	f.Close()
	if err := e.m.Verify(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if n1, _ := chunkBytes(t, e.dir); n1 == n0 {
		t.Errorf("Import stored no chunk")
	}
	if _, err := e.m.Restore(ctx, c.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
	rep, err := e.m.CheckRepository(ctx, ngbak.CheckOptions{ReadData: true})
	if err != nil || len(rep.Unused) > 0 || rep.Lists != 4 {
		t.Fatalf("CheckRepository: %v, %+v", err, rep)
	}
}

func download(t *testing.T, m *ngbak.Manager, id, path string) {
	t.Helper()
	rc, err := m.Open(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, rc); err != nil {
		t.Fatal(err)
	}
}

func chunkFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "chunks", "chunk-*"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no chunks in %s: %v", dir, err)
	}
	return m
}

func TestDedupDamage(t *testing.T) {
	ctx := context.Background()
	e := dedupEnv(t, ngbak.Options{}, newMem("kv", records(5000, 3, "doc")))
	a := e.create(t)
	chunks := chunkFiles(t, e.dir)

	t.Run("tampered chunk", func(t *testing.T) {
		orig := mustRead(t, chunks[0])
		defer os.WriteFile(chunks[0], orig, 0o644)
		bad := bytes.Clone(orig)
		bad[len(bad)/2] ^= 1
		os.WriteFile(chunks[0], bad, 0o644)
		if err := e.m.Verify(ctx, a.ID); !errors.Is(err, ngbak.ErrChecksum) {
			t.Errorf("Verify of a backup with a tampered chunk: %v", err)
		}
		if _, err := e.m.Restore(ctx, a.ID, nil); err == nil {
			t.Errorf("Restore of a backup with a tampered chunk worked")
		}
		rep, err := e.m.CheckRepository(ctx, ngbak.CheckOptions{ReadData: true})
		if !errors.Is(err, ngbak.ErrCorrupt) || len(rep.Damaged) != 1 || !strings.Contains(rep.Damaged[0], filepath.Base(chunks[0])) {
			t.Errorf("CheckRepository: %v %+v", err, rep)
		}
	})
	t.Run("chunk under another's name", func(t *testing.T) {
		orig := mustRead(t, chunks[0])
		defer os.WriteFile(chunks[0], orig, 0o644)
		// Another content of the same size, well compressed: only the
		// chunk's hash tells.
		zd, _ := zstd.NewReader(nil)
		plain, err := zd.DecodeAll(orig, nil)
		if err != nil {
			t.Fatal(err)
		}
		plain[0] ^= 1
		ze, _ := zstd.NewWriter(nil)
		os.WriteFile(chunks[0], ze.EncodeAll(plain, nil), 0o644)
		if err := e.m.Verify(ctx, a.ID); !errors.Is(err, ngbak.ErrChecksum) {
			t.Errorf("Verify: %v", err)
		}
		rep, err := e.m.CheckRepository(ctx, ngbak.CheckOptions{ReadData: true})
		if !errors.Is(err, ngbak.ErrCorrupt) || len(rep.Damaged) != 1 {
			t.Errorf("CheckRepository: %v %+v", err, rep)
		}
	})
	t.Run("missing chunk", func(t *testing.T) {
		orig := mustRead(t, chunks[1])
		defer os.WriteFile(chunks[1], orig, 0o644)
		os.Remove(chunks[1])
		if err := e.m.Verify(ctx, a.ID); !errors.Is(err, ngbak.ErrCorrupt) {
			t.Errorf("Verify of a backup with a missing chunk: %v", err)
		}
		rep, err := e.m.CheckRepository(ctx, ngbak.CheckOptions{})
		if !errors.Is(err, ngbak.ErrCorrupt) || len(rep.Missing) != 1 {
			t.Errorf("CheckRepository: %v %+v", err, rep)
		}
	})
	t.Run("chunk list cut short", func(t *testing.T) {
		list := e.archivePath(a.ID)
		orig := mustRead(t, list)
		defer os.WriteFile(list, orig, 0o644)
		lines := bytes.SplitAfter(orig, []byte("\n"))
		os.WriteFile(list, bytes.Join(append(lines[:2:2], lines[3:]...), nil), 0o644)
		if err := e.m.Verify(ctx, a.ID); !errors.Is(err, ngbak.ErrCorrupt) && !errors.Is(err, ngbak.ErrChecksum) {
			t.Errorf("Verify with a chunk left out of the list: %v", err)
		}
	})
	if err := e.m.Verify(ctx, a.ID); err != nil {
		t.Fatalf("after the repairs: %v", err)
	}
}

// TestDedupDeleteFreesChunks: Delete frees the chunks that only the deleted
// backup used, and no other.
func TestDedupDeleteFreesChunks(t *testing.T) {
	ctx := context.Background()
	mem := newMem("kv", records(5000, 4, "doc"))
	e := dedupEnv(t, ngbak.Options{}, mem)
	a := e.create(t)
	for k, v := range records(2000, 5, "zz") {
		mem.set(k, v)
	}
	b := e.create(t)
	nb, _ := chunkBytes(t, e.dir)
	if err := e.m.Delete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	na, _ := chunkBytes(t, e.dir)
	if na >= nb {
		t.Errorf("Delete freed no chunk: %d before, %d after", nb, na)
	}
	if err := e.m.Verify(ctx, a.ID); err != nil {
		t.Fatalf("the backup left: %v", err)
	}
	rep, err := e.m.CheckRepository(ctx, ngbak.CheckOptions{ReadData: true})
	if err != nil || len(rep.Unused) != 0 {
		t.Fatalf("CheckRepository: %v %+v", err, rep)
	}
	if _, err := e.m.Prune(ctx, ngbak.RetentionPolicy{Last: 1}, false); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := chunkBytes(t, e.dir); n != 0 {
		t.Errorf("%d chunks left after every backup was deleted", n)
	}
	// The layout's record stays, as a repository's config does.
	if left := files(t, e.dir); len(left) != 1 || left[0] != "ngbak-dedup.layout" {
		t.Errorf("left after every backup was deleted: %v", left)
	}
}

// gateExporter writes what inner writes, then waits at the gate before it
// returns: a Create that has stored (or found) every chunk but not yet
// committed its list.
type gateExporter struct {
	ngbak.Exporter
	reached, open chan struct{}
}

func (g *gateExporter) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	info, err := g.Exporter.Export(ctx, w)
	close(g.reached)
	<-g.open
	return info, err
}

// createBeside starts a Create of data in another Manager on e's storage
// and returns once its export began; finish lets the export go on and
// returns the backup.
func createBeside(t *testing.T, e *testEnv, data map[string]string) (finish func() *ngbak.Manifest) {
	gate := &gateExporter{Exporter: newMem("kv", data), reached: make(chan struct{}), open: make(chan struct{})}
	other, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(e.dir), Dedup: &ngbak.DedupOptions{AverageChunkSize: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	other.Register(gate)
	done := make(chan error, 1)
	var man *ngbak.Manifest
	go func() {
		var err error
		man, err = other.Create(context.Background(), nil)
		done <- err
	}()
	<-gate.reached
	return func() *ngbak.Manifest {
		close(gate.open)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return man
	}
}

// TestDedupDeleteDuringCreate: a Create in another Manager relies on the
// chunks of a backup that is deleted while it runs; they stay.
func TestDedupDeleteDuringCreate(t *testing.T) {
	ctx := context.Background()
	data := records(5000, 6, "doc")
	e := dedupEnv(t, ngbak.Options{}, newMem("kv", data))
	a := e.create(t)
	finish := createBeside(t, e, data)
	if err := e.m.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	man := finish()
	if err := e.m.Verify(ctx, man.ID); err != nil {
		t.Fatalf("the backup made while its chunks' other backup was deleted: %v", err)
	}
	// What the sweep left is freed once nothing is being written, and the
	// backup still verifies.
	if _, err := e.m.CheckRepository(ctx, ngbak.CheckOptions{RemoveUnused: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Verify(ctx, man.ID); err != nil {
		t.Fatal(err)
	}
}

// TestDedupCreateWaitsForSweep: a sweep's lease holds a Create back until
// it goes.
func TestDedupCreateWaitsForSweep(t *testing.T) {
	e := dedupEnv(t, ngbak.Options{}, newMem("kv", records(100, 7, "doc")))
	e.create(t)
	lease := filepath.Join(e.dir, ngbak.NewID(time.Now())+".sweep")
	os.WriteFile(lease, []byte("ngbak-dedup-lease/1 sweep\n"), 0o644)
	go func() {
		time.Sleep(500 * time.Millisecond)
		os.Remove(lease)
	}()
	start := time.Now()
	e.create(t)
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("Create took %s with a sweep's lease present for 500ms", d)
	}
	// A sweep lease older than an hour is a crashed sweep's: ignored.
	os.WriteFile(lease, nil, 0o644)
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(lease, old, old)
	start = time.Now()
	e.create(t)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Create waited %s for a stale sweep lease", d)
	}
}

// TestDedupEncrypted: with encryption no plaintext, no plain hash of it and
// no key reaches the storage, and deduplication still works.
func TestDedupEncrypted(t *testing.T) {
	ctx := context.Background()
	id, _ := age.GenerateX25519Identity()
	enc, err := agecrypt.New([]age.Recipient{id.Recipient()}, []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	data := records(5000, 8, "doc")
	data["secret"] = "PLAINTEXT-CANARY-" + strings.Repeat("x", 100)
	mem := newMem("kv", maps.Clone(data))
	e := dedupEnv(t, ngbak.Options{Encryption: enc}, mem)
	a := e.create(t)
	n1, s1 := chunkBytes(t, e.dir)
	b := e.create(t)
	// Only the end changes: SHA256SUMS and the manifest, with its times.
	// The new chunks are the one that ends the stream and, when the
	// changed bytes move a boundary, the one before it: a byte share
	// would depend on where the random key puts those boundaries.
	if n2, s2 := chunkBytes(t, e.dir); n2-n1 > 2 || (s2-s1)*10 > s1 {
		t.Errorf("an unchanged second backup added %d chunks of %d bytes to %d of %d", n2-n1, s2-s1, n1, s1)
	}
	if err := e.m.Verify(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	// The tar stream's chunks' plain SHA-256 must not name any object.
	rc, err := e.m.Open(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	arch, _ := io.ReadAll(rc)
	rc.Close()
	names := map[string]bool{}
	filepathWalk(t, e.dir, func(path string, body []byte) {
		names[filepath.Base(path)] = true
		for _, secret := range [][]byte{[]byte("PLAINTEXT-CANARY"), []byte("graph entity"), []byte("records.jsonl"), []byte("ngbak-dedup-key")} {
			if bytes.Contains(body, secret) {
				t.Errorf("%s holds %q in plaintext", path, secret)
			}
		}
	})
	if bytes.Contains(arch, []byte("PLAINTEXT-CANARY")) {
		t.Errorf("the download of an encrypted backup is not encrypted")
	}
	plainTar := tarOf(t, arch, enc)
	for off := 0; off+64<<10 <= len(plainTar); off += 512 {
		sum := sha256.Sum256(plainTar[off : off+64<<10])
		if names["chunk-"+hex.EncodeToString(sum[:])] {
			t.Fatalf("a chunk is named by the plain SHA-256 of its content")
		}
	}
	// Without the key nothing reads; with a recipient only, Create refuses.
	noKey := newEnv(t, ngbak.Options{Storage: ngbak.Dir(e.dir), Dedup: &ngbak.DedupOptions{}}, newMem("kv", nil))
	if err := noKey.m.Verify(ctx, a.ID); !errors.Is(err, ngbak.ErrKey) {
		t.Errorf("Verify without a key: %v", err)
	}
	recOnly, _ := agecrypt.New([]age.Recipient{id.Recipient()}, nil)
	ro := newEnv(t, ngbak.Options{Storage: ngbak.Dir(e.dir), Dedup: &ngbak.DedupOptions{}, Encryption: recOnly}, newMem("kv", data))
	if _, err := ro.m.Create(ctx, nil); !errors.Is(err, ngbak.ErrKey) {
		t.Errorf("Create with a recipient only: %v", err)
	}
	// The download is an encrypted ngbak/1 archive that a plain storage imports.
	plain := newEnv(t, ngbak.Options{Encryption: enc}, newMem("kv", nil))
	if _, err := plain.m.Import(ctx, bytes.NewReader(arch)); err != nil {
		t.Fatalf("Import of the download: %v", err)
	}
	mem.set("secret", "changed")
	if _, err := e.m.Restore(ctx, a.ID, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(data, mem.snapshot()); diff != "" {
		t.Errorf("restored (-backup +restored):\n%s", diff)
	}
}

// tarOf returns the tar stream of an encrypted archive.
func tarOf(t *testing.T, arch []byte, enc ngbak.Encryption) []byte {
	t.Helper()
	r, err := enc.Decrypt(bytes.NewReader(arch))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zstd.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func filepathWalk(t *testing.T, dir string, fn func(string, []byte)) {
	t.Helper()
	for _, f := range files(t, dir) {
		fn(f, mustRead(t, filepath.Join(dir, f)))
	}
}

// TestDedupDeletedWhileRead: a backup deleted while it is read loses its
// chunks to the sweep; the reader says the backup is gone (ErrNotFound),
// not that it is damaged.
func TestDedupDeletedWhileRead(t *testing.T) {
	ctx := context.Background()
	// Far more than the reader and the compressor read ahead.
	e := dedupEnv(t, ngbak.Options{}, newMem("kv", records(150000, 9, "doc")))
	a := e.create(t)
	rc, err := e.m.Open(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := rc.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, rc); !errors.Is(err, ngbak.ErrNotFound) {
		t.Fatalf("reading a backup deleted meanwhile: %v", err)
	}
}

// failAfter writes what inner writes, then fails.
type failAfter struct{ ngbak.Exporter }

func (f failAfter) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	if _, err := f.Exporter.Export(ctx, w); err != nil {
		return ngbak.Info{}, err
	}
	return ngbak.Info{}, errors.New("failed on purpose")
}

// TestDedupFailedCreateLeavesNothing: a Create that fails after it stored
// chunks (encrypted, on a new repository) leaves no chunk, key or record.
func TestDedupFailedCreateLeavesNothing(t *testing.T) {
	ctx := context.Background()
	id, _ := age.GenerateX25519Identity()
	enc, _ := agecrypt.New([]age.Recipient{id.Recipient()}, []age.Identity{id})
	e := dedupEnv(t, ngbak.Options{Encryption: enc}, failAfter{newMem("kv", records(20000, 10, "doc"))})
	if _, err := e.m.Create(ctx, nil); err == nil || !strings.Contains(err.Error(), "failed on purpose") {
		t.Fatalf("Create: %v", err)
	}
	if left := files(t, e.dir); len(left) != 0 {
		t.Errorf("a failed Create left %v", left)
	}
}

// TestDedupPruneSweepsOnce: Prune frees the chunks of every backup it
// deletes in one sweep, which reads each chunk list once: the deleted
// ones as they go, the others once for all of them, not once per backup
// deleted.
func TestDedupPruneSweepsOnce(t *testing.T) {
	ctx := context.Background()
	counting := &countingStorage{Storage: ngbak.Dir(filepath.Join(t.TempDir(), "backups"))}
	mem := newMem("kv", records(2000, 11, "doc"))
	e := dedupEnv(t, ngbak.Options{Storage: counting}, mem)
	var ids []string
	for i := range 4 {
		// Each backup has chunks of its own, so that no sweep can stop
		// early for want of candidates.
		for k, v := range records(500, uint64(20+i), fmt.Sprintf("b%d", i)) {
			mem.set(k, v)
		}
		ids = append(ids, e.create(t).ID)
	}
	before := len(chunkObjects(t, counting))
	counting.mu.Lock()
	counting.opened = nil
	counting.mu.Unlock()
	ds, err := e.m.Prune(ctx, ngbak.RetentionPolicy{Last: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, d := range ds {
		if !d.Keep {
			deleted++
		}
	}
	lists := 0
	for _, name := range counting.opened {
		if strings.HasSuffix(name, ".ngbak") {
			lists++
		}
	}
	if deleted != 3 || lists != 4 {
		t.Errorf("Prune deleted %d backups and read chunk lists %d times, want 3 and 4 (each deleted list once, the one kept once): %v", deleted, lists, counting.opened)
	}
	if after := len(chunkObjects(t, counting)); after >= before {
		t.Errorf("Prune freed no chunk: %d before, %d after", before, after)
	}
	rep, err := e.m.CheckRepository(ctx, ngbak.CheckOptions{ReadData: true})
	if err != nil || len(rep.Unused) != 0 || rep.Lists != 1 {
		t.Fatalf("CheckRepository after Prune: %v %+v", err, rep)
	}
	if err := e.m.Verify(ctx, ids[3]); err != nil {
		t.Fatalf("the backup kept: %v", err)
	}
}

// chunkObjects lists the chunks of a flat layout.
func chunkObjects(t *testing.T, s ngbak.Storage) []string {
	t.Helper()
	objs, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		if strings.HasPrefix(o.Name, "chunk-") {
			out = append(out, o.Name)
		}
	}
	return out
}

// TestDedupLeaseRenewed: a Create that runs longer than a lease lasts
// keeps renewing its own, so that a sweep in another Manager all that
// time sees a Create running and leaves the chunks it relies on.
func TestDedupLeaseRenewed(t *testing.T) {
	const expiry = 300 * time.Millisecond
	defer ngbak.SetLeaseTimes(20*time.Millisecond, expiry)()
	ctx := context.Background()
	data := records(5000, 6, "doc")
	e := dedupEnv(t, ngbak.Options{}, newMem("kv", data))
	a := e.create(t)
	finish := createBeside(t, e, data)
	// The Create found every chunk stored (a's) and relies on them; it
	// outlives its first lease several times over before a's deletion
	// sweeps.
	time.Sleep(4 * expiry)
	leases := 0
	for _, f := range files(t, e.dir) {
		if strings.HasSuffix(f, ".lease") {
			leases++
		}
	}
	if leases == 0 {
		t.Errorf("no lease while a Create runs: %v", files(t, e.dir))
	}
	if err := e.m.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	man := finish()
	if err := e.m.Verify(ctx, man.ID); err != nil {
		t.Fatalf("a Create that outlived its first lease lost chunks to a sweep: %v", err)
	}
}

// TestDedupStaleChunkPartial: a chunk's partial file that a crash left in
// the chunks folder goes with the next Create once it is old, though Dir's
// Create no longer looks for them there at each chunk.
func TestDedupStaleChunkPartial(t *testing.T) {
	e := dedupEnv(t, ngbak.Options{}, newMem("kv", records(100, 8, "doc")))
	e.create(t)
	stale := filepath.Join(e.dir, "chunks", "chunk-"+strings.Repeat("ab", 32)+".partial")
	fresh := filepath.Join(e.dir, "chunks", "chunk-"+strings.Repeat("cd", 32)+".partial")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("half a chunk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	e.create(t)
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale partial chunk is still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh partial chunk (a writer's) was removed: %v", err)
	}
}

// TestDedupListSum: a backup's sidecar holds the SHA-256 of its chunk list,
// as it does of a plain archive (sha256sum -c accepts the storage folder),
// and lists of version 1, whose sidecar held the reassembled tar stream's,
// stay readable: Verify and Restore check them against that sum.
func TestDedupListSum(t *testing.T) {
	ctx := context.Background()
	mem := newMem("kv", records(2000, 1, "doc"))
	e := dedupEnv(t, ngbak.Options{}, mem)
	a := e.create(t)
	want := mem.snapshot()
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "-c", "--quiet", a.ID+".ngbak.sha256")
		cmd.Dir = e.dir
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sha256sum -c in the storage folder: %v: %s", err, msg)
		}
	}

	// The same backup as version 1 wrote it.
	path := filepath.Join(t.TempDir(), "a.ngbak")
	download(t, e.m, a.ID, path)
	f, _ := os.Open(path)
	zr, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, zr); err != nil {
		t.Fatal(err)
	}
	zr.Close()
	f.Close()
	tarSum := hex.EncodeToString(h.Sum(nil))
	listPath := filepath.Join(e.dir, a.ID+".ngbak")
	list, _ := os.ReadFile(listPath)
	v1 := append([]byte("ngbak-chunks/1"), list[len("ngbak-chunks/2"):]...)
	os.WriteFile(listPath, v1, 0o644)
	sidecar := filepath.Join(e.dir, a.ID+".ngbak.sha256")
	os.WriteFile(sidecar, []byte(tarSum+"  "+a.ID+".ngbak\n"), 0o644)
	if err := e.m.Verify(ctx, a.ID); err != nil {
		t.Fatalf("Verify of a version 1 list: %v", err)
	}
	mem.set("doc-00000001", "changed")
	if _, err := e.m.Restore(ctx, a.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatalf("Restore of a version 1 list: %v", err)
	}
	if diff := cmp.Diff(want, mem.snapshot()); diff != "" {
		t.Errorf("restored records (-backup +restored):\n%s", diff)
	}
	download(t, e.m, a.ID, filepath.Join(t.TempDir(), "v1.ngbak"))
	// Its sidecar is the stream's, not the list's: a list sum there is
	// the wrong one, for Verify and for a download.
	os.WriteFile(sidecar, []byte(sha256Of(v1)+"  "+a.ID+".ngbak\n"), 0o644)
	if err := e.m.Verify(ctx, a.ID); !errors.Is(err, ngbak.ErrChecksum) {
		t.Fatalf("Verify of a version 1 list against its list's sum: %v, want ErrChecksum", err)
	}
	if rc, err := e.m.Open(ctx, a.ID); err != nil {
		t.Fatal(err)
	} else {
		_, err := io.Copy(io.Discard, rc)
		rc.Close()
		if !errors.Is(err, ngbak.ErrChecksum) {
			t.Fatalf("download of a version 1 list whose sidecar does not match: %v, want ErrChecksum", err)
		}
	}
	// And a version 2 list is checked against its own sum.
	os.WriteFile(listPath, list, 0o644)
	os.WriteFile(sidecar, []byte(tarSum+"  "+a.ID+".ngbak\n"), 0o644)
	if err := e.m.Verify(ctx, a.ID); !errors.Is(err, ngbak.ErrChecksum) {
		t.Fatalf("Verify of a version 2 list against another sum: %v, want ErrChecksum", err)
	}
	os.WriteFile(sidecar, []byte(sha256Of(list)+"  "+a.ID+".ngbak\n"), 0o644)
	if err := e.m.Verify(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
}

func sha256Of(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
