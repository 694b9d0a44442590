package ngbak

import (
	"io"

	"github.com/klauspost/compress/zstd"
)

// The compressed stream of an archive is a sequence of zstd frames, as the
// zstd format allows (RFC 8878, section 3.1): data that compresses goes
// through the zstd encoder, and data that does not (float vectors, which
// fill a Qdrant snapshot; files a store compressed itself) is stored in raw
// blocks, as the encoder itself would end up storing it: on the float
// vectors of a real Qdrant snapshot it wrote 100.0% of the input, after a
// match search at 700 to 900 MB/s of one core's time, the largest cost of
// a snapshot Create on two cores (BenchmarkStreamCompressor,
// qdrantexp's BenchmarkSnapshot). Borg's "auto" compression decides in the
// same way, by a trial compression. Every zstd decoder (`zstd -d`,
// `tar --zstd`) reads the frames as one stream. Raw frames carry no
// checksum of their own: the archive's SHA-256 and the entries' cover them.

const (
	// segmentSize is the unit of the decision: the encoder's window at the
	// default level, so that nothing a match could have reached is lost
	// within a segment.
	segmentSize = 1 << 20
	// The first probeSlices*probeSlice bytes of a segment are compressed
	// as a trial, slice by slice; a segment whose slices compress to more
	// than rawThreshold percent of their size is stored raw.
	probeSlice   = 4 << 10
	probeSlices  = 4
	rawThreshold = 97
	// rawBlockSize is the largest raw block a zstd frame may hold
	// (Block_Maximum_Size).
	rawBlockSize = 128 << 10
)

// rawFrameHeader opens a frame of raw blocks: the magic number, a frame
// header descriptor without content size, checksum or dictionary, and a
// window of 128 KiB (Window_Descriptor exponent 7), the least that holds
// a block of rawBlockSize.
var rawFrameHeader = []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3}

// compressibility decides, by a trial, whether segments are worth
// compressing.
type compressibility struct {
	probe   *zstd.Encoder
	scratch []byte
}

func newCompressibility() (*compressibility, error) {
	probe, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), zstd.WithWindowSize(1<<20))
	if err != nil {
		return nil, err
	}
	return &compressibility{probe: probe, scratch: make([]byte, 0, 2*probeSlice)}, nil
}

// incompressible reports whether the zstd encoder at its fastest level
// shrinks the slices of probeSlice bytes of head by less than
// 100-rawThreshold percent together. Each slice is tried on its own (the
// encoder stores a block raw as a whole when most of it does not
// compress), and the trial stops as soon as the rest cannot make the
// whole incompressible. A head shorter than the sample is compressed: the
// archive's own small files end the stream.
func (c *compressibility) incompressible(head []byte) bool {
	const sample = probeSlice * probeSlices
	if len(head) < sample {
		return false
	}
	const frameOverhead = 16
	compressed := 0
	for i := range probeSlices {
		c.scratch = c.probe.EncodeAll(head[i*probeSlice:(i+1)*probeSlice], c.scratch[:0])
		compressed += len(c.scratch)
		if (compressed+(probeSlices-1-i)*(probeSlice+frameOverhead))*100 < sample*rawThreshold {
			return false
		}
	}
	return compressed*100 >= sample*rawThreshold
}

// streamCompressor is the archive's compressed stream. It decides for each
// segment of segmentSize bytes, by its first probeSlices*probeSlice bytes,
// whether the segment goes through the zstd encoder (whose frame stays open
// across consecutive compressed segments, so that matches cross them) or
// into a frame of raw blocks; after the decision the segment's bytes pass
// straight through. It holds the 16 KiB sample and a trial encoder besides
// the encoder's own buffers. A segment whose sample is vectors and whose
// rest is text is stored raw whole: at most one segment at such a border.
type streamCompressor struct {
	dst     io.Writer
	zw      *zstd.Encoder
	zstdOn  bool // zw has a frame open on dst
	rawOn   bool // a raw frame is open on dst
	c       *compressibility
	head    []byte // the current segment's first bytes, until decided
	decided bool
	raw     bool  // the decision
	left    int64 // bytes of the current segment not yet written
	err     error

	rawBytes, zstdBytes int64 // what went which way, for the tests
}

