package ngbak

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// floatVectors is n bytes of float32s between -1 and 1, as an embedding
// store holds them.
func floatVectors(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]byte, 0, n)
	for len(out)+4 <= n {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(rng.Float32()*2-1))
	}
	return append(out, make([]byte, n-len(out))...)
}

// graphText is n bytes of JSON-like text, as a KV store or a payload holds.
func graphText(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 8))
	words := []string{"graph ", "entity ", "relation ", `{"content": `, "0.12345, ", "community ", "\"source_id\": \"chunk-"}
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
	}
	return []byte(b.String()[:n])
}

func TestCompressibility(t *testing.T) {
	c, err := newCompressibility()
	if err != nil {
		t.Fatal(err)
	}
	const sample = probeSlice * probeSlices
	random := make([]byte, sample)
	rand.NewChaCha8([32]byte{1}).Read(random)
	for _, tc := range []struct {
		name string
		head []byte
		raw  bool
	}{
		{"float vectors", floatVectors(1, sample), true},
		{"random bytes", random, true},
		{"text", graphText(1, sample), false},
		{"zeros", make([]byte, sample), false},
		// Text in one slice of the sample is enough to compress.
		{"vectors then text", append(floatVectors(2, sample-probeSlice), graphText(2, probeSlice)...), false},
		{"text then vectors", append(graphText(3, probeSlice), floatVectors(3, sample-probeSlice)...), false},
		{"short random head", random[:sample-1], false},
	} {
		if got := c.incompressible(tc.head); got != tc.raw {
			t.Errorf("%s: incompressible = %v, want %v", tc.name, got, tc.raw)
		}
	}
}

// A stream of text and vectors in turns decodes to what was written, the
// vectors stored raw and the text compressed, in writes of odd sizes.
func TestStreamCompressorRoundTrip(t *testing.T) {
	var in []byte
	parts := [][]byte{graphText(1, 2<<20), floatVectors(1, 3<<20), graphText(2, segmentSize/2), floatVectors(2, 3*segmentSize/2+17), graphText(3, 300)}
	for _, p := range parts {
		in = append(in, p...)
	}
	for _, level := range []int{1, 3, 9} {
		var out bytes.Buffer
		s, err := newStreamCompressor(&out, level)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		for rest := in; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(300<<10))
			if _, err := s.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		got := decodeAll(t, out.Bytes())
		if !bytes.Equal(got, in) {
			t.Fatalf("level %d: decoded %d bytes, which differ from the %d written", level, len(got), len(in))
		}
		// The segments are cut at fixed offsets of the stream, so a
		// segment where vectors and text meet is compressed: at least the
		// whole segments of vectors are raw.
		if s.rawBytes < 3<<20 {
			t.Errorf("level %d: %d bytes stored raw, want at least the 3 MiB of whole vector segments", level, s.rawBytes)
		}
		vectors := int64(len(parts[1]) + len(parts[3]))
		if limit := vectors + int64(len(in))/20; int64(out.Len()) > limit {
			t.Errorf("level %d: %d bytes compressed, want at most %d (the vectors and 5%% for the text)", level, out.Len(), limit)
		}
	}
}

func TestStreamCompressorEmpty(t *testing.T) {
	var out bytes.Buffer
	s, err := newStreamCompressor(&out, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if out.Len() == 0 {
		t.Fatal("an empty stream wrote no frame")
	}
	if got := decodeAll(t, out.Bytes()); len(got) != 0 {
		t.Fatalf("decoded %d bytes from an empty stream", len(got))
	}
}

// Vectors of every length around a raw block's and a segment's decode to
// what was written, and are stored raw but for a last short head.
func TestStreamCompressorRawFrames(t *testing.T) {
	const sample = probeSlice * probeSlices
	data := floatVectors(5, 3*segmentSize+sample)
	for _, n := range []int{sample, rawBlockSize - 1, rawBlockSize, rawBlockSize + 1, segmentSize, segmentSize + 1, segmentSize + sample, len(data)} {
		var out bytes.Buffer
		s, err := newStreamCompressor(&out, 3)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got := decodeAll(t, out.Bytes()); !bytes.Equal(got, data[:n]) {
			t.Fatalf("%d bytes: decoded %d bytes that differ", n, len(got))
		}
		want := int64(n)
		if tail := n % segmentSize; tail > 0 && tail < sample {
			want -= int64(tail) // a head too short to try is compressed
		}
		if s.rawBytes != want {
			t.Fatalf("%d bytes: %d stored raw, want %d", n, s.rawBytes, want)
		}
	}
}

func decodeAll(t *testing.T, stream []byte) []byte {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(stream), zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxWindow(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("decoding: %v", err)
	}
	return got
}

// BenchmarkStreamCompressor compresses 64 MiB of float vectors and 64 MiB
// of text the way Create does, beside the zstd encoder alone, reporting
// MB/s and the compressed size in percent of the input:
//
//	go test -run '^$' -bench BenchmarkStreamCompressor -count 5 .
func BenchmarkStreamCompressor(b *testing.B) {
	for _, data := range []struct {
		name string
		data []byte
	}{{"vectors", floatVectors(1, 64<<20)}, {"text", graphText(1, 64<<20)}} {
		for _, enc := range []struct {
			name string
			new  func(w io.Writer) (io.WriteCloser, error)
		}{
			{"Create", func(w io.Writer) (io.WriteCloser, error) { return newStreamCompressor(w, 3) }},
			{"zstd", func(w io.Writer) (io.WriteCloser, error) { return zstd.NewWriter(w, encoderOptions(3)...) }},
		} {
			b.Run(data.name+"/"+enc.name, func(b *testing.B) {
				b.SetBytes(int64(len(data.data)))
				var out countingWriter
				for b.Loop() {
					out = 0
					zw, err := enc.new(&out)
					if err != nil {
						b.Fatal(err)
					}
					for off := 0; off < len(data.data); off += 256 << 10 {
						if _, err := zw.Write(data.data[off : off+256<<10]); err != nil {
							b.Fatal(err)
						}
					}
					if err := zw.Close(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(out)*100/float64(len(data.data)), "size-%")
			})
		}
	}
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
