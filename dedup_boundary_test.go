package ngbak_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/ngbak/ngbak"
	"github.com/restic/chunker"
)

// TestDedupBoundaries: a chunk cut exactly where a file's data ends and the
// next tar header starts still reassembles, deduplicates and restores. The
// cut is forced: the chunker cuts where the last 64 bytes hash to its mark,
// whatever came before, so a file (of a multiple of 512 bytes) that ends in
// a window that made a cut in another stream ends a chunk.
func TestDedupBoundaries(t *testing.T) {
	ctx := context.Background()
	const avg = 64 << 10
	rng := rand.New(rand.NewPCG(11, 12))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	// A window that makes the unencrypted layout's chunker cut.
	probe := random(4 << 20)
	ch := chunker.NewWithBoundaries(bytes.NewReader(probe), chunker.Pol(0x3DA3358B4DC173), avg/4, avg*8)
	ch.SetAverageBits(16)
	c, err := ch.Next(nil)
	if err != nil || int(c.Length) == len(probe) {
		t.Fatalf("no cut in the probe: %v", err)
	}
	window := probe[c.Length-64 : c.Length]

	work := t.TempDir()
	a := append(random(3*avg-64), window...) // ends on a cut, a multiple of 512
	contents := map[string][]byte{"kv_store_a.json": a, "kv_store_b.json": random(5 * avg), "kv_store_c.json": random(700)}
	for name, data := range contents {
		os.WriteFile(filepath.Join(work, name), data, 0o644)
	}
	e := dedupEnv(t, ngbak.Options{Dedup: &ngbak.DedupOptions{AverageChunkSize: avg}}, newJSON(t, work))
	man := e.create(t)

	// Where the chunks end, from the chunk list.
	cuts := map[int64]bool{}
	var off int64
	for _, line := range strings.Split(string(mustRead(t, e.archivePath(man.ID))), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) == 2 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			off += n
			cuts[off] = true
		}
	}
	// Where the headers and data of the tar stream are.
	rc, err := e.m.Open(ctx, man.ID)
	if err != nil {
		t.Fatal(err)
	}
	zr, _ := zstd.NewReader(rc)
	tarStream, err := io.ReadAll(zr)
	zr.Close()
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	var atFileEnd bool
	for pos := int64(0); pos+512 <= int64(len(tarStream)); {
		hdr := tarStream[pos : pos+512]
		if bytes.Equal(hdr, make([]byte, 512)) {
			break
		}
		size, err := strconv.ParseInt(strings.TrimRight(strings.TrimSpace(string(hdr[124:136])), "\x00"), 8, 64)
		if err != nil {
			t.Fatalf("header at %d: %v", pos, err)
		}
		name := strings.TrimRight(string(hdr[:100]), "\x00")
		dataEnd := pos + 512 + size
		if strings.HasSuffix(name, "kv_store_a.json") {
			atFileEnd = cuts[dataEnd]
		}
		pos = pos + 512 + (size+511)/512*512
	}
	if !atFileEnd {
		t.Fatalf("no cut where kv_store_a.json ends (cuts %v)", cuts)
	}
	if err := e.m.Verify(ctx, man.ID); err != nil {
		t.Fatal(err)
	}
	// A second backup of the same files stores only what ends the stream.
	before, _ := chunkBytes(t, e.dir)
	e.create(t)
	if after, _ := chunkBytes(t, e.dir); after-before > 2 {
		t.Errorf("a second backup of the same files stored %d new chunks", after-before)
	}
	for name := range contents {
		os.Remove(filepath.Join(work, name))
	}
	if _, err := e.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for name := range contents {
		got[name] = mustRead(t, filepath.Join(work, name))
	}
	if diff := cmp.Diff(contents, got); diff != "" {
		t.Errorf("restored (-backup +restored):\n%s", diff)
	}
}
