package ngbak

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// events records the commits and folder syncs of a Dir and its chunks.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.log = append(e.log, s)
	e.mu.Unlock()
}

type recDir struct {
	dirStorage
	ev    *events
	label string
}

func (r recDir) Create(ctx context.Context, name string) (ObjectWriter, error) {
	w, err := r.dirStorage.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return recWriter{w, func() { r.ev.add(r.label + name) }}, nil
}

func (r recDir) Sub(name string) (Storage, error) {
	s, err := r.dirStorage.Sub(name)
	if err != nil {
		return nil, err
	}
	return recDir{s.(dirStorage), r.ev, "chunk "}, nil
}

func (r recDir) deferSync() Storage {
	return recDir{r.dirStorage.deferSync().(dirStorage), r.ev, r.label}
}

func (r recDir) syncFolder() error {
	r.ev.add("sync " + r.label)
	return r.dirStorage.syncFolder()
}

type recWriter struct {
	ObjectWriter
	committed func()
}

func (w recWriter) Commit() error {
	err := w.ObjectWriter.Commit()
	if err == nil {
		w.committed()
	}
	return err
}

// TestDedupChunkFolderSyncedBeforeList: Dir's chunks folder is not synced
// after each chunk, so it must be once, after the last chunk is stored and
// before the chunk list that relies on them commits.
func TestDedupChunkFolderSyncedBeforeList(t *testing.T) {
	ev := &events{}
	d, err := newDedupStorage(recDir{dirStorage{dir: filepath.Join(t.TempDir(), "backups")}, ev, ""}, Options{Dedup: &DedupOptions{AverageChunkSize: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := NewID(time.Now())
	w, err := d.Create(ctx, archiveName(id))
	if err != nil {
		t.Fatal(err)
	}
	w.(tarSink).acceptTar()
	data := make([]byte, 2<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.IntN(256))
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	syncAt, listAt, lastChunk := -1, -1, -1
	for i, e := range ev.log {
		switch {
		case e == "sync chunk ":
			syncAt = i
		case e == archiveName(id):
			listAt = i
		case strings.HasPrefix(e, "chunk "):
			lastChunk = i
		}
	}
	if lastChunk < 0 || !(lastChunk < syncAt && syncAt < listAt) {
		t.Errorf("want the chunks committed, then their folder synced, then the list; got %q", ev.log)
	}
	rc, err := d.Open(ctx, archiveName(id))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(rc.(tarSource).tarStream()); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Errorf("read back %d bytes, %v; want the %d written", got.Len(), err, len(data))
	}
}

// hidingSub passes Sub on, as a wrapper must, but wraps what it returns, so
// the layout cannot see the Dir below it.
type hidingSub struct{ Storage }

func (h hidingSub) Sub(name string) (Storage, error) {
	s, err := h.Storage.(subStorage).Sub(name)
	return hidingSub{s}, err
}

// TestDedupChunkFolderBehindWrapper: the layout leaves the chunks folder's
// sync to itself only where it sees a Dir; through a wrapper the chunks
// are committed as any Dir object, each with its folder synced.
func TestDedupChunkFolderBehindWrapper(t *testing.T) {
	dir := dirStorage{dir: filepath.Join(t.TempDir(), "backups")}
	for _, tc := range []struct {
		name  string
		inner Storage
		lazy  bool
	}{{"Dir", dir, true}, {"wrapped", hidingSub{dir}, false}} {
		d, err := newDedupStorage(tc.inner, Options{Dedup: &DedupOptions{}})
		if err != nil {
			t.Fatal(err)
		}
		chunks, err := d.storageFor(layoutSub)
		if err != nil {
			t.Fatal(err)
		}
		if h, ok := chunks.(hidingSub); ok {
			chunks = h.Storage
		}
		if got := chunks.(dirStorage).lazySync; got != tc.lazy {
			t.Errorf("%s: the chunks folder leaves its sync to the layout: %v, want %v", tc.name, got, tc.lazy)
		}
	}
}