func newStreamCompressor(dst io.Writer, level int) (*streamCompressor, error) {
	zw, err := zstd.NewWriter(nil, encoderOptions(level)...)
	if err != nil {
		return nil, err
	}
	c, err := newCompressibility()
	if err != nil {
		zw.Close()
		return nil, err
	}
	return &streamCompressor{dst: dst, zw: zw, c: c, head: make([]byte, 0, probeSlice*probeSlices), left: segmentSize}, nil
}

func (s *streamCompressor) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 && s.err == nil {
		k := int(min(int64(len(p)), s.left))
		if !s.decided {
			k = min(k, cap(s.head)-len(s.head))
			s.head = append(s.head, p[:k]...)
			if len(s.head) == cap(s.head) || int64(k) == s.left {
				s.decide()
			}
		} else {
			s.err = s.emit(p[:k])
		}
		p, n, s.left = p[k:], n+k, s.left-int64(k)
		if s.left == 0 {
			s.decided, s.left = false, segmentSize
		}
	}
	return n, s.err
}

// decide makes the current segment's decision and writes its head.
func (s *streamCompressor) decide() {
	s.decided, s.raw = true, s.c.incompressible(s.head)
	s.err = s.emit(s.head)
	s.head = s.head[:0]
}

func (s *streamCompressor) emit(p []byte) error {
	if !s.raw {
		if s.rawOn {
			if err := s.endRaw(); err != nil {
				return err
			}
		}
		if !s.zstdOn {
			s.zw.Reset(s.dst)
			s.zstdOn = true
		}
		s.zstdBytes += int64(len(p))
		_, err := s.zw.Write(p)
		return err
	}
	if s.zstdOn {
		// Frames cannot interleave: the encoder's ends first.
		s.zstdOn = false
		if err := s.zw.Close(); err != nil {
			return err
		}
	}
	if !s.rawOn {
		if _, err := s.dst.Write(rawFrameHeader); err != nil {
			return err
		}
		s.rawOn = true
	}
	s.rawBytes += int64(len(p))
	for len(p) > 0 {
		n := min(len(p), rawBlockSize)
		if err := s.rawBlock(p[:n], false); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// rawBlock writes a raw block's header and content.
func (s *streamCompressor) rawBlock(p []byte, last bool) error {
	h := uint32(len(p)) << 3 // Block_Size; Block_Type 0 is Raw_Block
	if last {
		h |= 1 // Last_Block
	}
	if _, err := s.dst.Write([]byte{byte(h), byte(h >> 8), byte(h >> 16)}); err != nil {
		return err
	}
	_, err := s.dst.Write(p)
	return err
}

// endRaw ends the raw frame with an empty last block, as the zstd
// library's own encoder ends a frame whose last block it has written.
func (s *streamCompressor) endRaw() error {
	s.rawOn = false
	return s.rawBlock(nil, true)
}

// Close writes what is left and ends the last frame; it does not close dst.
func (s *streamCompressor) Close() error {
	if s.err == nil && !s.decided && (len(s.head) > 0 || !s.zstdOn && !s.rawOn) {
		// An empty stream is still one (empty) zstd frame.
		s.decide()
	}
	if s.err == nil && s.rawOn {
		s.err = s.endRaw()
	}
	if s.zstdOn {
		s.zstdOn = false
		if err := s.zw.Close(); s.err == nil {
			s.err = err
		}
	}
	return s.err
}

// abort stops the encoder's goroutines without writing more.
func (s *streamCompressor) abort() {
	s.zw.Reset(io.Discard)
	s.zw.Close()
}
