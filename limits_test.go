package ngbak_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
)

// manyFiles writes n small files with long names, so that the manifest
// grows by about 200 bytes a file.
type manyFiles struct{ n int }

func (*manyFiles) Name() string { return "many" }
func (*manyFiles) Kind() string { return "many" }

func (e *manyFiles) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	for i := range e.n {
		name := fmt.Sprintf("%s-%06d.json", strings.Repeat("a-long-file-name-", 4), i)
		if err := w.WriteFile(name, 1, strings.NewReader("x")); err != nil {
			return ngbak.Info{}, err
		}
	}
	return ngbak.Info{Format: "many/1", Stats: map[string]int64{"files": int64(e.n)}}, nil
}

func (e *manyFiles) Restore(ctx context.Context, r *ngbak.Reader) error {
	for {
		if _, _, err := r.Next(); err != nil {
			if err.Error() == "EOF" {
				return nil
			}
			return err
		}
		buf := make([]byte, 8)
		for {
			if _, err := r.Read(buf); err != nil {
				if err.Error() == "EOF" {
					break
				}
				return err
			}
		}
	}
}

// Guarantee 10: whatever Create commits, List, Verify and Restore accept.
// A backup whose manifest would exceed what the reader accepts, or with
// more entries than Limits allow, is refused when it is made; and the
// sidecar that List reads stays small whatever the number of files.
func TestManifestLimitsAtCreate(t *testing.T) {
	defer ngbak.SetMaxManifestSize(32 << 10)()
	ctx := context.Background()

	t.Run("manifest too large", func(t *testing.T) {
		env := newEnv(t, ngbak.Options{}, &manyFiles{n: 400}) // about 80 KiB of manifest
		_, err := env.m.Create(ctx, nil)
		if err == nil || !strings.Contains(err.Error(), "manifest") {
			t.Fatalf("Create of a backup with a manifest beyond the read limit: %v; want it refused", err)
		}
		if got := files(t, env.dir); len(got) != 0 {
			t.Errorf("refused Create left %v", got)
		}
	})
	t.Run("too many entries", func(t *testing.T) {
		env := newEnv(t, ngbak.Options{Limits: ngbak.Limits{MaxEntries: 10}}, &manyFiles{n: 20})
		_, err := env.m.Create(ctx, nil)
		if err == nil || !strings.Contains(err.Error(), "entries") {
			t.Fatalf("Create of 20 entries with MaxEntries 10: %v; want it refused", err)
		}
		if got := files(t, env.dir); len(got) != 0 {
			t.Errorf("refused Create left %v", got)
		}
	})
	t.Run("sidecar stays small", func(t *testing.T) {
		small := newEnv(t, ngbak.Options{}, &manyFiles{n: 1})
		large := newEnv(t, ngbak.Options{}, &manyFiles{n: 120}) // about 24 KiB of manifest
		var sizes []int64
		for _, env := range []*testEnv{small, large} {
			man := env.create(t)
			fi, err := os.Stat(filepath.Join(env.dir, man.ID+".manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, fi.Size())
			if _, err := env.m.List(ctx); err != nil {
				t.Fatal(err)
			}
			if err := env.m.Verify(ctx, man.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := env.m.Restore(ctx, man.ID, nil); err != nil {
				t.Fatal(err)
			}
		}
		if sizes[1] > sizes[0]+16 {
			t.Errorf("sidecar of 1 file %d bytes, of 120 files %d bytes: it grows with the files", sizes[0], sizes[1])
		}
	})
}

// Sidecars written before the file list left them, which hold the whole
// manifest, still list, verify and restore.
func TestOldFullSidecar(t *testing.T) {
	ctx := context.Background()
	mem := newMem("mem", map[string]string{"a": "1"})
	env := newEnv(t, ngbak.Options{}, mem)
	man := env.create(t)
	full, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(env.dir, man.ID+".manifest.json"), append(full, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := env.m.Get(ctx, man.ID)
	if err != nil {
		t.Fatal(err)
	}
	// List and Get give the summary whatever the sidecar holds: a listing
	// every few seconds must not carry every file of every backup.
	summary := *man
	summary.Backends = nil
	for _, be := range man.Backends {
		be.Files = []ngbak.File{}
		summary.Backends = append(summary.Backends, be)
	}
	if diff := cmp.Diff(&summary, b.Manifest); diff != "" {
		t.Errorf("Get of an old sidecar (-want +got):\n%s", diff)
	}
	list, err := env.m.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %v, %v", list, err)
	}
	if diff := cmp.Diff(&summary, list[0].Manifest); diff != "" {
		t.Errorf("List of an old sidecar (-want +got):\n%s", diff)
	}
	if err := env.m.Verify(ctx, man.ID); err != nil {
		t.Fatal(err)
	}
	mem.set("a", "2")
	if _, err := env.m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "1"}, mem.snapshot()); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
	// A sidecar that is neither form of the manifest inside is refused.
	man.Labels = map[string]string{"forged": "yes"}
	forged, _ := json.MarshalIndent(man, "", "  ")
	os.WriteFile(filepath.Join(env.dir, man.ID+".manifest.json"), append(forged, '\n'), 0o644)
	if err := env.m.Verify(ctx, man.ID); !errors.Is(err, ngbak.ErrCorrupt) {
		t.Errorf("Verify with a forged sidecar: %v, want ErrCorrupt", err)
	}
}

// A backup dated in the future (an import from a machine whose clock is
// wrong, a year typed as 2099) does not make Within delete every real
// backup: Within is measured from the newest backup or now, whichever is
// earlier.
func TestWithinIgnoresFutureBackups(t *testing.T) {
	now := time.Now().UTC()
	backups := []ngbak.Backup{
		{Manifest: &ngbak.Manifest{ID: "future", CreatedAt: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{Manifest: &ngbak.Manifest{ID: "hour", CreatedAt: now.Add(-time.Hour)}},
		{Manifest: &ngbak.Manifest{ID: "days", CreatedAt: now.Add(-48 * time.Hour)}},
		{Manifest: &ngbak.Manifest{ID: "old", CreatedAt: now.Add(-30 * 24 * time.Hour)}},
	}
	ds, err := ngbak.RetentionPolicy{Within: 7 * 24 * time.Hour}.Apply(backups)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, d := range ds {
		got[d.Backup.Manifest.ID] = d.Keep
	}
	if diff := cmp.Diff(map[string]bool{"future": true, "hour": true, "days": true, "old": false}, got); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}

// Import refuses a backup created in the future beyond a small clock skew.
func TestImportFutureBackup(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		created time.Time
		ok      bool
	}{
		{"2099", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"a day ahead", time.Now().Add(24 * time.Hour), false},
		{"a minute ahead", time.Now().Add(time.Minute), true},
		{"now", time.Now(), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := newEnv(t, ngbak.Options{}, newMem("mem", nil))
			s := goodSpec()
			s.man.CreatedAt = c.created.UTC()
			s.man.CompletedAt = s.man.CreatedAt
			_, err := env.m.Import(ctx, bytes.NewReader(s.build(t)))
			if c.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "future")) {
				t.Fatalf("Import of a backup created %s: %v", c.created, err)
			}
			if !c.ok && len(files(t, env.dir)) != 0 {
				t.Errorf("refused Import left %v", files(t, env.dir))
			}
		})
	}
}
