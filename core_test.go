package ngbak_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
)

// Guarantee 9: clean-up removes only what ngbak wrote. The old Python
// system's archives, files of other tools and archives of other shapes
// stay, however old they are; only leftovers of ngbak's own ids that carry
// ngbak's own marks (a .partial of its writer, a .sha256 sidecar in its
// format) go.
func TestOrphanCleanupLeavesForeignFiles(t *testing.T) {
	mem := newMem("mem", map[string]string{"a": "1"})
	env := newEnv(t, ngbak.Options{}, mem)
	man := env.create(t)
	foreign := map[string]string{
		"snapshot_2025-10-06T14-30-12Z.ngbak":         "python tar.gz",
		"snapshot_2025-10-06T14-30-12Z.checksum":      "sha256:00",
		"snapshot_2025-10-06T14-30-12Z.ngbak.partial": "python upload in progress",
		"nightly.ngbak":                               "a valid id, not ngbak's shape",
		"nightly.ngbak.sha256":                        "0000000000000000000000000000000000000000000000000000000000000000  nightly.ngbak\n",
		"20200101T000000.000Z-cccccc.ngbak":           "ngbak's shape, but no mark of ngbak's beside it",
		"20200101T000000.000Z-dddddd.ngbak":           "a .sha256 beside it that ngbak did not write",
		"20200101T000000.000Z-dddddd.ngbak.sha256":    "sha256:1234\n",
		"notes.txt.partial":                           "another tool's partial file",
	}
	own := map[string]string{
		"20200101T000000.000Z-aaaaaa.ngbak.partial": "ngbak's partial, left by a crash",
		"20200101T000000.000Z-bbbbbb.ngbak":         "committed, manifest never written",
		"20200101T000000.000Z-bbbbbb.ngbak.sha256":  "0000000000000000000000000000000000000000000000000000000000000000  20200101T000000.000Z-bbbbbb.ngbak\n",
		"20200101T000000.000Z-eeeeee.ngbak.sha256":  "0000000000000000000000000000000000000000000000000000000000000000  20200101T000000.000Z-eeeeee.ngbak\n",
	}
	old := time.Now().Add(-48 * time.Hour)
	for name, data := range mergeMaps(foreign, own) {
		p := filepath.Join(env.dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	second := env.create(t)
	want := []string{
		man.ID + ".manifest.json", man.ID + ".ngbak", man.ID + ".ngbak.sha256",
		second.ID + ".manifest.json", second.ID + ".ngbak", second.ID + ".ngbak.sha256",
	}
	for name := range foreign {
		want = append(want, name)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, files(t, env.dir)); diff != "" {
		t.Errorf("files after Create's clean-up (-want +got):\n%s", diff)
	}
	got := readTree(t, env.dir)
	for name, data := range foreign {
		if got[name] != data {
			t.Errorf("%s changed: %q", name, got[name])
		}
	}
	if _, err := env.m.List(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func mergeMaps(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
