package ngbak_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
)

// An archive made by the library opens with the standard tools: tar lists
// it, sha256sum checks its sidecar, and the extracted SHA256SUMS checks the
// extracted files.
func TestInteropWithStandardTools(t *testing.T) {
	for _, tool := range []string{"tar", "zstd", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed for this test (make test installs it): %v", tool, err)
		}
	}
	dir := workdir(t)
	// An hnswlib index of random bytes, as float vectors are, goes into
	// raw zstd blocks (the stream is frames of both kinds): the tools read
	// them too.
	vectors := make([]byte, 3<<20+5)
	rand.NewChaCha8([32]byte{3}).Read(vectors)
	if err := os.WriteFile(filepath.Join(dir, "vdb_entities_hnsw.index"), vectors, 0o644); err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, ngbak.Options{}, newJSON(t, dir), newMem("mem", map[string]string{"a": "1"}))
	man := env.create(t)
	run := func(dir string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	archive, err := os.ReadFile(filepath.Join(env.dir, man.ID+".ngbak"))
	if err != nil {
		t.Fatal(err)
	}
	if rawFrame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38}; !bytes.Contains(archive, rawFrame) {
		t.Fatal("the archive holds no frame of raw blocks")
	}
	listed := strings.Fields(run(env.dir, "tar", "--zstd", "-tf", man.ID+".ngbak"))
	var want []string
	for _, b := range man.Backends {
		for _, f := range b.Files {
			want = append(want, f.Path)
		}
	}
	want = append(want, "SHA256SUMS", "manifest.json")
	if diff := cmp.Diff(want, listed); diff != "" {
		t.Fatalf("tar -tf (-want +got):\n%s", diff)
	}
	if out := run(env.dir, "sha256sum", "-c", man.ID+".ngbak.sha256"); !strings.Contains(out, ": OK") {
		t.Fatalf("sha256sum -c sidecar: %s", out)
	}
	x := t.TempDir()
	run(x, "tar", "--zstd", "-xf", filepath.Join(env.dir, man.ID+".ngbak"))
	out := run(x, "sha256sum", "-c", "SHA256SUMS")
	if n := strings.Count(out, ": OK"); n != len(want)-2 {
		t.Fatalf("sha256sum -c SHA256SUMS checked %d files, want %d:\n%s", n, len(want)-2, out)
	}
	// The extracted store files are the originals, byte for byte.
	orig := readTree(t, dir)
	got := readTree(t, filepath.Join(x, "json"))
	if diff := cmp.Diff(orig, got); diff != "" {
		t.Fatalf("extracted files (-want +got):\n%s", diff)
	}
	// And an archive that GNU tar and zstd make from those files, in
	// ngbak/1's order, imports: the format is plain tar + zstd.
	remade := filepath.Join(t.TempDir(), "remade.ngbak")
	run(x, "tar", append([]string{"--zstd", "--format=posix", "-cf", remade, "--"}, want...)...)
	f, err := os.Open(remade)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	other := newEnv(t, ngbak.Options{}, newMem("mem", nil))
	imported, err := other.m.Import(context.Background(), f)
	if err != nil {
		t.Fatalf("Import of the archive GNU tar made: %v", err)
	}
	if diff := cmp.Diff(man, imported); diff != "" {
		t.Fatalf("manifest (-want +got):\n%s", diff)
	}
}
