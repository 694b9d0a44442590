package qdrantexp_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/qdrantexp"
)

// TestUploadWithheldOnMismatch: a snapshot upload carries no checksum for
// the server to check (Qdrant 1.19 hashes an upload at a few tens of MB/s:
// 256 MiB took 7.5 s on top of a 1.5 s upload); the archive's reader
// checks the snapshot's SHA-256 itself and fails the read after the last
// byte instead of ending it. The upload must then never complete as a
// request the server acts on: the multipart body's end is sent only after
// the snapshot read ended cleanly. Here the last read of an otherwise
// intact snapshot fails, as a mismatch does; the collection must stay as
// it was and keep no uploaded file.
func TestUploadWithheldOnMismatch(t *testing.T) {
	ctx := context.Background()
	tg := newTarget(t)
	coll := tg.newCollection(t, ctx)
	tg.fill(t, coll, 50)
	e := tg.exporter(t, qdrantexp.Options{Collections: []string{coll}})
	m, _ := newManager(t, e)
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := archivedFile(t, m, man.ID, coll+"/collection.snapshot")
	tg.fill(t, coll, 80) // changes 50 points, adds 30
	changed := mustState(t, tg, coll)

	mismatch := errors.New("sha256 mismatch, as the archive's reader reports it")
	sent := false
	r := ngbak.NewReader(&man.Backends[0], func() (string, int64, io.Reader, error) {
		if sent {
			return "", 0, nil, io.EOF
		}
		sent = true
		return coll + "/collection.snapshot", int64(len(snapshot)), &failAtEnd{data: snapshot, err: mismatch}, nil
	})
	if err := e.Restore(ctx, r); !errors.Is(err, mismatch) {
		t.Fatalf("Restore of a snapshot whose read fails at its end: %v", err)
	}
	if diff := cmp.Diff(changed, mustState(t, tg, coll)); diff != "" {
		t.Fatalf("an upload whose snapshot failed its check changed the collection (-want +got):\n%s", diff)
	}
	// The same backup through the Manager restores.
	if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
	if n := len(mustState(t, tg, coll).Points); n != 50 {
		t.Fatalf("after the restore: %d points, want 50", n)
	}
}

// failAtEnd returns data, and err with its last bytes instead of io.EOF.
type failAtEnd struct {
	data []byte
	err  error
}

func (f *failAtEnd) Read(p []byte) (int, error) {
	n := copy(p, f.data)
	f.data = f.data[n:]
	if len(f.data) == 0 {
		return n, f.err
	}
	return n, nil
}

// archivedFile reads one file out of a stored backup's archive.
func archivedFile(t testing.TB, m *ngbak.Manager, id, name string) []byte {
	t.Helper()
	rc, err := m.Open(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, err := zstd.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s in the archive of %s: %v", name, id, err)
		}
		if h.Name == name || strings.HasSuffix(h.Name, "/"+name) {
			var buf bytes.Buffer
			if _, err := io.Copy(&buf, tr); err != nil {
				t.Fatal(err)
			}
			return buf.Bytes()
		}
	}
}
