package ngbak_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ngbak/ngbak"
)

// entriesExporter writes the entries it is given, and on restore reads
// them back and checks their sizes.
type entriesExporter struct {
	entries []sizedEntry
}

type sizedEntry struct {
	name string
	size int64
}

func (*entriesExporter) Name() string { return "lim" }
func (*entriesExporter) Kind() string { return "limits" }

func (e *entriesExporter) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	for _, en := range e.entries {
		if err := w.WriteFile(en.name, en.size, io.LimitReader(zeros{}, en.size)); err != nil {
			return ngbak.Info{}, err
		}
	}
	return ngbak.Info{Format: "limits/1"}, nil
}

func (e *entriesExporter) Restore(ctx context.Context, r *ngbak.Reader) error {
	i := 0
	for ; ; i++ {
		name, size, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if i >= len(e.entries) || name != e.entries[i].name || size != e.entries[i].size {
			return fmt.Errorf("entry %d: %s of %d bytes", i, name, size)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != size {
			return fmt.Errorf("entry %s: read %d bytes: %v", name, n, err)
		}
	}
	if i != len(e.entries) {
		return fmt.Errorf("%d entries of %d", i, len(e.entries))
	}
	return nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestLimitsSuite: for entry counts, entry sizes, payload sizes, path
// lengths and manifest sizes at, just under and just over every limit,
// Create either fails, leaving nothing visible, or makes a backup that
// List, Verify and Restore accept. Nothing in between: a backup that can be
// made but not read is the failure this suite is for.
func TestLimitsSuite(t *testing.T) {
	ctx := context.Background()
	files := func(n int, size int64) []sizedEntry {
		var out []sizedEntry
		for i := range n {
			out = append(out, sizedEntry{fmt.Sprintf("f%06d", i), size})
		}
		return out
	}
	named := func(pathLen int) []sizedEntry {
		// "lim/" is the exporter's folder, part of the entry's path.
		return []sizedEntry{{strings.Repeat("d/", (pathLen-4)/2-1) + strings.Repeat("x", 2+(pathLen-4)%2), 1}}
	}
	type tc struct {
		name    string
		limits  ngbak.Limits
		entries []sizedEntry
	}
	var cases []tc
	for _, n := range []int{7, 8, 9} {
		cases = append(cases, tc{fmt.Sprintf("%d entries of MaxEntries 8", n), ngbak.Limits{MaxEntries: 8}, files(n, 1)})
	}
	for _, size := range []int64{999, 1000, 1001} {
		cases = append(cases, tc{fmt.Sprintf("entry of %d of MaxEntrySize 1000", size), ngbak.Limits{MaxEntrySize: 1000}, files(1, size)})
	}
	for _, size := range []int64{999, 1000, 1001} {
		cases = append(cases, tc{fmt.Sprintf("payload of %d of MaxTotalSize 3000", 3*size), ngbak.Limits{MaxTotalSize: 3000}, files(3, size)})
	}
	// Many small files under a small MaxEntrySize: the manifest and
	// SHA256SUMS are larger than it, and have their own bound.
	cases = append(cases, tc{"manifest larger than MaxEntrySize", ngbak.Limits{MaxEntrySize: 1000}, files(40, 10)})
	for _, l := range []int{1023, 1024, 1025} {
		cases = append(cases, tc{fmt.Sprintf("path of %d bytes", l), ngbak.Limits{}, named(l)})
	}
	made, refused := 0, 0
	check := func(t *testing.T, opts ngbak.Options, entries []sizedEntry) {
		t.Helper()
		env := newEnv(t, opts, &entriesExporter{entries: entries})
		man, err := env.m.Create(ctx, nil)
		if err != nil {
			refused++
			if got := storageFiles(t, env); len(got) != 0 {
				t.Fatalf("a refused Create (%v) left %v", err, got)
			}
			return
		}
		made++
		list, err := env.m.List(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("List of a backup Create made: %d, %v", len(list), err)
		}
		if err := env.m.Verify(ctx, man.ID); err != nil {
			t.Fatalf("Verify of a backup Create made: %v", err)
		}
		if _, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
			t.Fatalf("Restore of a backup Create made: %v", err)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, ngbak.Options{Limits: c.limits}, c.entries) })
	}
	// The manifest: around the read limit, lowered so that a few hundred
	// files reach it.
	t.Run("manifest size", func(t *testing.T) {
		defer ngbak.SetMaxManifestSize(16 << 10)()
		for n := 100; n <= 300; n += 3 {
			check(t, ngbak.Options{}, files(n, 1))
		}
	})
	if made == 0 || refused == 0 {
		t.Fatalf("%d made, %d refused: the cases do not straddle the limits", made, refused)
	}
	t.Logf("%d backups made and read back, %d refused at Create", made, refused)
}

func storageFiles(t *testing.T, env *testEnv) []string {
	t.Helper()
	return files(t, env.dir)
}
