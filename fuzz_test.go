package ngbak

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzReadArchive feeds arbitrary bytes to the archive reader, as Import
// does. It must never panic, and must either refuse the input with one of
// the package's errors or accept an archive whose manifest lists exactly
// the entries read. The seed corpus in testdata/fuzz holds a valid archive
// and hostile variants of it.
func FuzzReadArchive(f *testing.F) {
	limits := Limits{MaxEntries: 64, MaxEntrySize: 1 << 20, MaxTotalSize: 4 << 20, MaxWindow: 8 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		ar, err := newArchiveReader(context.Background(), bytes.NewReader(data), limits, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ar.close()
		var read []File
		for {
			fl, body, err := ar.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrIncompatible) {
					t.Fatalf("error of no known kind: %v", err)
				}
				return
			}
			n, err := io.Copy(io.Discard, body)
			if err != nil {
				return
			}
			if n != fl.Size {
				t.Fatalf("%s: read %d bytes, header says %d", fl.Path, n, fl.Size)
			}
			read = append(read, fl)
		}
		if ar.manifest == nil {
			t.Fatal("accepted without a manifest")
		}
		var paths []string
		for _, fl := range read {
			paths = append(paths, fl.Path)
		}
		var listed []string
		for _, fl := range ar.manifest.files() {
			listed = append(listed, fl.Path)
		}
		if diff := cmp.Diff(listed, paths); diff != "" {
			t.Fatalf("accepted archive: manifest and entries differ:\n%s", diff)
		}
	})
}

// FuzzParseManifest: ParseManifest never panics, and what it accepts is
// valid and survives its own round trip.
func FuzzParseManifest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrIncompatible) {
				t.Fatalf("error of no known kind: %v", err)
			}
			return
		}
		if err := m.validate(); err != nil {
			t.Fatalf("accepted an invalid manifest: %v", err)
		}
		b, err := m.marshal()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseManifest(b)
		if err != nil {
			t.Fatalf("its own output is refused: %v\n%s", err, b)
		}
		if diff := cmp.Diff(m, m2); diff != "" {
			t.Fatalf("round trip changed the manifest:\n%s", diff)
		}
	})
}

// FuzzSidecarSum: the .sha256 sidecar parser never panics and accepts only
// a line it would have written.
func FuzzSidecarSum(f *testing.F) {
	const id = "20261121T224015.123Z-3f9a2c"
	f.Fuzz(func(t *testing.T, data []byte) {
		sum, err := parseSidecarSum(id, data)
		if err != nil {
			return
		}
		got := sidecarSum(id, sum)
		if !bytes.Equal(got, data) && !bytes.Equal(got, append(bytes.Clone(data), '\n')) {
			t.Fatalf("accepted %q, which is not %q", data, got)
		}
	})
}
