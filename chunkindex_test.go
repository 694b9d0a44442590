package ngbak

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzChunkList feeds arbitrary bytes to the chunk list reader, as a
// sweep, a check and a restore do. It must never panic, must refuse what
// is not a complete list with ErrCorrupt, and a list it accepts must be
// byte for byte what the writer makes of the chunks read (a version 1
// list up to its first line, the writer writing version 2): one list, one
// meaning. The sum the reader reports is that of the bytes it accepted,
// and the writer's that of the bytes it wrote: the sidecar holds it. The
// seed corpus in testdata/fuzz holds valid and hostile lists of both
// versions.
func FuzzChunkList(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := newChunkListReader(bytes.NewReader(data), 1<<20)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error of no known kind: %v", err)
			}
			return
		}
		var refs []chunkRef
		for {
			c, err := l.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error of no known kind: %v", err)
				}
				return
			}
			refs = append(refs, c)
		}
		var buf bytes.Buffer
		w, _ := newChunkListWriter(&buf, l.sealed)
		for _, c := range refs {
			w.add(c)
		}
		w.close()
		want := data
		if l.version == 1 {
			want = append([]byte(chunkListMagic), data[len(chunkListMagicV1):]...)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("accepted a list that is not the writer's:\n%q\nwriter:\n%q", data, buf.Bytes())
		}
		if sum, n := l.sum(); sum != sha256Hex(data) || n != int64(len(data)) {
			t.Fatalf("reader's sum %s of %d bytes, want %s of %d", sum, n, sha256Hex(data), len(data))
		}
		if sum, n := w.sum(); sum != sha256Hex(buf.Bytes()) || n != int64(buf.Len()) {
			t.Fatalf("writer's sum %s of %d bytes, want %s of %d", sum, n, sha256Hex(buf.Bytes()), buf.Len())
		}
	})
}

func TestChunkListRoundTrip(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		var buf bytes.Buffer
		w, _ := newChunkListWriter(&buf, sealed)
		want := []chunkRef{{ID: [32]byte{1}, Size: 10, Sealed: sealed}, {ID: [32]byte{0xff, 2}, Size: 1 << 20, Sealed: sealed}}
		for _, c := range want {
			w.add(c)
		}
		w.close()
		l, err := newChunkListReader(&buf, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var got []chunkRef
		for {
			c, err := l.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, c)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Error(diff)
		}
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestPlainPolynomial: the fixed polynomial is one the chunker accepts.
func TestPlainPolynomial(t *testing.T) {
	if !plainPol.Irreducible() {
		t.Fatal("plainPol is reducible")
	}
}
